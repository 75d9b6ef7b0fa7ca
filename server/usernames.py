"""Usernames: the allowed form, and the confusables keys that keep look-alikes apart.

A username is 3 to 32 of ``[A-Za-z0-9_.-]``. Two usernames may not look alike. A name's
**keys** are UTS #39 skeletons (Unicode confusables.txt, computed by ICU's
``SpoofChecker.getSkeleton``; https://www.unicode.org/reports/tr39/#def-skeleton) of the name
as typed, in lower case, in upper case, and of its skeleton in lower case (so a look-alike
and a case change together, ``AIice`` for ``Alice``, still count). Two names conflict when
they share a key: ``aIice`` (capital i), ``AIice``, ``ALlCE``, ``b0b`` (zero), ``rnoney``
and ``wiII`` meet ``alice``, ``bob``, ``money`` and ``will``, and every case variant meets
its name (same upper case), while ``nail`` and ``nall`` stay apart. The price: a capital I
counts as an l, so ``NAIL`` meets ``nall``. Keys live in ``username_keys`` under a unique
index: the sign-up check is one indexed lookup, and two look-alikes signing up at the same
moment cannot both win.
"""

from __future__ import annotations

import re

import icu

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,32}$")
_checker = icu.SpoofChecker()


def skeleton(text: str) -> str:
    """The UTS #39 skeleton of ``text``."""
    return str(_checker.getSkeleton(0, text))


def confusables_keys(name: str) -> list[str]:
    """The keys stored for ``name``, sorted: no two users share one."""
    typed = skeleton(name)
    return sorted({typed, skeleton(name.lower()), skeleton(name.upper()), skeleton(typed.lower())})
