"""Shows and tiers on the wire: JSON bodies in (checked, with clear errors), JSON out.

Times are ISO 8601 strings (a time without a zone is UTC); amounts are integers in minor
units. What a body may set is declared once here, in ``SHOW_INPUT`` and ``TIER_INPUT``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from server.errors import BadRequest
from server.httputil import BAD_INPUT, field_text
from ticketing.model import LATENCY_CLASSES, PRICE_MAX, QUANTITY_MAX, Show, Tier


def bad(message: str, code: str = "bad_field") -> BadRequest:
    BAD_INPUT.labels(code).inc()
    return BadRequest(message, code)


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _time(name: str, value: Any) -> float:
    if not isinstance(value, str) or len(value) > 40:
        raise bad(f"{name!r} must be an ISO 8601 date-time string")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise bad(f"{name!r} must be an ISO 8601 date-time string") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _opt_time(name: str, value: Any) -> float | None:
    return None if value is None else _time(name, value)


def _int(lo: int, hi: int) -> Callable[[str, Any], int]:
    def parse(name: str, value: Any) -> int:
        if type(value) is not int or not lo <= value <= hi:
            raise bad(f"{name!r} must be an integer from {lo} to {hi}")
        return value
    return parse


def _opt_int(lo: int, hi: int) -> Callable[[str, Any], int | None]:
    inner = _int(lo, hi)
    return lambda name, value: None if value is None else inner(name, value)


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise bad(f"{name!r} must be true or false")
    return value


def _currency(name: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) != 3 or not value.isalpha() or not value.isascii():
        raise bad(f"{name!r} must be an ISO 4217 code like USD")
    return value.upper()


def _latency(name: str, value: Any) -> str:
    if value not in LATENCY_CLASSES:
        raise bad(f"{name!r} must be 'realtime' or 'standard'")
    return str(value)


def _text(max_len: int) -> Callable[[str, Any], str]:
    return lambda name, value: field_text({name: value}, name, max_len=max_len)


Parser = Callable[[str, Any], Any]
REPLAY_HOURS_MAX = 24 * 365  # a show's replay is up for at most a year
SHOW_INPUT: dict[str, Parser] = {
    "title": _text(200), "starts_at": _time, "ends_at": _opt_time, "currency": _currency,
    "replay_hours": _int(0, REPLAY_HOURS_MAX), "record": lambda name, value: None if value is None else _bool(name, value),
}
TIER_INPUT: dict[str, Parser] = {
    "name": _text(100), "price": _int(0, PRICE_MAX), "min_price": _opt_int(1, PRICE_MAX),
    "quantity": _opt_int(0, QUANTITY_MAX), "sales_start": _opt_time, "sales_end": _opt_time,
    "latency_class": _latency, "chat": _bool, "replay": _bool,
}
SHOW_REQUIRED = ("title", "starts_at")
TIER_REQUIRED = ("name", "price")


def parse(data: dict[str, Any], spec: dict[str, Parser], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The known fields of ``data``, each checked; unknown fields are refused (a typo is not ignored)."""
    unknown = sorted(set(data) - set(spec))
    if unknown:
        raise bad(f"unknown fields: {', '.join(unknown)}")
    missing = [name for name in required if name not in data]
    if missing:
        raise bad(f"missing fields: {', '.join(missing)}")
    return {name: spec[name](name, value) for name, value in data.items()}


def tier_json(tier: Tier, sold: int, held: int, now: float, *, owner: bool, revenue: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": tier.id, "name": tier.name, "price": tier.price, "min_price": tier.min_price,
        "pay_what_you_want": tier.pay_what_you_want, "quantity": tier.quantity,
        "remaining": tier.remaining(sold, held), "sales_start": iso(tier.sales_start),
        "sales_end": iso(tier.sales_end), "on_sale": tier.on_sale(now),
        "latency_class": tier.latency_class, "chat": tier.chat, "replay": tier.replay,
    }
    if owner:
        body.update(sold=sold, held=held, revenue=revenue)
    return body


def show_json(show: Show, tiers: list[tuple[Tier, int, int]], now: float, *, owner: bool,
              revenue: dict[str, int] | None = None) -> dict[str, Any]:
    """The show as anyone sees it; the owner also sees each tier's ``sold``, ``held`` and
    ``revenue`` (what its valid tickets were paid, minor units)."""
    paid = revenue or {}
    listed = [tier_json(t, s, h, now, owner=owner, revenue=paid.get(t.id, 0)) for t, s, h in tiers]
    return {
        "id": show.id, "room": show.room_slug, "title": show.title, "starts_at": iso(show.starts_at),
        "ends_at": iso(show.ends_at), "currency": show.currency, "replay_hours": show.replay_hours,
        "record": show.recorded([t for t, _s, _h in tiers]), "over": show.over(now), "on_sale": not show.over(now) and any(t["on_sale"] for t in listed),
        "tiers": listed,
    }
