"""What ``/api`` answers: the JSON schema of every success body, and the one error body.

``server.openapi.ROUTES`` names one of these per success answer (``Ok``), beside the request
schema it validates, so the document states the shape of each answer once. A fuzzer
(schemathesis, tests/server/test_api_fuzz.py) checks the server's real answers against them
on every operation. Objects list the fields every answer carries as ``required`` and leave
room for more (a new field is no break); a field renamed, dropped or of another type fails.

Error answers all carry ``ERROR`` (server/errors.py: ``{"error": code, "message": text}``;
an unhandled error adds ``request_id``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]

S: Schema = {"type": "string"}
I: Schema = {"type": "integer"}  # noqa: E741 - the schema of an integer, beside S, B, N
B: Schema = {"type": "boolean"}
N: Schema = {"type": "number"}
TIME: Schema = {"type": "string", "format": "date-time"}
ANY_OBJECT: Schema = {"type": "object"}


def maybe(schema: Schema) -> Schema:
    """``schema`` or null."""
    return {"anyOf": [schema, {"type": "null"}]}


def shape(optional: dict[str, Schema] | None = None, **fields: Schema) -> Schema:
    """An object that always carries ``fields`` and may carry ``optional``."""
    return {"type": "object", "required": sorted(fields), "properties": {**fields, **(optional or {})}}


def many(item: Schema) -> Schema:
    return {"type": "array", "items": item}


def joined(base: Schema, optional: dict[str, Schema] | None = None, **fields: Schema) -> Schema:
    """``base`` with more fields."""
    return {"type": "object", "required": sorted({*base["required"], *fields}),
            "properties": {**base["properties"], **fields, **(optional or {})}}


@dataclass(frozen=True)
class Ok:
    """A success answer: its text, and its body (a JSON schema, or other media types)."""

    text: str
    schema: Schema | None = None
    media: tuple[str, ...] = ("application/json",)

    def content(self) -> dict[str, Any]:
        binary = {"type": "string", "format": "binary"}
        return {media: {"schema": self.schema if media == "application/json" and self.schema else binary}
                for media in self.media}


def csv(text: str) -> Ok:
    return Ok(text, media=("text/csv",))


ERROR = shape({"request_id": S}, error=S, message=S)

USER = shape(id=I, username=S)
SESSION = shape(token=S, csrf=S, user=USER)
SESSIONS = shape(sessions=many(shape(id=S, created_at=TIME, last_seen_at=TIME, expires_at=TIME,
                                     user_agent=S, current=B)))
SINGLE_USE = shape(ticket=S, expires_at=TIME)
BANS = shape(bans=many(shape(username=S, by=maybe(S), created_at=TIME)))
ROOM = shape(
    slug=S, title=S, owner=S, latency_class={"enum": ["standard", "realtime"]}, created_at=N,
    description=maybe(S), image_url=maybe(S), record=B, replay_access={"enum": ["owner", "public"]},
    ingest=shape(rtmp=shape({"stream_key": S}, server=S, url=S), whip=shape({"token": S}, url=S)),
    playback=shape(watch=S, hls=S, whep=S, socket=S), studio=S, moderate=S)
OVERLAY = shape(overlay_key=S, overlay_url=S)
ROOM_MADE = joined(ROOM, stream_key=S, overlay_key=S, overlay_url=S)
ROOM_SEEN = joined(ROOM, {"overlay_key": S, "overlay_url": S}, role={"enum": ["guest", "fan", "host", "owner"]})
ROOMS = shape(rooms=many(joined(ROOM, live=B, stream_state=S, viewers=I)))
HOSTS = shape(hosts=many(S))
SONG = shape(id=I, title=S, artist=maybe(S), iswc=maybe(S),
             writers=many(shape({"ipi": S, "pro": S, "publisher": S, "role": S}, name=S, share_bps=I)))
SONGS = shape(songs=many(SONG), next_cursor=maybe(S))
STREAM = shape(state=S)
TARGET = shape(id=I, platform={"enum": ["youtube", "twitch", "custom"]}, ingest=maybe(S), url=maybe(S),
               key_masked=S, enabled=B, created_at=N, updated_at=N, status=shape(state=S))
TARGETS = shape(restreams=many(TARGET))
CHECKOUT_TIP = shape(tip_id=S, checkout_url=S)
CHECKOUT_BOOST = shape(boost_id=S, checkout_url=S)
MONEY_SETTINGS = shape(currency=S, tip_min=I, tip_max=I)
PAYMENTS = shape(payments=many(shape(id=S, kind=S, status=S, amount=I, currency=S, refunded=I, room=S,
                                     provider=S, created_at=N)))
REFUND_ASKED = shape(id=S, refund=S, amount=I, status={"const": "refund_requested"})
TIER = shape({"sold": I, "held": I, "revenue": I},
             id=S, name=S, price=I, min_price=maybe(I), pay_what_you_want=B, quantity=maybe(I),
             remaining=maybe(I), sales_start=maybe(TIME), sales_end=maybe(TIME), on_sale=B,
             latency_class={"enum": ["realtime", "standard"]}, chat=B, replay=B)
SHOW = shape(id=S, room=S, title=S, starts_at=TIME, ends_at=maybe(TIME), currency=S, replay_hours=I,
             record=B, over=B, on_sale=B, tiers=many(TIER))
SHOWS = shape(shows=many(SHOW))
ANALYTICS = shape({"revenue": {}, "supporters": {}},
                  show=shape(id=S, title=S, room=S, starts_at=N, ends_at=maybe(N), currency=S),
                  sample_s=maybe(N), audience=ANY_OBJECT, engagement=ANY_OBJECT,
                  series=shape(viewers=many(ANY_OBJECT), health=many(ANY_OBJECT), chat=many(ANY_OBJECT),
                               marks=many(ANY_OBJECT)))
TICKET = shape(id=S, show_id=S, tier_id=S, status=S, comp=B, order_id=maybe(S), created_at=TIME)
TICKETS = shape(tickets=many(joined(TICKET, room=S, show_title=S, starts_at=TIME, tier_name=S,
                                    latency_class=S, chat=B, replay=B)))
ORDER = shape({"checkout_url": maybe(S)}, order_id=S, show_id=S, tier_id=S, amount=I, currency=S, status=S,
              hold_expires_at=TIME, ticket_id=maybe(S))
ORDER_MADE = joined(ORDER, checkout_url=maybe(S))
VIEWING = shape({"whep_url": S}, session=S, room=S, token=S, expires_at=I, heartbeat_s=N, hls_url=S,
                socket_url=S, heartbeat_url=S)
BALANCES = shape(party=S, balances=many(shape(account=S, currency=S, balance=I)))
STATEMENT = shape(party=S, to=TIME, accounts=many(ANY_OBJECT), movements=many(ANY_OBJECT),
                  **{"from": TIME})
PAYOUT_ACCOUNT = shape({"charges_enabled": B, "payouts_enabled": B, "details_submitted": B,
                        "requirements_due": many(S)},
                       party=S, account=maybe(shape(provider=S, id=S)), ready=B, reason=maybe(S))
PAYOUT_ACCOUNT_OPENED = joined(PAYOUT_ACCOUNT, onboarding_url=maybe(S))
EARNINGS = shape(party=S, balances=many(ANY_OBJECT), lines=many(ANY_OBJECT),
                 payouts=many(shape(id=S, amount=I, reversed=I, currency=S, state=S, transfer_group=maybe(S),
                                    created_at=N, error=maybe(S))),
                 payout_account=shape(ready=B, reason=maybe(S)))
ROOM_RECORDING = shape(recording=maybe(ANY_OBJECT))
SHOW_RECORDING = shape(show_id=S, title=S, state=maybe(S), duration=maybe(N), segments={}, gaps={},
                       chapters=many(shape(title=S, artist=S, start=N, end=N)), replay_closes_at={}, kept={},
                       export=maybe(ANY_OBJECT), playlist_url=S)
EXPORT = shape(state=S, progress=N, error=maybe(S))
RECORDING_DELETED = shape(show_id=S, deleted=B)
RECORDING_KEPT = shape(show_id=S, kept=B)
CLIP = shape(id=S, show_id=S, start=N, duration=N, url=S)
SPLIT_LINE = shape({"invitation": S, "claimed": B}, party=S, name=maybe(S), role=S, bps=I)
SPLIT_SHEET = shape(room=S, lines=many(SPLIT_LINE))
SPLIT_SHEET_SET = joined(SPLIT_SHEET, invitations=many(shape(invitation=S, name=maybe(S), email=maybe(S),
                                                              invite_url=S)))
INVITATION = shape(room=S, name=maybe(S), role=S, bps=I, claimed=B)
CLAIMED = shape(claimed={"const": True}, party=S, moved={})
SETTLEMENT = shape(show=S, sheets=many(shape(show=S, currency=S, gross=I, fees=I, commission=I, royalty_pool=I,
                                             parties=many(ANY_OBJECT))))
