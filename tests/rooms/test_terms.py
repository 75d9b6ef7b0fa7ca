"""Blocked terms: the linear matcher against the regex it replaced, adversarial terms, bounds."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms import terms as T
from rooms.errors import BadField
from rooms.moderation import RoomSettings
from rooms.protocol import RoomSettingsOp
from rooms.terms import Steps, TermError, check_terms, compile_terms, find_blocked, normalize_terms


def reference(terms: tuple[str, ...], text: str) -> str | None:
    """The old backtracking regex: the documented semantics, fine on small inputs."""
    if not terms:
        return None
    parts = [r"\w*".join(re.escape(p) for p in t.casefold().split("*")) for t in terms]
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)
    match = pattern.search(text.casefold())
    return match.group(0) if match else None


ALPHABET = "abAB _.!*"
small_terms = st.lists(st.text(ALPHABET, min_size=1, max_size=6), max_size=5)
small_text = st.text("abAB _.!x", max_size=30)


@given(small_terms, small_text)
def test_same_answers_as_the_reference_regex(raw: list[str], text: str) -> None:
    terms = normalize_terms(raw)
    hit = find_blocked(compile_terms(terms), text)
    assert (hit is None) == (reference(terms, text) is None)
    if hit is not None:  # the term named really is in the text
        assert hit in terms and reference((hit,), text) is not None


@pytest.mark.parametrize(
    ("terms", "text", "hit"),
    [
        (["*.net"], "asp.net rocks", "*.net"),
        (["*.net"], "learn .net today", "*.net"),
        (["*.net"], "x.netty", None),
        (["* money"], "free money", "* money"),
        (["a.*.b"], "a..b", "a.*.b"),
        (["a.*.b"], "a.x.b", "a.*.b"),
        (["a.*.b"], "a.x.y.b", None),
        (["c++"], "I like c++!", "c++"),
        (["c++"], "abc++", None),
        (["F*ck"], "oh FUCK", "F*ck"),
        (["*a*b*"], "xaxbx", "*a*b*"),
        (["*a*b*"], "xbxax", None),
        (["sp*am"], "spam", "sp*am"),
        (["aa*aa"], "aaa", None),
        (["Straße"], "STRASSE", "Straße"),
        (["free money", "money"], "free money", "free money"),
        (["spam", "ham"], "ham and spam", "ham"),
    ],
)
def test_semantics_at_the_edges(terms: list[str], text: str, hit: str | None) -> None:
    normalized = normalize_terms(terms)
    assert find_blocked(compile_terms(normalized), text) == hit
    assert (reference(normalized, text) is None) == (hit is None)


def adversarial_terms() -> tuple[str, ...]:
    """The most the bounds allow: the widest NFA, every '*' allowed, many plain words."""
    patterns, size, i = [], 0, 0
    while size + 20 <= T.MAX_PATTERN_CHARS and len(patterns) < T.MAX_TERMS // 2:
        term = f"*a*a*a*{chr(0x3B1 + i % 20)}{i} a.a"[:20]
        patterns.append(term)
        size, i = size + len(term), i + 1
    words = [f"{'a' * (1 + i % 40)}{i}" for i in range(T.MAX_TERMS - len(patterns))]
    terms = normalize_terms(patterns + words)
    check_terms(terms)
    return terms


MESSAGES = {
    "one word": "a" * 500,
    "many words": "a " * 250,
    "punctuation": "a." * 250,
    "mixed": ("aaaa a.a " * 60)[:499] + "!",
}


@pytest.mark.parametrize("shape", MESSAGES)
def test_adversarial_terms_on_500_characters(shape: str) -> None:
    matcher = compile_terms(adversarial_terms())
    steps = Steps()
    assert find_blocked(matcher, MESSAGES[shape], steps) is None
    # One NFA transition per character, one look-up per word: nothing is read twice.
    assert steps.transitions == len(MESSAGES[shape])
    assert steps.lookups <= len(MESSAGES[shape])


@pytest.mark.parametrize("shape", MESSAGES)
def test_work_grows_linearly_with_the_message(shape: str) -> None:
    matcher = compile_terms(adversarial_terms())
    counted = []
    for repeat in (1, 2, 4, 8):
        steps = Steps()
        find_blocked(matcher, MESSAGES[shape] * repeat, steps)
        counted.append(steps.transitions + steps.lookups)
    assert counted == [counted[0] * r for r in (1, 2, 4, 8)] or all(
        c <= counted[0] * r + r for c, r in zip(counted, (1, 2, 4, 8), strict=True)
    )
    assert matcher is not None and matcher.nfa.width <= T.MAX_PATTERN_CHARS


def test_a_hit_among_adversarial_terms_is_still_found() -> None:
    terms = adversarial_terms()
    matcher = compile_terms(terms)
    assert find_blocked(matcher, "a" * 400 + " xaxayaα0 a.a tail") == terms[0]
    assert find_blocked(matcher, "x aaaaaaaa7 y") == "aaaaaaaa7"


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ([f"t{i}" for i in range(T.MAX_TERMS + 1)], f"at most {T.MAX_TERMS} blocked terms"),
        (["x" * (T.MAX_TERM_LEN + 1)], f"longer than {T.MAX_TERM_LEN} characters"),
        (["*a*a*a*a*"], f"more than {T.MAX_STARS} '*'"),
        (
            [f"w{i:03}*.{'x' * 80}" for i in range(T.MAX_PATTERN_CHARS // 80)],
            f"at most {T.MAX_PATTERN_CHARS} characters in all",
        ),
    ],
)
def test_bounds_are_refused_where_terms_are_set(terms: list[str], message: str) -> None:
    with pytest.raises(TermError, match=re.escape(message)):
        check_terms(normalize_terms(terms))
    with pytest.raises(BadField, match=re.escape(message)) as info:
        RoomSettings().updated(RoomSettingsOp(blocked_terms=tuple(terms)), client_id=3)
    assert info.value.code == "bad_terms" and info.value.client_id == 3


def test_stored_terms_out_of_bounds_are_dropped_not_the_settings() -> None:
    stored = {"slow_mode_s": 5, "blocked_terms": ["ok", "*a*a*a*a*a*", "fine*"]}
    assert RoomSettings.parse(stored) == RoomSettings(5, "everyone", ("ok", "fine*"))
