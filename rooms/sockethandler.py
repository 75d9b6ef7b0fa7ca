"""One room socket ``GET /ws/rooms/{slug}``, from upgrade to close: the socket handler.

``SocketHandler.handle(request, slug, identity)`` admits the socket against the per-node
caps (caps.py), gets the room's hub from the ``HubRegistry`` (hubs.py; unknown rooms get
HTTP 404 before the upgrade), asks the ``Gate``, upgrades, sends the first frame, then hands
the connection to a ``RoomConnection`` (wsconn.py: no aiohttp request or task is held while
the socket idles), which reads frames in order and gives each to ``on_message``: parse
(ops.py), look up what the op's declaration names (``Lookup``: a user, a song), decide
(core.py, synchronous), take the op's rate-limit token (``RateLimiter``: in process, or in
Redis for every node), perform the durable effects, publish the events on the bus, ack.
The first frame and the close codes are gateway.py's docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import WSMessage, WSMsgType, web

from rooms.bus import EventBus
from rooms.caps import (
    GUESTS_PER_ADDRESS,
    MAX_SOCKETS,
    SOCKETS_PER_USER,
    Refusal,
    SocketCaps,
    socket_key,
)
from rooms.core import (
    Actor,
    Context,
    Decision,
    Effect,
    ForgetVotes,
    SaveBan,
    SaveSettings,
    SaveTimeout,
    SaveVote,
    rate_limited,
)
from rooms.errors import Refused, RoomsError
from rooms.fanout import BANNED, NOT_ADMITTED, RESTARTING, SocketWriter
from rooms.hub import Member, RoomHub
from rooms.hubs import HubRegistry
from rooms.metrics import ERRORS, FRAMES_IN, SOCKETS_OPEN, SOCKETS_REFUSED
from rooms.ops import parse_frame
from rooms.ports import Admission, Gate, Identity, LiveStreams, RoomStore
from rooms.protocol import (
    MSGPACK_SUBPROTOCOL,
    ClientFrame,
    WireFormat,
    ack,
    encode,
    error,
    not_admitted,
    scrubbed,
    snapshot,
)
from rooms.ratelimit import MemoryRateLimiter, RateLimiter
from rooms.registry import ROOM, Lookup
from rooms.wsconn import RoomConnection
from rooms.wsio import detach, frame_transport

log = logging.getLogger(__name__)


_DATA = (WSMsgType.TEXT, WSMsgType.BINARY)


def new_id() -> str:
    return secrets.token_hex(8)


def _refused(refusal: Refusal) -> web.HTTPException:
    body = json.dumps({"error": "too_many_sockets", "message": refusal.message})
    kind = web.HTTPTooManyRequests if refusal.status == 429 else web.HTTPServiceUnavailable
    return kind(text=body, content_type="application/json", headers={"Retry-After": "10"})


def _since(request: web.Request) -> tuple[int, str] | None:
    since, epoch = request.query.get("since"), request.query.get("epoch")
    if since is None or epoch is None or not (since.isascii() and since.isdigit()):
        return None
    return int(since), epoch


class SocketHandler:
    def __init__(
        self,
        rooms: HubRegistry,
        bus: EventBus,
        store: RoomStore,
        gate: Gate,
        *,
        max_frame: int = 16 * 1024,
        buffer: int = 512,
        heartbeat_s: float = 20.0,
        clock: Callable[[], float] = time.time,
        streams: LiveStreams | None = None,
        guests_per_address: int = GUESTS_PER_ADDRESS,
        sockets_per_user: int = SOCKETS_PER_USER,
        max_sockets: int = MAX_SOCKETS,
        limiter: RateLimiter | None = None,
        on_published: Callable[[str, str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.rooms = rooms
        self.bus = bus
        self.store = store
        self.gate = gate
        self.max_frame = max_frame
        self.buffer = buffer
        self.heartbeat_s = heartbeat_s
        self.clock = clock
        self.streams = streams
        self.limiter: RateLimiter = limiter or MemoryRateLimiter(clock)
        self.on_published = on_published
        """Told of every event published for a socket's command, on the node that accepted it
        (so once in the cluster): the server's show analytics count chat and songs with it."""
        self.caps = SocketCaps(guests_per_address, sockets_per_user, max_sockets)
        self.closing = False
        """Set when the node drains: a socket that upgrades now is told to reconnect."""

    async def handle(
        self,
        request: web.Request,
        slug: str,
        identity: Identity | None,
        *,
        read_only: bool = False,
        address: str | None = None,
    ) -> web.StreamResponse:
        """Serve one room socket. ``read_only`` (the server checked an overlay key): the
        socket receives the room's events whatever the gate says, and may send no op.
        ``address``: the client's, as the caps count it (default: the peer's)."""
        if read_only:
            identity = None
        key = socket_key(identity.user_id if identity else None, address or request.remote or "?")
        refusal = self.caps.admit(key)
        if refusal is not None:
            SOCKETS_REFUSED.labels(refusal.reason).inc()
            raise _refused(refusal)
        detached = False
        try:
            ws, detached = await self._serve(request, slug, identity, key, read_only)
            return ws
        finally:
            if not detached:
                self.caps.release(key)

    async def _hub(self, slug: str) -> RoomHub:
        try:
            hub = await self.rooms.get(slug)
        except RoomsError as exc:
            raise web.HTTPServiceUnavailable(text=exc.message) from exc
        if hub is None:
            raise web.HTTPNotFound(text=f"no room {slug!r}")
        return hub

    async def _serve(
        self, request: web.Request, slug: str, identity: Identity | None, key: str, read_only: bool
    ) -> tuple[web.StreamResponse, bool]:
        """Upgrade and join; then the connection is the ``RoomConnection``'s (wsconn.py),
        which reads the socket's frames without a task while it is idle. True: detached."""
        hub = await self._hub(slug)
        hub.joining += 1  # keeps an idle hub from being dropped while this socket starts
        try:
            ws, member = await self._open(request, hub, identity, None if read_only else key)
            if member is None:
                return ws, False
            SOCKETS_OPEN.inc()
            try:
                detach(
                    request,
                    ws,
                    lambda transport, outer, when: self._connection(
                        transport, outer, hub, member, key, when
                    ),
                )
            except BaseException:
                hub.remove(member)
                SOCKETS_OPEN.dec()
                member.writer.stop()
                raise
            return ws, True
        finally:
            hub.joining -= 1
            hub.idle_since = self.clock()

    def _connection(
        self,
        transport: asyncio.Transport,
        outer: Any,
        hub: RoomHub,
        member: Member,
        key: str,
        when: float,
    ) -> RoomConnection:
        conn = RoomConnection(
            transport, outer, self, hub, member, key, self.heartbeat_s, self.max_frame, when
        )
        member.writer.ws = conn
        return conn

    async def on_message(self, conn: RoomConnection, msg: WSMessage) -> None:
        """One frame from the socket's read loop (wsconn.py), in order."""
        member: Member = conn.member
        if msg.type in _DATA:
            FRAMES_IN.inc()
            if not member.writer.closing:
                await self._on_frame(conn.hub, member, msg.data, member.writer.fmt)
        elif msg.type is WSMsgType.ERROR:
            ERRORS.labels(f"close_{conn.close_code}").inc()

    async def on_end(self, conn: RoomConnection) -> None:
        """The read loop ended: leave the room, let our close finish, release the caps."""
        hub: RoomHub = conn.hub
        writer = conn.member.writer
        try:
            hub.remove(conn.member)
            SOCKETS_OPEN.dec()
            if writer.closing:
                await writer.wait_closed(3.0)  # our close is in flight: let it finish
            writer.stop()
        finally:
            hub.idle_since = self.clock()
            if conn.key is not None:
                self.caps.release(conn.key)

    async def _open(
        self, request: web.Request, hub: RoomHub, identity: Identity | None, viewer: str | None
    ) -> tuple[web.WebSocketResponse, Member | None]:
        """Upgrade, then refuse (closed, no member) or join (the member, its writer started)."""
        if viewer is None:  # read-only
            admission = Admission(True, False)
        else:
            admission = await self.gate.admit(hub.state.info, identity)
        ws = web.WebSocketResponse(
            protocols=(MSGPACK_SUBPROTOCOL,),
            heartbeat=self.heartbeat_s,
            compress=False,
            max_msg_size=self.max_frame,
        )
        await ws.prepare(request)
        if self.closing:
            await ws.close(code=RESTARTING, message=b"server restarting, reconnect")
            return ws, None
        if not admission.may_join:
            await self._refuse(ws, admission)
            await ws.close(
                code=NOT_ADMITTED, message=(admission.reason or "not admitted").encode()[:120]
            )
            return ws, None
        if identity is not None and hub.state.moderation.is_banned(identity.user_id):
            await ws.close(code=BANNED, message=b"banned from this room")
            return ws, None
        fmt = WireFormat.for_subprotocol(ws.ws_protocol)
        writer = SocketWriter(ws, fmt, self.buffer, frame_transport(ws))
        member = Member(writer, identity, admission.may_chat, viewer)
        self._join(hub, member, _since(request))
        writer.start()
        return ws, member

    async def _refuse(self, ws: web.WebSocketResponse, admission: Admission) -> None:
        """Tell a refused socket why, with what the gate lets anyone know, before the close."""
        if admission.info is None:
            return
        frame = not_admitted(admission.code or "not_admitted", admission.reason, admission.info)
        payload = encode(frame, WireFormat.for_subprotocol(ws.ws_protocol))
        with contextlib.suppress(ConnectionError):  # gone already: the close finds out
            if isinstance(payload, str):
                await ws.send_str(payload)
            else:
                await ws.send_bytes(payload)

    def _join(self, hub: RoomHub, member: Member, since: tuple[int, str] | None) -> None:
        """First frame and membership in one synchronous step: no event can fall between."""
        history, writer = hub.history, member.writer
        missed = history.since(since[0], since[1], self.clock()) if since else None
        if since is not None and missed is not None:
            writer.push_frame({"type": "recovered", "seq": since[0], "epoch": since[1]})
            for event in missed:
                writer.push_event(event)
        else:
            recovered = False if since is not None else None
            data = self._snapshot(hub)
            if member.user_id is not None:
                data["voted"] = hub.state.songs.voted_by(member.user_id)
            if not writer.push_frame(snapshot(history.seq, history.epoch, data, recovered)):
                if not writer.closing:  # could not be encoded: send what can be
                    clean = scrubbed(data, writer.fmt)
                    writer.push_frame(snapshot(history.seq, history.epoch, clean, recovered))
        hub.add(member)

    def _snapshot(self, hub: RoomHub) -> dict[str, Any]:
        """The replica's snapshot, with the stream state of this node's media hub when it
        holds the stream (the replica may have lost it, e.g. Redis restarted empty)."""
        data = hub.state.snapshot()
        held = self.streams.held_state(hub.slug) if self.streams is not None else None
        if held is not None:
            data["stream"] = held
        return data

    async def _on_frame(
        self, hub: RoomHub, member: Member, payload: str | bytes, fmt: WireFormat
    ) -> None:
        client_id: Any = None
        try:
            frame = parse_frame(payload, fmt)
            client_id = frame.id
            await self._perform(hub, member, frame)
        except RoomsError as exc:
            client_id = getattr(exc, "client_id", None) or client_id
            ERRORS.labels(exc.code).inc()
            member.writer.push_frame(error(client_id, exc.code, exc.message))
            return
        except Exception:
            log.exception("room %s: op failed", hub.slug)
            ERRORS.labels("internal").inc()
            member.writer.push_frame(error(client_id, "internal", "internal error, try again"))
            return
        member.writer.push_frame(ack(frame.id))

    async def _perform(self, hub: RoomHub, member: Member, frame: ClientFrame) -> None:
        command, info = frame.command, hub.state.info
        lookup = ROOM.op_for(command).lookup
        target = await self.store.user_id(command.user) if lookup is Lookup.USER else None  # type: ignore[union-attr]
        song = await self.store.song(info.id, command.song_id) if lookup is Lookup.SONG else None  # type: ignore[union-attr]
        # From here to the publish, nothing awaits: decide reads and writes hub state at once.
        actor = Actor.of(hub.state.info, member.identity, member.may_chat)
        decision = hub.state.decide(actor, command, Context(self.clock(), new_id, target, song))
        await self._charge(hub.slug, decision)
        for effect in decision.effects:
            await self._perform_effect(info.id, effect)
        try:
            for out in decision.events:
                await self.bus.publish(hub.slug, out.type, out.data, None)
                if self.on_published is not None:
                    self.on_published(hub.slug, out.type, out.data)
        except RoomsError:  # not published: a stored vote would refuse the fan's retry
            hub.state.not_published(decision)
            for effect in decision.effects:
                if isinstance(effect, SaveVote):
                    await self.store.remove_vote(info.id, effect.request_id, effect.user_id)
            raise

    async def _charge(self, slug: str, decision: Decision) -> None:
        """Take the op's token (every node shares the bucket when it lives in Redis)."""
        if decision.charge is not None:
            wait = await self.limiter.take(slug, decision.charge.user_id, decision.charge.rate)
            if wait > 0:
                raise rate_limited(wait)

    async def _perform_effect(self, room_id: int, effect: Effect) -> None:
        if isinstance(effect, SaveBan):
            await self.store.set_ban(room_id, effect.user_id, effect.by_user_id, effect.banned)
        elif isinstance(effect, SaveSettings):
            await self.store.save_settings(room_id, effect.settings)
        elif isinstance(effect, SaveTimeout):
            await self.store.set_timeout(room_id, effect.user_id, effect.by_user_id, effect.until)
        elif isinstance(effect, SaveVote):
            if not await self.store.add_vote(room_id, effect.request_id, effect.user_id):
                raise Refused("you already voted for this request", "already_voted")
        elif isinstance(effect, ForgetVotes):
            await self.store.forget_votes(room_id, effect.request_ids)
