"""Text from users, Sans-I/O: only Unicode scalar values get in, and nothing invisible
that changes how other people's text reads.

JSON's ``\\ud800`` escape (and ``json.loads`` of bytes, which decodes with
``surrogatepass``) yields a ``str`` holding a lone surrogate. Python carries it happily
until the moment it must be encoded as UTF-8 for a socket, a database or Redis, and then
fails for every reader. ``has_lone_surrogate`` finds one anywhere in a decoded JSON or
MessagePack value (keys too), so the parsers can refuse the frame or body at once.

``clean_text`` strips (rather than refuses) the invisible characters that spoof or hide
text shown to other users: bidirectional embeddings, overrides and isolates (U+202A to
U+202E, U+2066 to U+2069: one unclosed RLO turns the rest of a line around), bidi marks,
zero-width spaces, word joiners, the BOM, soft hyphens and Hangul fillers. Stripping,
because the sender cannot see them either: a refusal naming characters nobody can see
helps no one, pasted text often carries a stray one, and what is left is exactly what
the reader would have seen anyway. The two joiners (U+200C, U+200D) are kept only between
two visible characters, where emoji sequences and Persian and Indic spelling need them;
``matching_text`` drops them too, so "sp<ZWJ>am" is still a blocked "spam".
"""

from __future__ import annotations

import re
from typing import Any

INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e"
    "\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u3164\ufeff\uffa0"
)
"""Always stripped: bidi controls and marks, zero-width and other invisible characters."""
JOINERS = "\u200c\u200d"

_INVISIBLE = re.compile(f"[{INVISIBLE}]+")
_STRAY_JOINERS = re.compile(f"(?:^|(?<=\\s))[{JOINERS}]+|[{JOINERS}]+(?=\\s|$)")
_REPEATED_JOINERS = re.compile(f"[{JOINERS}]{{2,}}")
_ALL_INVISIBLE = re.compile(f"[{INVISIBLE}{JOINERS}]+")


def clean_text(value: str) -> str:
    """``value`` without invisible controls; joiners stay only between visible characters.

    Every pattern here is a plain character class: one pass, no backtracking."""
    if value.isascii():
        return value
    value = _INVISIBLE.sub("", value)
    if "\u200c" in value or "\u200d" in value:
        value = _REPEATED_JOINERS.sub(lambda m: m.group()[0], value)
        value = _STRAY_JOINERS.sub("", value)
    return value


def matching_text(value: str) -> str:
    """What blocked terms are matched against: every invisible character gone."""
    return value if value.isascii() else _ALL_INVISIBLE.sub("", value)


def is_scalar_text(value: str) -> bool:
    """True when ``value`` is made of Unicode scalar values only (it encodes as UTF-8)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def has_lone_surrogate(value: Any) -> bool:
    """Whether any string in a decoded JSON/MessagePack value is not scalar text.

    Iterative, so a deeply nested value cannot exhaust the stack."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not is_scalar_text(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False
