"""Blocked terms: case-insensitive, whole words, ``*`` matches any run of word characters.

``"spam*"`` blocks "spam" and "SPAMMER"; ``"*coin"`` blocks "bitcoin"; ``"f*ck"`` blocks
"fuck" and "FCK"; ``"free money"`` blocks that phrase. "class" is not blocked by "ass":
a term must stand as a whole word (not preceded or followed by a word character).

Anyone may create a room, so terms come from untrusted owners, and they run on the event
loop for every chat message: the matcher must take time linear in the message whatever
the terms are (a backtracking regex took seconds for ``a*a*a*b`` and one long word).
Both paths below read each character of the (casefolded) message a bounded number of
times and never go back:

- a plain word term (word characters only, the usual case) is one set look-up per word
  of the message;
- every other term (phrases, ``*``, punctuation) is a state of one bit-parallel NFA
  (Shift-And, Baeza-Yates and Gonnet 1992): bit ``p`` set means "the first ``p + 1``
  literal characters of some term end here". One character is one transition, a fixed
  handful of integer operations on at most ``MAX_PATTERN_CHARS`` bits. ``*`` (any run of
  word characters, never across a non-word one) is a self-loop on the literal before
  it, taken on word characters only. Word boundaries are checked on the characters next
  to a match, which the scan has at hand. A leading ``*`` removes the boundary before
  the term (``(?<!\\w)\\w*`` can always reach back to where the word began), a trailing
  one the boundary after it.

Bounds, refused where terms are set (``check_terms``) and applied to stored ones
(``within_bounds``): ``MAX_TERMS`` terms of at most ``MAX_TERM_LEN`` characters, at most
``MAX_STARS`` ``*`` each, at most ``MAX_PATTERN_CHARS`` characters of non-plain terms.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

MAX_TERMS = 200
MAX_TERM_LEN = 100
MAX_STARS = 4
MAX_PATTERN_CHARS = 4000
"""Characters of all terms that are not plain words: the width of the NFA's state."""

_WORD = re.compile(r"\w+")
"""One maximal run of word characters: a single pass (it cannot give back what it took)."""


class TermError(ValueError):
    """A list of terms outside the bounds; the message says which bound."""


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


def is_plain(term: str) -> bool:
    """A term of word characters only: matched by a set look-up, not by the NFA."""
    return _WORD.fullmatch(term.casefold()) is not None


def term_problem(term: str) -> str | None:
    """Why a single (normalized) term is out of bounds, or ``None``."""
    if len(term) > MAX_TERM_LEN:
        return f"blocked term {term[:20]!r}... is longer than {MAX_TERM_LEN} characters"
    if term.count("*") > MAX_STARS:
        return f"blocked term {term!r} has more than {MAX_STARS} '*'"
    return None


def check_terms(terms: Sequence[str]) -> None:
    """Raise ``TermError`` when normalized ``terms`` are outside the bounds."""
    if len(terms) > MAX_TERMS:
        raise TermError(f"at most {MAX_TERMS} blocked terms")
    for term in terms:
        problem = term_problem(term)
        if problem is not None:
            raise TermError(problem)
    if sum(len(t) for t in terms if not is_plain(t)) > MAX_PATTERN_CHARS:
        raise TermError(
            f"blocked phrases and terms with '*' or punctuation may have at most "
            f"{MAX_PATTERN_CHARS} characters in all"
        )


def within_bounds(terms: Sequence[str]) -> tuple[str, ...]:
    """The terms that fit the bounds, in order (for stored or replicated settings)."""
    out: list[str] = []
    pattern_chars = 0
    for term in terms:
        if len(out) >= MAX_TERMS or term_problem(term) is not None:
            continue
        if not is_plain(term):
            if pattern_chars + len(term) > MAX_PATTERN_CHARS:
                continue
            pattern_chars += len(term)
        out.append(term)
    return tuple(out)


# --- the NFA -----------------------------------------------------------------------------


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"  # what ``\w`` means for str patterns


@dataclass
class _Nfa:
    """The bit masks of the Shift-And automaton for the non-plain terms."""

    chars: dict[str, int] = field(default_factory=dict)
    """For each character, the literal positions that read it."""
    loop: int = 0
    """Positions followed by ``*``: they stay set while word characters come."""
    not_first: int = -1
    init_bounded: int = 0
    """First positions of terms that must start at a word boundary."""
    init_free: int = 0
    """First positions of terms with a leading ``*``."""
    last_bounded: int = 0
    last_free: int = 0
    """Last positions of terms with a trailing ``*`` (no boundary needed after them)."""
    offsets: list[int] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    width: int = 0

    def add(self, term: str) -> None:
        folded = re.sub(r"\*+", "*", term.casefold())
        literals = folded.replace("*", "")
        if not literals:
            return  # only stars: matches nothing visible (normalize_terms drops these)
        base = self.width
        self.offsets.append(base)
        self.terms.append(term)
        p = base - 1
        for char in folded:
            if char == "*":
                if p >= base:
                    self.loop |= 1 << p
                continue
            p += 1
            self.chars[char] = self.chars.get(char, 0) | 1 << p
        first, last = 1 << base, 1 << p
        self.loop &= ~last  # a trailing star needs no loop: the match is complete
        self.not_first &= ~first
        if folded.startswith("*"):
            self.init_free |= first
        else:
            self.init_bounded |= first
        if folded.endswith("*"):
            self.last_free |= last
        else:
            self.last_bounded |= last
        self.width = p + 1

    def term_at(self, bit: int) -> str:
        return self.terms[bisect.bisect_right(self.offsets, bit) - 1]


@dataclass
class Steps:
    """The matcher's work: NFA transitions (one per character) and word look-ups."""

    transitions: int = 0
    lookups: int = 0


@dataclass(frozen=True)
class Hit:
    term: str
    end: int
    """Index just after the last character of the match in the casefolded text."""


class TermMatcher:
    """All of a room's terms, compiled once when the settings change."""

    def __init__(self, terms: Iterable[str]) -> None:
        self.terms = tuple(terms)
        self.plain: dict[str, str] = {}
        self.nfa = _Nfa()
        for term in self.terms:
            if is_plain(term):
                self.plain.setdefault(term.casefold(), term)
            else:
                self.nfa.add(term)

    def find(self, text: str, steps: Steps | None = None) -> str | None:
        """The blocked term (as the owner wrote it) whose match is complete first as
        the message is read, or ``None``."""
        folded = text.casefold()
        hit = self._plain_hit(folded, steps)
        limit = len(folded) if hit is None else hit.end
        nfa_hit = self._nfa_hit(folded, limit, steps) if self.nfa.width else None
        if nfa_hit is not None and (hit is None or nfa_hit.end <= hit.end):
            return nfa_hit.term
        return hit.term if hit is not None else None

    def _plain_hit(self, folded: str, steps: Steps | None) -> Hit | None:
        plain = self.plain
        if not plain:
            return None
        words = _WORD.findall(folded)
        if steps is not None:
            steps.lookups += len(words)
        if plain.keys().isdisjoint(words):
            return None
        for match in _WORD.finditer(folded):
            term = plain.get(match.group())
            if term is not None:
                return Hit(term, match.end())
        return None  # pragma: no cover (isdisjoint said there is one)

    def _nfa_hit(self, folded: str, limit: int, steps: Steps | None) -> Hit | None:
        """Scan ``folded[:limit]`` (a match must end there) one transition per character."""
        nfa = self.nfa
        chars, loop, not_first = nfa.chars, nfa.loop, nfa.not_first
        init_bounded, init_free = nfa.init_bounded, nfa.init_free
        last_bounded, last_free = nfa.last_bounded, nfa.last_free
        n = len(folded)
        state = 0
        word_before = False
        for x in range(limit):
            char = folded[x]
            word = _is_word(char)
            start = init_free if word_before else init_free | init_bounded
            state = ((state << 1) & not_first | start) & chars.get(char, 0) | (
                state & loop if word else 0
            )
            word_before = word
            if state:
                done = state & (
                    last_free if x + 1 < n and _is_word(folded[x + 1]) else last_free | last_bounded
                )
                if done:
                    if steps is not None:
                        steps.transitions += x + 1
                    return Hit(nfa.term_at((done & -done).bit_length() - 1), x + 1)
        if steps is not None:
            steps.transitions += limit
        return None


def compile_terms(terms: Iterable[str]) -> TermMatcher | None:
    """One matcher for all (normalized, bounded) terms, or ``None`` when there are none."""
    kept = tuple(terms)
    return TermMatcher(kept) if kept else None


def find_blocked(matcher: TermMatcher | None, text: str, steps: Steps | None = None) -> str | None:
    """The blocked term found in ``text`` (as the owner wrote it), or ``None``."""
    if matcher is None:
        return None
    return matcher.find(text, steps)
