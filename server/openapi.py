"""The OpenAPI 3.1 document for ``/api``, served at ``/api/openapi.json``.

Each route is one line in ``ROUTES``: method, path, summary, request schema, answers. The
request schema is also the validator: ``validate_middleware`` checks every JSON body against
its route's schema (jsonschema, Draft 2020-12, the dialect OpenAPI 3.1 uses) and answers 400
before the handler runs, so the document cannot promise what the server refuses or accept
what it does not check. jsonschema over fastjsonschema: the reference implementation, kept
up to date with the drafts, and its errors name the failing path; bodies here are small.
``PUBLIC`` names the operations anyone may call (a session is optional: it may change the
answer, e.g. your role); every other one needs a session and says so in its own ``security``.

The answers that can happen on many operations are added by one rule (``COMMON``), never by
hand, so none is forgotten: 401 where a session is needed, 404 where the path names a thing,
400 and 413 where there is a body, and 429 and 503 everywhere (httpguard's connection caps).
A route's own text for one of those codes wins over the common one.

Each success answer with a body is an ``Ok`` naming its schema (server/answers.py), and every
error answer carries the one error body (``ERROR``), so a fuzzer checks the real answers
against the document (tests/server/test_api_fuzz.py). A body is required unless the route is in
``OPTIONAL_BODY`` (its handler reads ``read_json_if_any``); an ``Upload`` is a raw body of
the media types it names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator

from relay.presets import INGESTS, MAX_URL, TWITCH_HOST_RE, Platform
from relay.store import MAX_KEY
from rooms.text import INVISIBLE, JOINERS
from server import answers as out
from server.answers import ERROR, Ok
from server.api_earnings import YEAR_MAX, YEAR_MIN
from server.api_rooms import SONGS_PAGE, SONGS_PAGE_MAX
from server.api_tips import AMOUNT_CAP
from server.errors import BadRequest
from server.httputil import BAD_INPUT, BODY, json_response, read_json
from server.overlay import TEST_ALERT_MAX
from server.show_wire import REPLAY_HOURS_MAX
from ticketing.model import PRICE_MAX, QUANTITY_MAX


@dataclass(frozen=True)
class Upload:
    """A raw request body (not JSON) of these media types; the handler checks the bytes."""

    media: tuple[str, ...]


Body = dict[str, Any] | Upload
Answer = str | Ok  # a text alone: an error (it carries ERROR) or an answer without a body

# Text others see (titles, names): the handlers strip rooms.text's invisible characters and
# the spaces around it first, so it needs one character that is neither.
VISIBLE = f"[^\\s{INVISIBLE}{JOINERS}]"


def text(max_len: int, min_len: int = 1) -> dict[str, Any]:
    """A string as ``field_text``/``field_str`` take it: at most ``max_len``, something visible."""
    if min_len == 0:
        return {"type": "string", "maxLength": max_len}
    return {"type": "string", "minLength": 1, "maxLength": max_len, "pattern": VISIBLE}


def integer(lo: int, hi: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": lo, "maximum": hi}


# Log-in takes what the handler takes (any name up to 32, any password up to 256, each with
# something besides spaces): an old account's name may predate the sign-up pattern.
LOGIN = {"type": "object", "required": ["username", "password"],
         "properties": {"username": {"type": "string", "minLength": 1, "maxLength": 32, "pattern": "\\S"},
                        "password": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": "\\S"}}}
CREDENTIALS = {"type": "object", "required": ["username", "password"],
               "properties": {"username": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{3,32}$"},
                              "password": {"type": "string", "minLength": 8, "maxLength": 256}}}
ROOM_NEW = {"type": "object", "required": ["title"],
            "properties": {"title": text(200), "latency_class": {"enum": ["standard", "realtime"]}}}
ROOM_EDIT = {"type": "object", "properties": {
    "description": {"type": "string", "maxLength": 2000},
    "record": {"type": "boolean", "description": "record the room's free streams too (default false)"},
    "replay_access": {"type": "string", "enum": ["owner", "public"],
                      "description": "who replays recordings no show's tier covers (default owner)"}}}
WRITER = {"type": "object", "required": ["name", "share_bps"],
          "properties": {"name": text(200), "share_bps": integer(1, 10_000), "ipi": text(200), "pro": text(200),
                         "publisher": text(200), "role": text(200)}}
SONG = {"type": "object", "required": ["title"],
        "properties": {"title": text(200), "artist": text(200, min_len=0),
                       "iswc": {"type": "string", "pattern": "^T-?\\d{3}\\.?\\d{3}\\.?\\d{3}-?\\d$",
                                "example": "T-345.246.800-1"},
                       "writers": {"type": "array", "maxItems": 50, "items": WRITER,
                                   "description": "share_bps summing to 10,000 (or no writers)"}}}
# A restream url is relay/presets.py's and relay/destination.py's to refuse (rtmp:// or
# rtmps://, a host and port allowed, an application path), with its own codes, messages
# and counters per rule (an owner may not point the server at its own network).
RTMP_URL = {"type": "string", "maxLength": MAX_URL, "example": "rtmps://ingest.example.net:443/live"}
STREAM_KEY = {"type": "string", "minLength": 1, "maxLength": MAX_KEY, "pattern": "^[!-~]+$", "writeOnly": True,
              "description": "printable, no spaces"}
_TWITCH_INGEST = {"anyOf": [{"enum": sorted(INGESTS[Platform.TWITCH])}, {"type": "string", "pattern": TWITCH_HOST_RE.pattern}]}
# What a body naming its platform may say: YouTube and Twitch choose an ingest, a custom target names its url.
PLATFORM_RULES = [
    {"if": {"required": ["platform"], "properties": {"platform": {"const": p.value}}},
     "then": {"not": {"required": ["url"]}, "properties": {"ingest": ingest}}}
    for p, ingest in ((Platform.YOUTUBE, {"enum": sorted(INGESTS[Platform.YOUTUBE])}), (Platform.TWITCH, _TWITCH_INGEST))
] + [{"if": {"required": ["platform"], "properties": {"platform": {"const": "custom"}}}, "then": {"required": ["url"]}}]
RESTREAM_EDIT = {"type": "object", "additionalProperties": False, "allOf": PLATFORM_RULES, "properties": {
    "platform": {"enum": [p.value for p in Platform]}, "key": STREAM_KEY, "url": RTMP_URL,
    "ingest": {"type": "string", "maxLength": 100, "example": "rtmps"}, "enabled": {"type": "boolean"}}}
RESTREAM = {**RESTREAM_EDIT, "required": ["platform", "key"]}
TEST_ALERT = {"type": "object", "properties": {"amount": integer(1, TEST_ALERT_MAX),
                                               "message": {"type": "string", "maxLength": 200}}}
TIP = {"type": "object", "required": ["amount"],
       "properties": {"amount": {**integer(1, AMOUNT_CAP), "description": "minor units of the room's currency, "
                                 "within its tip settings (tip_min..tip_max)"},
                      "message": {"type": "string", "maxLength": 200}, "anonymous": {"type": "boolean"}}}
SPLIT_LINE = {"type": "object", "required": ["role", "bps"], "properties": {
    "username": {"type": "string"}, "name": {"type": "string", "maxLength": 200},
    "email": {"type": "string", "maxLength": 254}, "invitation": {"type": "string"},
    "role": {"enum": ["artist", "band", "songwriter", "publisher"]},
    "bps": {"type": "integer", "minimum": 1, "maximum": 10000}}}
SPLIT_SHEET = {"type": "object", "required": ["lines"],
               "properties": {"lines": {"type": "array", "minItems": 1, "maxItems": 20, "items": SPLIT_LINE}}}
BOOST = {"type": "object", "required": ["amount"], "properties": {"amount": integer(1, AMOUNT_CAP)}}
REFUND = {"type": "object", "properties": {"amount": {"type": "integer", "minimum": 1}}}
TIP_SETTINGS = {"type": "object", "properties": {"currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                                                 "tip_min": integer(1, AMOUNT_CAP),
                                                 "tip_max": {**integer(1, AMOUNT_CAP), "description": "at least tip_min"}}}
USERNAME = {"type": "object", "required": ["username"],
            "properties": {"username": {"type": "string", "minLength": 1, "maxLength": 32, "pattern": "\\S"}}}
_time = {"type": "string", "format": "date-time", "maxLength": 40}
SHOW_EDIT = {"type": "object", "additionalProperties": False, "properties": {
    "title": text(200), "starts_at": _time, "ends_at": {**_time, "type": ["string", "null"]},
    "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$", "example": "USD"},
    "replay_hours": integer(0, REPLAY_HOURS_MAX),
    "record": {"type": ["boolean", "null"], "description": "recorded; null: on when a tier includes replay"}}}
SHOW = {**SHOW_EDIT, "required": ["title", "starts_at"]}
TIER_EDIT = {"type": "object", "additionalProperties": False, "properties": {
    "name": text(100),
    "price": {**integer(0, PRICE_MAX), "description": "minor units; the suggested amount when min_price is set"},
    "min_price": {"type": ["integer", "null"], "minimum": 1, "maximum": PRICE_MAX,
                  "description": "pay what you want from this floor; null or absent: a fixed price"},
    "quantity": {"type": ["integer", "null"], "minimum": 0, "maximum": QUANTITY_MAX, "description": "seats; null or absent: unlimited"},
    "sales_start": {**_time, "type": ["string", "null"]}, "sales_end": {**_time, "type": ["string", "null"]},
    "latency_class": {"enum": ["realtime", "standard"]},
    "chat": {"type": "boolean"}, "replay": {"type": "boolean"}}}
TIER = {**TIER_EDIT, "required": ["name", "price"]}
_tier_id = {"type": "string", "minLength": 1, "maxLength": 32, "pattern": "\\S"}
COMP = {"type": "object", "required": ["username", "tier_id"],
        "properties": {"username": {"type": "string", "minLength": 1, "maxLength": 32, "pattern": "\\S"},
                       "tier_id": _tier_id}}
ORDER = {"type": "object", "required": ["tier_id"],
         "properties": {"tier_id": _tier_id, "amount": integer(1, PRICE_MAX)}}

# (method, path, summary, request body (a JSON schema, an Upload) or None, {status: answer})
ROUTES: list[tuple[str, str, str, Body | None, dict[int, Answer]]] = [
    ("post", "/api/accounts", "Sign up", CREDENTIALS,
     {201: Ok("created", out.USER), 400: "bad input, a common password, or one with nothing visible",
      409: "username taken, or too like a taken one", 429: "too many sign-ups from this address",
      503: "busy: try again (Retry-After)"}),
    ("post", "/api/sessions", "Log in: token and cookie", LOGIN,
     {200: Ok("signed in", out.SESSION), 401: "wrong credentials",
      429: "too many failed log-ins for this account or address (Retry-After)", 503: "busy: try again (Retry-After)"}),
    ("delete", "/api/sessions", "Log out", None, {204: "signed out", 401: "not signed in"}),
    ("get", "/api/me", "The signed-in user", None, {200: Ok("the user", out.USER), 401: "not signed in"}),
    ("get", "/api/me/sessions", "Your live sessions: id, created_at, last_seen_at, expires_at, user_agent, current "
     "(never the token)", None, {200: Ok("sessions", out.SESSIONS), 401: "not signed in"}),
    ("delete", "/api/me/sessions/{session_id}", "End one of your sessions", None,
     {204: "ended", 401: "not signed in", 404: "no session of yours with that id"}),
    ("post", "/api/rooms/{slug}/socket-ticket", "A single-use ticket for /ws/rooms/{slug}?ticket=... "
     "(expires_at, about 60 s)", None,
     {201: Ok("ticket and expires_at", out.SINGLE_USE), 401: "not signed in", 404: "no such room", 429: "too many unused tickets"}),
    ("get", "/api/rooms/{slug}/bans", "Who is banned from the room (username, by, created_at), newest first; "
     "owner and hosts only", None, {200: Ok("bans", out.BANS), 401: "not signed in", 403: "not the owner or a host",
                                    404: "no such room"}),
    ("post", "/api/rooms/{slug}/publish-ticket", "The owner's single-use ticket for POST /whip/{slug} "
     "(Bearer token in place of the stream key; expires_at, about 60 s)", None,
     {201: Ok("ticket and expires_at", out.SINGLE_USE), 401: "not signed in", 403: "not the room's owner", 404: "no such room",
      429: "too many unused tickets"}),
    ("post", "/api/rooms", "Create a room (you own it); the stream key is shown once", ROOM_NEW,
     {201: Ok("the room with its stream key", out.ROOM_MADE), 401: "not signed in", 409: "room_quota: owns the most rooms allowed",
      429: "too many new rooms from this account or address"}),
    ("get", "/api/rooms", "List rooms, each with live, stream_state and viewers (fans watching now)", None, {200: Ok("rooms", out.ROOMS)}),
    ("get", "/api/rooms/{slug}", "A room with its URLs and your role", None, {200: Ok("the room", out.ROOM_SEEN), 404: "no such room"}),
    ("patch", "/api/rooms/{slug}", "Edit the room's description (shown while it is offline) and recording settings (owner)", ROOM_EDIT,
     {200: Ok("the room", out.ROOM), 400: "too long", 403: "not the owner", 404: "no such room"}),
    ("put", "/api/rooms/{slug}/image", "Set the room's image (owner): the raw bytes of a PNG, JPEG or WebP file "
     "of at most 1,000,000 bytes", Upload(("image/png", "image/jpeg", "image/webp")), {200: Ok("the room, with image_url", out.ROOM), 400: "bad_image: not one of those types",
                                          403: "not the owner", 413: "too large"}),
    ("delete", "/api/rooms/{slug}/image", "Remove the room's image (owner)", None,
     {204: "removed", 403: "not the owner", 404: "no image"}),
    ("get", "/api/rooms/{slug}/image", "The room's image", None, {200: Ok("the image", media=("image/png", "image/jpeg", "image/webp")), 404: "no image"}),
    ("get", "/api/rooms/{slug}/thumbnail.jpg", "A still of the live stream (JPEG, at most --thumbnail-interval-s old)",
     None, {200: Ok("image/jpeg", media=("image/jpeg",)), 404: "no_thumbnail: offline, no keyframe yet, or a show gates the room (a node "
                                     "without the stream fetches it from the holder)"}),
    ("post", "/api/rooms/{slug}/stream-key", "Rotate the stream key (owner); ends a live stream made with the old key", None, {200: Ok("the new key", out.shape(stream_key=out.S, stream_ended=out.B)), 403: "not the owner"}),
    ("post", "/api/rooms/{slug}/stream/end", "End the live stream now (owner)", None, {200: Ok("offline; `ended` says whether it was live", out.shape(slug=out.S, state={"const": "offline"}, ended=out.B)), 403: "not the owner"}),
    ("post", "/api/rooms/{slug}/overlay-key", "Rotate the OBS overlay key (owner)", None,
     {200: Ok("the new overlay key and URL", out.OVERLAY), 403: "not the owner"}),
    ("post", "/api/rooms/{slug}/overlay/test-alert", "Show a test alert on the overlay (owner)", TEST_ALERT,
     {202: Ok("published", out.shape(id=out.S)), 403: "not the owner"}),
    ("get", "/api/rooms/{slug}/hosts", "List hosts", None, {200: Ok("hosts", out.HOSTS)}),
    ("post", "/api/rooms/{slug}/hosts", "Add a host (owner)", USERNAME,
     {200: Ok("a host already", out.HOSTS), 201: Ok("added", out.HOSTS), 403: "not the owner"}),
    ("delete", "/api/rooms/{slug}/hosts/{username}", "Remove a host (owner)", None, {204: "removed", 404: "not a host"}),
    ("get", "/api/rooms/{slug}/songs", "A page of the room's song catalog (?limit=1..200, default 100; ?cursor=next_cursor)",
     None, {200: Ok("songs and next_cursor (null on the last page)", out.SONGS), 400: "bad limit or cursor"}),
    ("post", "/api/rooms/{slug}/songs", "Add a song (owner, host)", SONG,
     {201: Ok("added", out.SONG), 400: "bad split", 409: "catalog_full"}),
    ("patch", "/api/rooms/{slug}/songs/{song_id}", "Edit a song (owner, host)", SONG, {200: Ok("updated", out.SONG)}),
    ("delete", "/api/rooms/{slug}/songs/{song_id}", "Remove a song (owner, host)", None, {204: "removed"}),
    ("get", "/api/rooms/{slug}/stream", "Live stream state", None, {200: Ok("state", out.STREAM), 404: "no such room"}),
    ("post", "/api/rooms/{slug}/restreams", "Add a restream target (owner); the key is never shown again",
     RESTREAM, {201: Ok("the target, key masked", out.TARGET), 400: "bad target", 403: "not the owner"}),
    ("get", "/api/rooms/{slug}/restreams", "Restream targets with live status (owner)", None,
     {200: Ok("targets", out.TARGETS), 403: "not the owner"}),
    ("patch", "/api/rooms/{slug}/restreams/{target_id}", "Enable, disable or edit a target (owner)", RESTREAM_EDIT,
     {200: Ok("the target", out.TARGET), 404: "no such target"}),
    ("delete", "/api/rooms/{slug}/restreams/{target_id}", "Remove a target (owner)", None,
     {204: "removed", 404: "no such target"}),
    ("post", "/api/rooms/{slug}/tips", "Tip the room: a checkout to pay (signed in)", TIP,
     {201: Ok("tip_id and checkout_url", out.CHECKOUT_TIP), 400: "bad amount, message too long or a blocked term",
      403: "banned or timed out (tip without a message)", 502: "the payment provider failed"}),
    ("post", "/api/rooms/{slug}/song-requests/{request_id}/boosts", "Boost a queued song request (signed in)", BOOST,
     {201: Ok("boost_id and checkout_url", out.CHECKOUT_BOOST), 400: "bad amount", 404: "no such request in the queue"}),
    ("get", "/api/rooms/{slug}/tip-settings", "The room's currency and tip bounds", None, {200: Ok("settings", out.MONEY_SETTINGS)}),
    ("put", "/api/rooms/{slug}/tip-settings", "Set the room's currency and tip bounds (owner)", TIP_SETTINGS,
     {200: Ok("settings", out.MONEY_SETTINGS), 400: "bad currency or bounds", 403: "not the owner"}),
    ("get", "/api/me/payments", "Your own payments (tips, boosts), newest first", None,
     {200: Ok("payments", out.PAYMENTS), 401: "not signed in"}),
    ("post", "/api/payments/{payment_id}/refund", "Refund a payment made in your room (owner)", REFUND,
     {202: Ok("refund requested; the ledger follows the provider's webhook", out.REFUND_ASKED), 403: "not the room's owner",
      409: "not paid"}),
    ("post", "/api/rooms/{slug}/shows", "Schedule a show (owner)", SHOW,
     {201: Ok("the show", out.SHOW), 400: "bad field", 401: "not signed in", 403: "not the owner", 404: "no such room"}),
    ("get", "/api/rooms/{slug}/shows", "The room's shows with their tiers", None, {200: Ok("shows", out.SHOWS), 404: "no such room"}),
    ("get", "/api/shows/{show_id}/analytics", "A show's analytics (owner; hosts see no money): audience peak, "
     "unique viewers, watch time, chat and songs, revenue from the ledger, and every series", None,
     {200: Ok("the analytics", out.ANALYTICS), 401: "not signed in", 403: "neither owner nor host", 404: "no such show"}),
    ("get", "/api/shows/{show_id}/analytics/{series}.csv", "One analytics series as CSV: viewers, health, chat, "
     "marks, revenue (owner)", None, {200: Ok("text/csv", media=("text/csv",)), 403: "neither owner nor host (revenue: not the owner)",
                                      404: "no such show or series"}),
    ("get", "/api/shows/{show_id}/analytics/{chart}.svg", "A chart as SVG: viewers (with the setlist: each song from play to done), chat, "
     "revenue (owner)", None, {200: Ok("image/svg+xml", media=("image/svg+xml",)), 403: "neither owner nor host (revenue: not the owner)",
                               404: "no such show or chart"}),
    ("get", "/api/shows/{show_id}", "A show (public): tiers with price, what each unlocks, remaining, on_sale; "
     "the owner also sees sold and held", None, {200: Ok("the show", out.SHOW), 404: "no such show"}),
    ("patch", "/api/shows/{show_id}", "Change a show (owner)", SHOW_EDIT,
     {200: Ok("the show", out.SHOW), 400: "bad field", 403: "not the owner", 404: "no such show"}),
    ("post", "/api/shows/{show_id}/tiers", "Add a tier (owner; hosts never set prices)", TIER,
     {201: Ok("the tier", out.TIER), 400: "bad field", 403: "not the owner", 404: "no such show"}),
    ("patch", "/api/shows/{show_id}/tiers/{tier_id}", "Change a tier (owner)", TIER_EDIT,
     {200: Ok("the tier", out.TIER), 400: "bad field", 403: "not the owner", 404: "no such show or tier"}),
    ("post", "/api/shows/{show_id}/comps", "Give a ticket free (owner; guest list); takes a seat", COMP,
     {201: Ok("the ticket", out.TICKET), 403: "not the owner", 404: "no such show, tier or user", 409: "sold_out"}),
    ("post", "/api/shows/{show_id}/orders", "Buy a ticket: a seat held for --ticket-hold-s and a checkout to pay "
     "(signed in); amount only for pay-what-you-want tiers", ORDER,
     {201: Ok("order_id, hold_expires_at, checkout_url (null for a free tier, then ticket_id is set)", out.ORDER_MADE),
      400: "bad amount (bad_price)", 401: "not signed in", 404: "no such show or tier",
      409: "sold_out, off_sale, or the show is over", 502: "the payment provider failed"}),
    ("get", "/api/orders/{order_id}", "Your order: held, paid (ticket_id), expired, failed, or refunded_sold_out "
     "(paid after the hold expired with no seat left: the money went back)", None,
     {200: Ok("the order", out.ORDER), 404: "no such order of yours"}),
    ("post", "/api/tickets/{ticket_id}/refund", "Refund a ticket (the room's owner): access ends now; the ledger "
     "reverses when the provider's refund arrives", None,
     {200: Ok("a comp, revoked", out.TICKET), 202: Ok("refund requested, ticket revoked", out.TICKET), 403: "not the room's owner",
      404: "no such ticket", 409: "refunded already"}),
    ("post", "/api/shows/{show_id}/viewing-sessions", "Watch on this device (ticket holder, owner, host): "
     "session, token, heartbeat_s, hls_url (/live/{slug}/vt/{token}/index.m3u8; the token is also set as the nal_vt cookie for native HLS), "
     "whep_url (realtime tiers; Authorization: Bearer token), socket_url",
     {"type": "object", "properties": {"takeover": {"type": "boolean"}}},
     {201: Ok("the session", out.VIEWING), 401: "not signed in", 403: "ticket_needed", 404: "no such show",
      409: "watching_elsewhere: send takeover true"}),
    ("post", "/api/viewing-sessions/{session}/heartbeat", "Renew the viewing token every heartbeat_s (~15 s); "
     "renews the nal_vt cookie too",
     {"type": "object", "required": ["token"],
      "properties": {"token": {"type": "string", "minLength": 1, "maxLength": 512, "pattern": "\\S"}}},
     {200: Ok("a fresh token and URLs", out.VIEWING), 404: "no such session of yours (a token is renewed only for its ticket's holder)",
      409: "taken_over: another device or a refund"}),
    ("get", "/api/me/tickets", "Your tickets (never anyone else's)", None, {200: Ok("tickets", out.TICKETS), 401: "not signed in"}),
    ("post", "/api/tickets/{ticket_id}/transfer", "Give your ticket to another user; your access ends", USERNAME,
     {200: Ok("the ticket", out.TICKET), 400: "same owner", 404: "no such ticket of yours, or no such user"}),
    ("get", "/api/me/balances", "Your ledger balances, per account and currency", None,
     {200: Ok("balances", out.BALANCES), 401: "not signed in"}),
    ("get", "/api/me/statement", "Your statement for ?from=YYYY-MM-DD&to=YYYY-MM-DD&format=json|csv", None,
     {200: Ok("opening balances, movements, closing balances", out.STATEMENT, ("application/json", "text/csv")), 400: "bad date or format", 401: "not signed in"}),
    ("post", "/api/me/payout-account", "Open your payout account (sandbox: ready at once; Stripe: a connected "
     "account and onboarding_url, a single-use account link)", None,
     {200: Ok("your account (a fresh link when not ready)", out.PAYOUT_ACCOUNT_OPENED), 201: Ok("account opened", out.PAYOUT_ACCOUNT_OPENED), 401: "not signed in",
      502: "the payment provider failed"}),
    ("get", "/api/me/payout-account", "Your payout account: ready, payouts_enabled, requirements_due, reason", None,
     {200: Ok("the account (account null when none)", out.PAYOUT_ACCOUNT), 401: "not signed in"}),
    ("get", "/api/me/payout-account/refresh", "The onboarding link's refresh URL: 302 to a new link", None,
     {302: "to Stripe's onboarding, or /earnings when ready", 401: "not signed in"}),
    ("get", "/api/me/earnings", "Your earnings: balances per currency (available, in_hold, in_transit, paid), "
     "lines per room and show (gross, fees, commission, share, recouped), payouts", None,
     {200: Ok("earnings", out.EARNINGS), 401: "not signed in"}),
    ("get", "/api/me/tax-summary", "Your year-end tax summary for ?year=YYYY (CSV: paid_out, earned by kind)", None,
     {200: Ok("CSV", media=("text/csv",)), 400: "bad_year", 401: "not signed in"}),
    ("get", "/api/rooms/{slug}/recording", "The room's recording on this node (owner, host): state (recording, "
     "ended, failed), segments, duration, gaps, error", None,
     {200: Ok("recording (null when none)", out.ROOM_RECORDING), 401: "not signed in", 403: "not the owner or a host"}),
    ("get", "/api/shows/{show_id}/recording", "A show's recording for whoever may replay it (owner, hosts, a replay "
     "tier's viewing token ?vt=): duration, chapters (title, artist, start, end in seconds), playlist_url", None,
     {200: Ok("the recording", out.SHOW_RECORDING), 403: "replay_needed, tier_without_replay or replay_window_closed",
      404: "no recording"}),
    ("delete", "/api/shows/{show_id}/recording", "Delete the recording now (owner)", None,
     {200: Ok("deleted", out.RECORDING_DELETED), 403: "not the owner", 409: "still being recorded"}),
    ("put", "/api/shows/{show_id}/recording/keep", "Keep the recording past retention, or not (owner)",
     {"type": "object", "required": ["keep"], "properties": {"keep": {"type": "boolean"}}},
     {200: Ok("kept or not", out.RECORDING_KEPT), 403: "not the owner"}),
    ("post", "/api/shows/{show_id}/clips", "Cut a clip of the recording (owner): whole segments from start to end "
     "(seconds, at most 600), public at the answer's url", {"type": "object", "required": ["start", "end"],
     "properties": {"start": {"type": "number", "minimum": 0}, "end": {"type": "number"}}},
     {201: Ok("id, url, start, duration", out.CLIP), 400: "bad start or end", 403: "not the owner", 404: "no recording"}),
    ("get", "/api/shows/{show_id}/recording.mp4", "One MP4 of the show (owner): a remux in the background, 202 "
     "{state, progress} until it is ready, then the file (Range requests served)", None,
     {200: Ok("the MP4", media=("video/mp4",)), 202: Ok("being made: progress 0..1 (Retry-After)", out.EXPORT), 403: "not the owner",
      409: "still being recorded"}),
    ("get", "/api/rooms/{slug}/split-sheet", "The room's split sheet (the room's owner): lines with party, role, "
     "bps and, for songwriters not signed up yet, their invitation", None,
     {200: Ok("the sheet", out.SPLIT_SHEET), 401: "not signed in", 403: "not the room's owner", 404: "no such room"}),
    ("put", "/api/rooms/{slug}/split-sheet", "Set the room's split sheet (the room's owner): integer bps summing "
     "to 10,000; a songwriter or publisher without an account is named and invited (invite_url, once)",
     SPLIT_SHEET, {200: Ok("the sheet and the new invitations", out.SPLIT_SHEET_SET), 400: "bad_split, no_user, no_invitation",
                   401: "not signed in", 403: "not the room's owner", 404: "no such room"}),
    ("get", "/api/invitations/{token}", "A split-sheet invitation: room, name, role, bps, claimed", None,
     {200: Ok("the invitation", out.INVITATION), 404: "no such invitation"}),
    ("post", "/api/invitations/{token}/claim", "Claim the share: what accrued moves to you and the sheet names you",
     None, {200: Ok("claimed; what moved per currency", out.CLAIMED), 401: "not signed in", 404: "no such invitation",
            409: "claimed by someone else, or already on the sheet"}),
    ("get", "/api/shows/{show_id}/settlement", "The show's settlement sheet (the room's owner; ?format=json|csv): "
     "gross, fees, commission, royalty pool, and per party its split lines, earned, recouped, paid, reversed", None,
     {200: Ok("the sheet", out.SETTLEMENT, ("application/json", "text/csv")), 400: "bad_format", 401: "not signed in", 403: "not the room's owner", 404: "no such show"}),
    ("get", "/api/shows/{show_id}/setlist.csv", "The show's performance-rights setlist (the room's owner; CSV)", None,
     {200: Ok("CSV", media=("text/csv",)), 401: "not signed in", 403: "not the room's owner", 404: "no such show"}),
]


# Operations anyone may call; a session, when sent, may change the answer but is not needed.
PUBLIC: frozenset[tuple[str, str]] = frozenset({
    ("post", "/api/accounts"), ("post", "/api/sessions"), ("get", "/api/rooms"), ("get", "/api/rooms/{slug}"),
    ("get", "/api/rooms/{slug}/image"), ("get", "/api/rooms/{slug}/thumbnail.jpg"), ("get", "/api/rooms/{slug}/hosts"),
    ("get", "/api/rooms/{slug}/songs"), ("get", "/api/rooms/{slug}/stream"), ("get", "/api/rooms/{slug}/tip-settings"),
    ("get", "/api/rooms/{slug}/shows"), ("get", "/api/shows/{show_id}"), ("get", "/api/shows/{show_id}/recording"),
    ("get", "/api/invitations/{token}"),
})
# Operations whose body may be left out (the handler reads it with read_json_if_any).
OPTIONAL_BODY: frozenset[tuple[str, str]] = frozenset({
    ("post", "/api/rooms/{slug}/overlay/test-alert"), ("post", "/api/payments/{payment_id}/refund"),
    ("post", "/api/shows/{show_id}/viewing-sessions"),
})
# The query parameters an operation reads (all optional), so a client and the fuzzer see the
# rules the handler holds: a value they break is answered 400 (403 for a viewing token).
FORMAT = {"name": "format", "in": "query", "schema": {"enum": ["json", "csv"], "default": "json"}}
VIEWING_TOKEN = {"name": "vt", "in": "query", "description": "a viewing token (replay tier)",
                 "schema": {"type": "string"}}
QUERY: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("get", "/api/rooms/{slug}/songs"): [
        {"name": "limit", "in": "query", "schema": {**integer(1, SONGS_PAGE_MAX), "default": SONGS_PAGE}},
        {"name": "cursor", "in": "query", "description": "next_cursor of the page before",
         "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}}],
    ("get", "/api/me/statement"): [
        {"name": "from", "in": "query", "description": "first day (UTC; an ISO date-time is read too); "
         "default 30 days before to", "schema": {"type": "string", "format": "date"}},
        {"name": "to", "in": "query", "description": "last day, included (default now)",
         "schema": {"type": "string", "format": "date"}},
        FORMAT],
    ("get", "/api/me/tax-summary"): [
        {"name": "year", "in": "query", "description": "default this year", "schema": integer(YEAR_MIN, YEAR_MAX)}],
    ("get", "/api/shows/{show_id}/settlement"): [FORMAT],
    ("get", "/api/shows/{show_id}/recording"): [VIEWING_TOKEN],
}


NO_BODY = frozenset({204, 302})  # answers without a body: no schema to declare
SIGNED_IN: list[dict[str, list[str]]] = [{"bearer": []}, {"cookie": []}]
ANYONE: list[dict[str, list[str]]] = [{}, *SIGNED_IN]
# (applies to the operation, code, text): the one rule for answers many operations share.
COMMON: list[tuple[Callable[[bool, list[str], Body | None], bool], int, str]] = [
    (lambda public, params, body: not public, 401, "not signed in (no session, or an expired one)"),
    (lambda public, params, body: bool(params), 404, "no such thing as the path names"),
    (lambda public, params, body: body is not None, 400, "bad body: not a JSON object, or not what its schema asks"),
    (lambda public, params, body: body is not None, 413, "body too large"),
    (lambda public, params, body: True, 429, "too many connections or requests from this address (Retry-After)"),
    (lambda public, params, body: True, 503, "busy: too many connections in all; try again (Retry-After)"),
]


def path_params(path: str) -> list[str]:
    """The names of a path's parameters: ``/api/shows/{show_id}/{chart}.svg`` -> show_id, chart."""
    return [part[1:].split("}")[0] for part in path.split("/") if part.startswith("{")]


def answers_of(method: str, path: str, body: Body | None, answers: dict[int, Answer]) -> dict[int, Answer]:
    """The route's own answers plus the common ones that apply to it (its own text wins)."""
    public = (method, path) in PUBLIC
    merged: dict[int, Answer] = {code: text for applies, code, text in COMMON
                                 if applies(public, path_params(path), body)}
    merged.update(answers)
    return dict(sorted(merged.items()))


def response(code: int, answer: Answer) -> dict[str, Any]:
    """One answer in the document: a success with its body's schema, an error with ``ERROR``."""
    if isinstance(answer, Ok):
        return {"description": answer.text, "content": answer.content()}
    if code >= 400:
        return {"description": answer, "content": {"application/json": {"schema": ERROR}}}
    if code in NO_BODY:
        return {"description": answer}
    raise ValueError(f"answer {code} ({answer!r}) has a body: declare its schema with Ok")


def request_body(method: str, path: str, body: Body) -> dict[str, Any]:
    required = (method, path) not in OPTIONAL_BODY
    if isinstance(body, Upload):
        binary = {"type": "string", "format": "binary"}  # its size limit is in the summary: 413 past it
        return {"required": required, "content": {media: {"schema": binary} for media in body.media}}
    return {"required": required, "content": {"application/json": {"schema": body}}}


def operation(method: str, path: str, summary: str, body: Body | None,
              answers: dict[int, Answer]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "security": ANYONE if (method, path) in PUBLIC else SIGNED_IN,
        "responses": {str(code): response(code, answer)
                      for code, answer in answers_of(method, path, body, answers).items()},
    }
    params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in path_params(path)]
    params += QUERY.get((method, path), [])
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = request_body(method, path, body)
    return op


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for method, path, summary, body, answers in ROUTES:
        paths.setdefault(path, {})[method] = operation(method, path, summary, body, answers)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Not a Label Live", "version": "0.1.0"},
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "cookie": {"type": "apiKey", "in": "cookie", "name": "nal_session"}}},
        "paths": paths,
    }


# The error code a route answers a bad body with, where it has its own (default bad_field).
BAD_BODY_CODES: dict[tuple[str, str], str] = {
    ("PUT", "/api/rooms/{slug}/split-sheet"): "bad_split",
    ("POST", "/api/rooms/{slug}/restreams"): "bad_target",
    ("PATCH", "/api/rooms/{slug}/restreams/{target_id}"): "bad_target",
}


def _validators() -> dict[tuple[str, str], Draft202012Validator]:
    found: dict[tuple[str, str], Draft202012Validator] = {}
    for method, path, _summary, body, _answers in ROUTES:
        if isinstance(body, dict):
            Draft202012Validator.check_schema(body)
            found[(method.upper(), path)] = Draft202012Validator(body)
    return found


VALIDATORS = _validators()


def without_secrets(message: str, schema: dict[str, Any], data: dict[str, Any]) -> str:
    """``message`` with the body's ``writeOnly`` values (a stream key) masked: jsonschema
    quotes the failing value, and a secret is never echoed back or logged."""
    for name, sub in schema.get("properties", {}).items():
        value = data.get(name)
        if sub.get("writeOnly") and isinstance(value, str) and value:
            message = message.replace(repr(value), "'***'")
    return message


@web.middleware
async def validate_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """A JSON body is checked against its route's schema before the handler runs; the
    handler's ``read_json`` gets the parsed body. No body: the handler decides (some bodies
    are optional)."""
    resource = request.match_info.route.resource
    key = (request.method, resource.canonical if resource is not None else "")
    validator = VALIDATORS.get(key)
    if validator is not None and request.can_read_body:
        data = await read_json(request)
        error = next(iter(sorted(validator.iter_errors(data), key=lambda e: list(e.path))), None)
        if error is not None:
            code = BAD_BODY_CODES.get(key, "bad_field")
            BAD_INPUT.labels(code).inc()
            where = "/".join(str(part) for part in error.absolute_path) or "body"
            raise BadRequest(f"{where}: {without_secrets(error.message, validator.schema, data)}", code)
        request[BODY] = data
    response: web.StreamResponse = await handler(request)
    return response


async def openapi(_request: web.Request) -> web.Response:
    return json_response(document())


def setup(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi)
    app.middlewares.append(validate_middleware)
