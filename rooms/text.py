"""Text from users, Sans-I/O: only Unicode scalar values get in.

JSON's ``\\ud800`` escape (and ``json.loads`` of bytes, which decodes with
``surrogatepass``) yields a ``str`` holding a lone surrogate. Python carries it happily
until the moment it must be encoded as UTF-8 for a socket, a database or Redis, and then
fails for every reader. ``has_lone_surrogate`` finds one anywhere in a decoded JSON or
MessagePack value (keys too), so the parsers can refuse the frame or body at once.
"""

from __future__ import annotations

from typing import Any


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
