"""Blocked terms: case-insensitive, whole words, ``*`` matches any run of word characters.

``"spam*"`` blocks "spam" and "SPAMMER"; ``"*coin"`` blocks "bitcoin"; ``"f*ck"`` blocks
"fuck" and "FCK"; ``"free money"`` blocks that phrase. "class" is not blocked by "ass":
a term must stand as a whole word (not preceded or followed by a word character).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_TERMS = 200
MAX_TERM_LEN = 100


def normalize_terms(terms: Iterable[str]) -> tuple[str, ...]:
    """Trim, drop empties and duplicates (case-insensitively), keep order."""
    seen: set[str] = set()
    out: list[str] = []
    for raw in terms:
        term = " ".join(raw.split())
        if term and term.casefold() not in seen and term.strip("*"):
            seen.add(term.casefold())
            out.append(term)
    return tuple(out)


def _pattern(term: str) -> str:
    return r"\w*".join(re.escape(part) for part in term.casefold().split("*"))


def compile_terms(terms: Iterable[str]) -> re.Pattern[str] | None:
    """One regex for all terms, or ``None`` when there are none."""
    parts = [_pattern(t) for t in terms]
    if not parts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


def find_blocked(pattern: re.Pattern[str] | None, text: str) -> str | None:
    """The first blocked term found in ``text`` (as written there), or ``None``."""
    if pattern is None:
        return None
    match = pattern.search(text.casefold())
    return match.group(0) if match else None
