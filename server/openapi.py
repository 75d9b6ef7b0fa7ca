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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator

from server.errors import BadRequest
from server.httputil import BAD_INPUT, BODY, json_response, read_json

_obj = {"type": "object"}
# Log-in takes what the handler takes (any name up to 32, any password up to 256, each with
# something besides spaces): an old account's name may predate the sign-up pattern.
LOGIN = {"type": "object", "required": ["username", "password"],
         "properties": {"username": {"type": "string", "minLength": 1, "maxLength": 32, "pattern": "\\S"},
                        "password": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": "\\S"}}}
CREDENTIALS = {"type": "object", "required": ["username", "password"],
               "properties": {"username": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{3,32}$"},
                              "password": {"type": "string", "minLength": 8, "maxLength": 256}}}
ROOM_NEW = {"type": "object", "required": ["title"],
            "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"},
                           "latency_class": {"enum": ["standard", "realtime"]}}}
ROOM_EDIT = {"type": "object", "properties": {
    "description": {"type": "string", "maxLength": 2000},
    "record": {"type": "boolean", "description": "record the room's free streams too (default false)"},
    "replay_access": {"type": "string", "enum": ["owner", "public"],
                      "description": "who replays recordings no show's tier covers (default owner)"}}}
WRITER = {"type": "object", "required": ["name", "share_bps"],
          "properties": {"name": {"type": "string"}, "share_bps": {"type": "integer", "minimum": 1, "maximum": 10000},
                         "ipi": {"type": "string"}, "pro": {"type": "string"}, "publisher": {"type": "string"}}}
SONG = {"type": "object", "required": ["title"],
        "properties": {"title": {"type": "string"}, "artist": {"type": "string"},
                       "iswc": {"type": "string", "pattern": "^T-?\\d{3}\\.?\\d{3}\\.?\\d{3}-?\\d$",
                                "example": "T-345.246.800-1"},
                       "writers": {"type": "array", "items": WRITER}}}
RESTREAM_EDIT = {"type": "object", "additionalProperties": False, "properties": {
    "platform": {"enum": ["youtube", "twitch", "custom"]}, "key": {"type": "string", "maxLength": 300, "writeOnly": True},
    "url": {"type": "string", "example": "rtmps://ingest.example.net:443/live"},
    "ingest": {"type": "string", "example": "rtmps"}, "enabled": {"type": "boolean"}}}
RESTREAM = {**RESTREAM_EDIT, "required": ["platform", "key"]}
TEST_ALERT = {"type": "object", "properties": {"amount": {"type": "integer", "minimum": 1},
                                               "message": {"type": "string", "maxLength": 200}}}
TIP = {"type": "object", "required": ["amount"],
       "properties": {"amount": {"type": "integer", "minimum": 1, "description": "minor units of the room's currency"},
                      "message": {"type": "string", "maxLength": 200}, "anonymous": {"type": "boolean"}}}
SPLIT_LINE = {"type": "object", "required": ["role", "bps"], "properties": {
    "username": {"type": "string"}, "name": {"type": "string", "maxLength": 200},
    "email": {"type": "string", "maxLength": 254}, "invitation": {"type": "string"},
    "role": {"enum": ["artist", "band", "songwriter", "publisher"]},
    "bps": {"type": "integer", "minimum": 1, "maximum": 10000}}}
SPLIT_SHEET = {"type": "object", "required": ["lines"],
               "properties": {"lines": {"type": "array", "minItems": 1, "maxItems": 20, "items": SPLIT_LINE}}}
BOOST = {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "integer", "minimum": 1}}}
REFUND = {"type": "object", "properties": {"amount": {"type": "integer", "minimum": 1}}}
TIP_SETTINGS = {"type": "object", "properties": {"currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                                                 "tip_min": {"type": "integer", "minimum": 1},
                                                 "tip_max": {"type": "integer", "minimum": 1}}}
USERNAME = {"type": "object", "required": ["username"],
            "properties": {"username": {"type": "string", "minLength": 1, "maxLength": 32, "pattern": "\\S"}}}
_time = {"type": "string", "format": "date-time"}
SHOW_EDIT = {"type": "object", "additionalProperties": False, "properties": {
    "title": {"type": "string", "maxLength": 200}, "starts_at": _time, "ends_at": {**_time, "type": ["string", "null"]},
    "currency": {"type": "string", "example": "USD"}, "replay_hours": {"type": "integer", "minimum": 0},
    "record": {"type": ["boolean", "null"], "description": "recorded; null: on when a tier includes replay"}}}
SHOW = {**SHOW_EDIT, "required": ["title", "starts_at"]}
TIER_EDIT = {"type": "object", "additionalProperties": False, "properties": {
    "name": {"type": "string", "maxLength": 100},
    "price": {"type": "integer", "minimum": 0, "description": "minor units; the suggested amount when min_price is set"},
    "min_price": {"type": ["integer", "null"], "minimum": 1,
                  "description": "pay what you want from this floor; null or absent: a fixed price"},
    "quantity": {"type": ["integer", "null"], "minimum": 0, "description": "seats; null or absent: unlimited"},
    "sales_start": {**_time, "type": ["string", "null"]}, "sales_end": {**_time, "type": ["string", "null"]},
    "latency_class": {"enum": ["realtime", "standard"]},
    "chat": {"type": "boolean"}, "replay": {"type": "boolean"}}}
TIER = {**TIER_EDIT, "required": ["name", "price"]}
COMP = {"type": "object", "required": ["username", "tier_id"],
        "properties": {"username": {"type": "string"}, "tier_id": {"type": "string"}}}
ORDER = {"type": "object", "required": ["tier_id"],
         "properties": {"tier_id": {"type": "string"}, "amount": {"type": "integer", "minimum": 1}}}

# (method, path, summary, request body schema or None, {status: description})
ROUTES: list[tuple[str, str, str, dict[str, Any] | None, dict[int, str]]] = [
    ("post", "/api/accounts", "Sign up", CREDENTIALS,
     {201: "created", 400: "bad input, a common password, or one with nothing visible",
      409: "username taken, or too like a taken one", 429: "too many sign-ups from this address",
      503: "busy: try again (Retry-After)"}),
    ("post", "/api/sessions", "Log in: token and cookie", LOGIN,
     {200: "signed in", 401: "wrong credentials",
      429: "too many failed log-ins for this account or address (Retry-After)", 503: "busy: try again (Retry-After)"}),
    ("delete", "/api/sessions", "Log out", None, {204: "signed out", 401: "not signed in"}),
    ("get", "/api/me", "The signed-in user", None, {200: "the user", 401: "not signed in"}),
    ("get", "/api/me/sessions", "Your live sessions: id, created_at, last_seen_at, expires_at, user_agent, current "
     "(never the token)", None, {200: "sessions", 401: "not signed in"}),
    ("delete", "/api/me/sessions/{session_id}", "End one of your sessions", None,
     {204: "ended", 401: "not signed in", 404: "no session of yours with that id"}),
    ("post", "/api/rooms/{slug}/socket-ticket", "A single-use ticket for /ws/rooms/{slug}?ticket=... "
     "(expires_at, about 60 s)", None,
     {201: "ticket and expires_at", 401: "not signed in", 404: "no such room", 429: "too many unused tickets"}),
    ("get", "/api/rooms/{slug}/bans", "Who is banned from the room (username, by, created_at), newest first; "
     "owner and hosts only", None, {200: "bans", 401: "not signed in", 403: "not the owner or a host",
                                    404: "no such room"}),
    ("post", "/api/rooms/{slug}/publish-ticket", "The owner's single-use ticket for POST /whip/{slug} "
     "(Bearer token in place of the stream key; expires_at, about 60 s)", None,
     {201: "ticket and expires_at", 401: "not signed in", 403: "not the room's owner", 404: "no such room",
      429: "too many unused tickets"}),
    ("post", "/api/rooms", "Create a room (you own it); the stream key is shown once", ROOM_NEW,
     {201: "the room with its stream key", 401: "not signed in", 409: "room_quota: owns the most rooms allowed",
      429: "too many new rooms from this account or address"}),
    ("get", "/api/rooms", "List rooms, each with live, stream_state and viewers (fans watching now)", None, {200: "rooms"}),
    ("get", "/api/rooms/{slug}", "A room with its URLs and your role", None, {200: "the room", 404: "no such room"}),
    ("patch", "/api/rooms/{slug}", "Edit the room's description (shown while it is offline) and recording settings (owner)", ROOM_EDIT,
     {200: "the room", 400: "too long", 403: "not the owner", 404: "no such room"}),
    ("put", "/api/rooms/{slug}/image", "Set the room's image (owner): the raw bytes of a PNG, JPEG or WebP file "
     "of at most 1,000,000 bytes", None, {200: "the room, with image_url", 400: "bad_image: not one of those types",
                                          403: "not the owner", 413: "too large"}),
    ("delete", "/api/rooms/{slug}/image", "Remove the room's image (owner)", None,
     {204: "removed", 403: "not the owner", 404: "no image"}),
    ("get", "/api/rooms/{slug}/image", "The room's image", None, {200: "the image", 404: "no image"}),
    ("get", "/api/rooms/{slug}/thumbnail.jpg", "A still of the live stream (JPEG, at most --thumbnail-interval-s old)",
     None, {200: "image/jpeg", 404: "no_thumbnail: offline, no keyframe yet, or a show gates the room (a node "
                                     "without the stream fetches it from the holder)"}),
    ("post", "/api/rooms/{slug}/stream-key", "Rotate the stream key (owner); ends a live stream made with the old key", None, {200: "the new key", 403: "not the owner"}),
    ("post", "/api/rooms/{slug}/stream/end", "End the live stream now (owner)", None, {200: "offline; `ended` says whether it was live", 403: "not the owner"}),
    ("post", "/api/rooms/{slug}/overlay-key", "Rotate the OBS overlay key (owner)", None,
     {200: "the new overlay key and URL", 403: "not the owner"}),
    ("post", "/api/rooms/{slug}/overlay/test-alert", "Show a test alert on the overlay (owner)", TEST_ALERT,
     {202: "published", 403: "not the owner"}),
    ("get", "/api/rooms/{slug}/hosts", "List hosts", None, {200: "hosts"}),
    ("post", "/api/rooms/{slug}/hosts", "Add a host (owner)", USERNAME, {201: "added", 403: "not the owner"}),
    ("delete", "/api/rooms/{slug}/hosts/{username}", "Remove a host (owner)", None, {204: "removed", 404: "not a host"}),
    ("get", "/api/rooms/{slug}/songs", "A page of the room's song catalog (?limit=1..200, default 100; ?cursor=next_cursor)",
     None, {200: "songs and next_cursor (null on the last page)", 400: "bad limit or cursor"}),
    ("post", "/api/rooms/{slug}/songs", "Add a song (owner, host)", SONG,
     {201: "added", 400: "bad split", 409: "catalog_full"}),
    ("patch", "/api/rooms/{slug}/songs/{song_id}", "Edit a song (owner, host)", SONG, {200: "updated"}),
    ("delete", "/api/rooms/{slug}/songs/{song_id}", "Remove a song (owner, host)", None, {204: "removed"}),
    ("get", "/api/rooms/{slug}/stream", "Live stream state", None, {200: "state", 404: "no such room"}),
    ("post", "/api/rooms/{slug}/restreams", "Add a restream target (owner); the key is never shown again",
     RESTREAM, {201: "the target, key masked", 400: "bad target", 403: "not the owner"}),
    ("get", "/api/rooms/{slug}/restreams", "Restream targets with live status (owner)", None,
     {200: "targets", 403: "not the owner"}),
    ("patch", "/api/rooms/{slug}/restreams/{target_id}", "Enable, disable or edit a target (owner)", RESTREAM_EDIT,
     {200: "the target", 404: "no such target"}),
    ("delete", "/api/rooms/{slug}/restreams/{target_id}", "Remove a target (owner)", None,
     {204: "removed", 404: "no such target"}),
    ("post", "/api/rooms/{slug}/tips", "Tip the room: a checkout to pay (signed in)", TIP,
     {201: "tip_id and checkout_url", 400: "bad amount, message too long or a blocked term",
      403: "banned or timed out (tip without a message)", 502: "the payment provider failed"}),
    ("post", "/api/rooms/{slug}/song-requests/{request_id}/boosts", "Boost a queued song request (signed in)", BOOST,
     {201: "boost_id and checkout_url", 400: "bad amount", 404: "no such request in the queue"}),
    ("get", "/api/rooms/{slug}/tip-settings", "The room's currency and tip bounds", None, {200: "settings"}),
    ("put", "/api/rooms/{slug}/tip-settings", "Set the room's currency and tip bounds (owner)", TIP_SETTINGS,
     {200: "settings", 400: "bad currency or bounds", 403: "not the owner"}),
    ("get", "/api/me/payments", "Your own payments (tips, boosts), newest first", None,
     {200: "payments", 401: "not signed in"}),
    ("post", "/api/payments/{payment_id}/refund", "Refund a payment made in your room (owner)", REFUND,
     {202: "refund requested; the ledger follows the provider's webhook", 403: "not the room's owner",
      409: "not paid"}),
    ("post", "/api/rooms/{slug}/shows", "Schedule a show (owner)", SHOW,
     {201: "the show", 400: "bad field", 401: "not signed in", 403: "not the owner", 404: "no such room"}),
    ("get", "/api/rooms/{slug}/shows", "The room's shows with their tiers", None, {200: "shows", 404: "no such room"}),
    ("get", "/api/shows/{show_id}/analytics", "A show's analytics (owner; hosts see no money): audience peak, "
     "unique viewers, watch time, chat and songs, revenue from the ledger, and every series", None,
     {200: "the analytics", 401: "not signed in", 403: "neither owner nor host", 404: "no such show"}),
    ("get", "/api/shows/{show_id}/analytics/{series}.csv", "One analytics series as CSV: viewers, health, chat, "
     "marks, revenue (owner)", None, {200: "text/csv", 403: "neither owner nor host (revenue: not the owner)",
                                      404: "no such show or series"}),
    ("get", "/api/shows/{show_id}/analytics/{chart}.svg", "A chart as SVG: viewers (with the setlist: each song from play to done), chat, "
     "revenue (owner)", None, {200: "image/svg+xml", 403: "neither owner nor host (revenue: not the owner)",
                               404: "no such show or chart"}),
    ("get", "/api/shows/{show_id}", "A show (public): tiers with price, what each unlocks, remaining, on_sale; "
     "the owner also sees sold and held", None, {200: "the show", 404: "no such show"}),
    ("patch", "/api/shows/{show_id}", "Change a show (owner)", SHOW_EDIT,
     {200: "the show", 400: "bad field", 403: "not the owner", 404: "no such show"}),
    ("post", "/api/shows/{show_id}/tiers", "Add a tier (owner; hosts never set prices)", TIER,
     {201: "the tier", 400: "bad field", 403: "not the owner", 404: "no such show"}),
    ("patch", "/api/shows/{show_id}/tiers/{tier_id}", "Change a tier (owner)", TIER_EDIT,
     {200: "the tier", 400: "bad field", 403: "not the owner", 404: "no such show or tier"}),
    ("post", "/api/shows/{show_id}/comps", "Give a ticket free (owner; guest list); takes a seat", COMP,
     {201: "the ticket", 403: "not the owner", 404: "no such show, tier or user", 409: "sold_out"}),
    ("post", "/api/shows/{show_id}/orders", "Buy a ticket: a seat held for --ticket-hold-s and a checkout to pay "
     "(signed in); amount only for pay-what-you-want tiers", ORDER,
     {201: "order_id, hold_expires_at, checkout_url (null for a free tier, then ticket_id is set)",
      400: "bad amount (bad_price)", 401: "not signed in", 404: "no such show or tier",
      409: "sold_out, off_sale, or the show is over", 502: "the payment provider failed"}),
    ("get", "/api/orders/{order_id}", "Your order: held, paid (ticket_id), expired, failed, or refunded_sold_out "
     "(paid after the hold expired with no seat left: the money went back)", None,
     {200: "the order", 404: "no such order of yours"}),
    ("post", "/api/tickets/{ticket_id}/refund", "Refund a ticket (the room's owner): access ends now; the ledger "
     "reverses when the provider's refund arrives", None,
     {200: "a comp, revoked", 202: "refund requested, ticket revoked", 403: "not the room's owner",
      404: "no such ticket", 409: "refunded already"}),
    ("post", "/api/shows/{show_id}/viewing-sessions", "Watch on this device (ticket holder, owner, host): "
     "session, token, heartbeat_s, hls_url (?vt=token; also set as the nal_vt cookie for native HLS), "
     "whep_url (realtime tiers; Authorization: Bearer token), socket_url",
     {"type": "object", "properties": {"takeover": {"type": "boolean"}}},
     {201: "the session", 401: "not signed in", 403: "ticket_needed", 404: "no such show",
      409: "watching_elsewhere: send takeover true"}),
    ("post", "/api/viewing-sessions/{session}/heartbeat", "Renew the viewing token every heartbeat_s (~15 s); "
     "renews the nal_vt cookie too",
     {"type": "object", "required": ["token"],
      "properties": {"token": {"type": "string", "minLength": 1, "maxLength": 512, "pattern": "\\S"}}},
     {200: "a fresh token and URLs", 404: "no such session of yours (a token is renewed only for its ticket's holder)",
      409: "taken_over: another device or a refund"}),
    ("get", "/api/me/tickets", "Your tickets (never anyone else's)", None, {200: "tickets", 401: "not signed in"}),
    ("post", "/api/tickets/{ticket_id}/transfer", "Give your ticket to another user; your access ends", USERNAME,
     {200: "the ticket", 400: "same owner", 404: "no such ticket of yours, or no such user"}),
    ("get", "/api/me/balances", "Your ledger balances, per account and currency", None,
     {200: "balances", 401: "not signed in"}),
    ("get", "/api/me/statement", "Your statement for ?from=YYYY-MM-DD&to=YYYY-MM-DD&format=json|csv", None,
     {200: "opening balances, movements, closing balances", 400: "bad date or format", 401: "not signed in"}),
    ("post", "/api/me/payout-account", "Open your payout account (sandbox: ready at once; Stripe: a connected "
     "account and onboarding_url, a single-use account link)", None,
     {200: "your account (a fresh link when not ready)", 201: "account opened", 401: "not signed in",
      502: "the payment provider failed"}),
    ("get", "/api/me/payout-account", "Your payout account: ready, payouts_enabled, requirements_due, reason", None,
     {200: "the account (account null when none)", 401: "not signed in"}),
    ("get", "/api/me/payout-account/refresh", "The onboarding link's refresh URL: 302 to a new link", None,
     {302: "to Stripe's onboarding, or /earnings when ready", 401: "not signed in"}),
    ("get", "/api/me/earnings", "Your earnings: balances per currency (available, in_hold, in_transit, paid), "
     "lines per room and show (gross, fees, commission, share, recouped), payouts", None,
     {200: "earnings", 401: "not signed in"}),
    ("get", "/api/me/tax-summary", "Your year-end tax summary for ?year=YYYY (CSV: paid_out, earned by kind)", None,
     {200: "CSV", 400: "bad_year", 401: "not signed in"}),
    ("get", "/api/rooms/{slug}/recording", "The room's recording on this node (owner, host): state (recording, "
     "ended, failed), segments, duration, gaps, error", None,
     {200: "recording (null when none)", 401: "not signed in", 403: "not the owner or a host"}),
    ("get", "/api/shows/{show_id}/recording", "A show's recording for whoever may replay it (owner, hosts, a replay "
     "tier's viewing token ?vt=): duration, chapters (title, artist, start, end in seconds), playlist_url", None,
     {200: "the recording", 403: "replay_needed, tier_without_replay or replay_window_closed",
      404: "no recording"}),
    ("delete", "/api/shows/{show_id}/recording", "Delete the recording now (owner)", None,
     {200: "deleted", 403: "not the owner", 409: "still being recorded"}),
    ("put", "/api/shows/{show_id}/recording/keep", "Keep the recording past retention, or not (owner)",
     {"type": "object", "required": ["keep"], "properties": {"keep": {"type": "boolean"}}},
     {200: "kept or not", 403: "not the owner"}),
    ("post", "/api/shows/{show_id}/clips", "Cut a clip of the recording (owner): whole segments from start to end "
     "(seconds, at most 600), public at the answer's url", {"type": "object", "required": ["start", "end"],
     "properties": {"start": {"type": "number", "minimum": 0}, "end": {"type": "number"}}},
     {201: "id, url, start, duration", 400: "bad start or end", 403: "not the owner", 404: "no recording"}),
    ("get", "/api/shows/{show_id}/recording.mp4", "One MP4 of the show (owner): a remux in the background, 202 "
     "{state, progress} until it is ready, then the file (Range requests served)", None,
     {200: "the MP4", 202: "being made: progress 0..1 (Retry-After)", 403: "not the owner",
      409: "still being recorded"}),
    ("get", "/api/rooms/{slug}/split-sheet", "The room's split sheet (the room's owner): lines with party, role, "
     "bps and, for songwriters not signed up yet, their invitation", None,
     {200: "the sheet", 401: "not signed in", 403: "not the room's owner", 404: "no such room"}),
    ("put", "/api/rooms/{slug}/split-sheet", "Set the room's split sheet (the room's owner): integer bps summing "
     "to 10,000; a songwriter or publisher without an account is named and invited (invite_url, once)",
     SPLIT_SHEET, {200: "the sheet and the new invitations", 400: "bad_split, no_user, no_invitation",
                   401: "not signed in", 403: "not the room's owner", 404: "no such room"}),
    ("get", "/api/invitations/{token}", "A split-sheet invitation: room, name, role, bps, claimed", None,
     {200: "the invitation", 404: "no such invitation"}),
    ("post", "/api/invitations/{token}/claim", "Claim the share: what accrued moves to you and the sheet names you",
     None, {200: "claimed; what moved per currency", 401: "not signed in", 404: "no such invitation",
            409: "claimed by someone else, or already on the sheet"}),
    ("get", "/api/shows/{show_id}/settlement", "The show's settlement sheet (the room's owner; ?format=json|csv): "
     "gross, fees, commission, royalty pool, and per party its split lines, earned, recouped, paid, reversed", None,
     {200: "the sheet", 400: "bad_format", 401: "not signed in", 403: "not the room's owner", 404: "no such show"}),
    ("get", "/api/shows/{show_id}/setlist.csv", "The show's performance-rights setlist (the room's owner; CSV)", None,
     {200: "CSV", 401: "not signed in", 403: "not the room's owner", 404: "no such show"}),
]


# Operations anyone may call; a session, when sent, may change the answer but is not needed.
PUBLIC: frozenset[tuple[str, str]] = frozenset({
    ("post", "/api/accounts"), ("post", "/api/sessions"), ("get", "/api/rooms"), ("get", "/api/rooms/{slug}"),
    ("get", "/api/rooms/{slug}/image"), ("get", "/api/rooms/{slug}/thumbnail.jpg"), ("get", "/api/rooms/{slug}/hosts"),
    ("get", "/api/rooms/{slug}/songs"), ("get", "/api/rooms/{slug}/stream"), ("get", "/api/rooms/{slug}/tip-settings"),
    ("get", "/api/rooms/{slug}/shows"), ("get", "/api/shows/{show_id}"), ("get", "/api/shows/{show_id}/recording"),
    ("get", "/api/invitations/{token}"),
})
SIGNED_IN: list[dict[str, list[str]]] = [{"bearer": []}, {"cookie": []}]
ANYONE: list[dict[str, list[str]]] = [{}, *SIGNED_IN]
# (applies to the operation, code, text): the one rule for answers many operations share.
COMMON: list[tuple[Callable[[bool, list[str], dict[str, Any] | None], bool], int, str]] = [
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


def answers_of(method: str, path: str, body: dict[str, Any] | None, answers: dict[int, str]) -> dict[int, str]:
    """The route's own answers plus the common ones that apply to it (its own text wins)."""
    public = (method, path) in PUBLIC
    merged = {code: text for applies, code, text in COMMON if applies(public, path_params(path), body)}
    merged.update(answers)
    return dict(sorted(merged.items()))


def operation(method: str, path: str, summary: str, body: dict[str, Any] | None,
              answers: dict[int, str]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "security": ANYONE if (method, path) in PUBLIC else SIGNED_IN,
        "responses": {str(code): {"description": text}
                      for code, text in answers_of(method, path, body, answers).items()},
    }
    params = path_params(path)
    if params:
        op["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                            for p in params]
    if body is not None:
        op["requestBody"] = {"required": bool(body.get("required")), "content": {"application/json": {"schema": body}}}
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
        if body is not None:
            Draft202012Validator.check_schema(body)
            found[(method.upper(), path)] = Draft202012Validator(body)
    return found


VALIDATORS = _validators()


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
            raise BadRequest(f"{where}: {error.message}", code)
        request[BODY] = data
    response: web.StreamResponse = await handler(request)
    return response


async def openapi(_request: web.Request) -> web.Response:
    return json_response(document())


def setup(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi)
    app.middlewares.append(validate_middleware)
