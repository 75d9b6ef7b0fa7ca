"""Which passwords we refuse at sign-up, beyond their length.

- Passwords with nothing visible in them: only spaces, control or format characters
  (zero-width spaces and joiners, bidirectional marks), lone combining marks, or the
  blank "filler" letters that render as nothing (Hangul fillers, the blank Braille pattern).
- The most common passwords: the 30,000 of zxcvbn's ranked ``passwords`` frequency list
  (the list Dropbox's zxcvbn estimator is built on, shipped in the ``zxcvbn`` package),
  compared after dropping invisible characters, NFKC and case folding, so ``Password1``
  and ``pass\u200bword1`` count as ``password1``.
"""

from __future__ import annotations

import unicodedata

from zxcvbn.frequency_lists import FREQUENCY_LISTS

COMMON_PASSWORDS = frozenset(FREQUENCY_LISTS["passwords"])
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Cn", "Mn", "Me"})
# Letters and symbols that are assigned a visible category but render blank.
_BLANK_GLYPHS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u17b4\u17b5")


def invisible(ch: str) -> bool:
    return ch in _BLANK_GLYPHS or unicodedata.category(ch) in _INVISIBLE_CATEGORIES


def canonical(password: str) -> str:
    visible = "".join(ch for ch in password if not invisible(ch))
    return unicodedata.normalize("NFKC", visible).casefold()


def refusal(password: str) -> tuple[str, str] | None:
    """(error code, message) when this password may not be used, else None."""
    if all(invisible(ch) for ch in password):
        return "blank_password", "password: it must have visible characters, not only spaces or invisible ones"
    if canonical(password) in COMMON_PASSWORDS:
        return "common_password", "password: that is one of the most common passwords and easy to guess; choose another"
    return None
