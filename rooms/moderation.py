"""Room settings and moderation flags (bans, timeouts), Sans-I/O.

Settings: ``slow_mode_s`` is 0 (off) or 3 to 120 seconds and applies to fans only;
``chat`` is ``"everyone"`` (everyone the gate lets chat) or ``"signed_in"`` (additionally
never guests, even if a future gate lets guests chat); ``blocked_terms`` see terms.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from rooms.errors import BadField, BadTerms
from rooms.protocol import RoomSettingsOp
from rooms.terms import (
    TermError,
    TermMatcher,
    check_terms,
    compile_terms,
    normalize_terms,
    within_bounds,
)

CHAT_MODES = ("everyone", "signed_in")
SLOW_MODE_MIN_S = 3
SLOW_MODE_MAX_S = 120
MAX_TIMEOUT_S = 7 * 24 * 3600


@dataclass(frozen=True)
class RoomSettings:
    slow_mode_s: int = 0
    chat: str = "everyone"
    blocked_terms: tuple[str, ...] = ()

    def serialize(self) -> dict[str, Any]:
        return {
            "slow_mode_s": self.slow_mode_s,
            "chat": self.chat,
            "blocked_terms": list(self.blocked_terms),
        }

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> RoomSettings:
        """Read stored settings; unknown keys are ignored, bad values fall back to defaults.

        Terms outside today's bounds (stored before them, or a hand-made publish) are
        dropped one by one, so the room keeps the rest of its settings."""
        terms = raw.get("blocked_terms")
        if isinstance(terms, list) and all(isinstance(t, str) for t in terms):
            kept: tuple[str, ...] | None = within_bounds(normalize_terms(terms))
        else:
            kept = None
        try:
            return cls().updated(RoomSettingsOp(raw.get("slow_mode_s"), raw.get("chat"), kept))
        except BadField:
            return cls()

    def updated(self, op: RoomSettingsOp, client_id: Any = None) -> RoomSettings:
        """Validate a partial update; raise ``BadField`` saying what is out of range."""
        new = self
        if op.slow_mode_s is not None:
            s = op.slow_mode_s
            if not isinstance(s, int) or s != 0 and not SLOW_MODE_MIN_S <= s <= SLOW_MODE_MAX_S:
                raise BadField(
                    f"slow_mode_s must be 0 or {SLOW_MODE_MIN_S} to {SLOW_MODE_MAX_S}", client_id
                )
            new = replace(new, slow_mode_s=s)
        if op.chat is not None:
            if op.chat not in CHAT_MODES:
                raise BadField(f"chat must be one of {', '.join(CHAT_MODES)}", client_id)
            new = replace(new, chat=op.chat)
        if op.blocked_terms is not None:
            terms = normalize_terms(op.blocked_terms)
            try:
                check_terms(terms)
            except TermError as exc:
                raise BadTerms(str(exc), client_id) from None
            new = replace(new, blocked_terms=terms)
        return new

    def terms_pattern(self) -> TermMatcher | None:
        return compile_terms(self.blocked_terms)


class Moderation:
    """Bans and timeouts (both durable: loaded from the store with the room, changed
    through events; a timeout is its expiry, epoch seconds)."""

    def __init__(
        self, banned: set[int] | None = None, timeouts: dict[int, float] | None = None
    ) -> None:
        self.banned: set[int] = set(banned or ())
        self.timeouts: dict[int, float] = dict(timeouts or {})

    def is_banned(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.banned

    def timed_out_until(self, user_id: int | None, now: float) -> float | None:
        if user_id is None:
            return None
        until = self.timeouts.get(user_id)
        if until is None:
            return None
        if until <= now:
            del self.timeouts[user_id]
            return None
        return until

    def apply_notice(self, data: dict[str, Any]) -> None:
        action = data.get("action")
        user_id = data.get("user_id")
        if not isinstance(user_id, int):
            return
        if action == "ban":
            self.banned.add(user_id)
            self.timeouts.pop(user_id, None)
        elif action == "unban":
            self.banned.discard(user_id)
            self.timeouts.pop(user_id, None)
        elif action == "timeout":
            self.timeouts[user_id] = float(data.get("until", 0.0))
