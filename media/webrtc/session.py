"""WHIP and WHEP sessions: one aiortc peer connection each, negotiated from the client's offer.

:class:`WebRtc` owns every session of the process (keyed by a random id that is also the path
of the session resource). WHEP viewers read the hub: video as it is, Opus as the stream's derived
track (the WHIP publisher's own, or made by the AAC->Opus bridge this registers with the hub,
:mod:`media.webrtc.bridge`). The HTTP layer (:mod:`media.webrtc.whip`,
:mod:`media.webrtc.whep`) only checks the request and calls :meth:`WebRtc.publish` /
:meth:`WebRtc.play` / :meth:`WebRtc.end`.

A WHEP offer for a room this node's hub does not hold is served through an edge relay when
:attr:`WebRtc.edges` is set and another node holds the room (:mod:`media.webrtc.edge`): the
session holds its relay from its registration to its end, and reads the relay's hub instead
of this node's.

A session ends on DELETE, when its peer connection fails or closes, when it has not connected
within ``settings.connect_timeout_s`` of its offer, or (WHEP) when the stream goes offline.

Capacity (see :class:`WebRtcSettings`): WHIP and WHEP sessions are counted in pools of their
own; WHEP sessions are also capped per client address and per room. A session takes its
place in the pools *before* the first await of its negotiation, so concurrent offers cannot
all pass a check that only one of them would.

Negotiation is CPU work on the event loop (about 10 ms of it per session in aiortc: SDP
parsing, codec matching, certificate fingerprints, ICE gathering), done in a few steps. A
burst of offers negotiated all at once would fill the loop's queue with those steps, so every
other callback (a chat message, a health check, the publisher's media) would wait behind
all of them. WHEP offers therefore negotiate :data:`WHEP_NEGOTIATIONS` at a time and the
rest wait their turn without holding the loop (they already hold their place in the pool,
which bounds how many can wait); WHIP has a turn of its own, so a flood of viewers never
delays a performer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCSessionDescription
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from media.errors import UsageError
from media.hub import Hub
from media.throttle import address_key
from media.units import Codec, TrackKind
from media.webrtc import bridge
from media.webrtc.config import WebRtcSettings
from media.webrtc.edge import EdgeRelay, EdgeRelays
from media.webrtc.egress import AudioPacketTrack, VideoPacketTrack
from media.webrtc.errors import NoCapacity, NoUsableCodec, OfferError, SessionNotFound
from media.webrtc.fanout import RoomSender, send_from_room
from media.webrtc.ice import apply_ice_policy, ignore_bitrate_feedback, new_peer_connection
from media.webrtc.ingest import WhipPublisher
from media.webrtc.metrics import NEVER_CONNECTED, SESSIONS
from media.webrtc.payloads import H264Payloads
from media.webrtc.sdp import OfferSummary, inspect_offer
from media.webrtc.srtp import check_pylibsrtp
from media.webrtc.taps import (
    check_aiortc,
    drop_receive_estimator,
    negotiated_codecs,
    on_keyframe_request,
)

log = logging.getLogger(__name__)

TAKEOVER_AFTER = 2.0
WHEP_NEGOTIATIONS = 1
WHIP_NEGOTIATIONS = 2
VIEWER_MAX_UNITS = 300  # about 10 s of 30 fps video: beyond that a viewer skips to a keyframe


class NotLive(Exception):
    """WHEP for a room with no stream (answered 404 by the HTTP layer)."""


@dataclass(eq=False)
class Session:
    id: str
    kind: str  # "whip" or "whep"
    slug: str
    pc: RTCPeerConnection
    peer: str = ""
    publisher: WhipPublisher | None = None
    tracks: list[VideoPacketTrack | AudioPacketTrack] = field(default_factory=list)
    relay: EdgeRelay | None = None
    """The edge relay a WHEP session reads (the room's ingest is on another node), else None."""
    ended: bool = False
    timer: asyncio.TimerHandle | None = None


def _prefer(kind: str, names: tuple[str, ...], sender: bool) -> list[RTCRtpCodecCapability]:
    caps = (RTCRtpSender if sender else RTCRtpReceiver).getCapabilities(kind)
    if caps is None:
        return []
    codecs = [c for name in names for c in caps.codecs if c.mimeType.lower() == f"{kind}/{name}"]
    return codecs + [c for c in caps.codecs if c.mimeType.lower() == f"{kind}/rtx"]


class WebRtc:
    """Every WHIP/WHEP session of this process; see the module docstring."""

    def __init__(self, hub: Hub, settings: WebRtcSettings | None = None) -> None:
        check_aiortc()
        check_pylibsrtp()
        self.hub = hub
        self.settings = settings or WebRtcSettings()
        bridge.register(hub)
        self._sessions: dict[str, Session] = {}
        self._publishers: dict[str, WhipPublisher] = {}
        self._payloads: weakref.WeakValueDictionary[str, H264Payloads] = weakref.WeakValueDictionary()
        self._rooms: weakref.WeakValueDictionary[str, RoomSender] = weakref.WeakValueDictionary()
        self._reaping: set[asyncio.Task[None]] = set()
        self._turns = {"whep": asyncio.Semaphore(WHEP_NEGOTIATIONS), "whip": asyncio.Semaphore(WHIP_NEGOTIATIONS)}
        self.edges: EdgeRelays | None = None
        """Edge relays for WHEP viewers of rooms another node holds (none: such offers are 404)."""
        self.on_end: list[Callable[[Session], None]] = []
        """Called once when a session ends, however it ends (DELETE, a dead peer, a revoked
        token, shutdown); must not block or raise (the server's analytics note the time)."""

    # -- queries -----------------------------------------------------------------------

    def viewers(self, slug: str) -> int:
        return sum(1 for s in self._sessions.values() if s.kind == "whep" and s.slug == slug)

    def publisher(self, slug: str) -> WhipPublisher | None:
        return self._publishers.get(slug)

    def payloads(self, slug: str) -> H264Payloads:
        """The room's shared video payloads (alive while a viewer's track holds them)."""
        payloads = self._payloads.get(slug)
        if payloads is None:
            payloads = self._payloads[slug] = H264Payloads()
        return payloads

    def room_sender(self, slug: str) -> RoomSender:
        """The room's media sender (alive while a viewer's sender holds it)."""
        room = self._rooms.get(slug)
        if room is None:
            room = self._rooms[slug] = RoomSender()
        return room

    def session(self, kind: str, slug: str, session_id: str) -> Session:
        session = self._sessions.get(session_id)
        if session is None or session.kind != kind or session.slug != slug:
            raise SessionNotFound(f"no {kind} session {session_id!r} in room {slug!r}")
        return session

    def count(self, kind: str, *, slug: str | None = None, peer: str | None = None) -> int:
        """Sessions of ``kind`` (being negotiated or open), optionally of one room or address."""
        return sum(
            1 for s in self._sessions.values()
            if s.kind == kind and (slug is None or s.slug == slug) and (peer is None or s.peer == peer)
        )  # fmt: skip

    def check_capacity(self, kind: str, slug: str, peer: str) -> None:
        """Raise :class:`NoCapacity` when a new ``kind`` session from ``peer`` for ``slug``
        would pass a cap (see :class:`WebRtcSettings`)."""
        cfg = self.settings
        if kind == "whip":
            if self.count("whip") >= cfg.max_publishers:
                raise NoCapacity("publishers_full", "this server has no room for another publisher")
            return
        if self.count("whep") >= cfg.max_viewers:
            raise NoCapacity("viewers_full", "this server has no room for another WebRTC viewer")
        if self.count("whep", slug=slug) >= cfg.max_viewers_per_room:
            raise NoCapacity("room_full", "this room has no room for another WebRTC viewer; try HLS")
        per_address = cfg.max_viewers_per_address
        if per_address and self.count("whep", peer=peer) >= per_address:
            raise NoCapacity("address_full", "too many WebRTC sessions from your address")

    # -- WHIP --------------------------------------------------------------------------

    def check_can_publish(self, slug: str) -> None:
        """Raise AlreadyPublishing when the room has a live publisher that is not silent for
        :data:`TAKEOVER_AFTER` seconds (the hub's takeover rule), before any negotiation; the
        rule is applied again when the publish starts."""
        self.hub.may_take_over(slug, TAKEOVER_AFTER)

    async def publish(self, slug: str, offer: str, peer: str) -> tuple[Session, str]:
        """Answer a WHIP offer and start publishing to ``slug`` under the hub's takeover rule
        (a publisher silent for :data:`TAKEOVER_AFTER` seconds is replaced); returns
        (session, answer)."""
        summary = inspect_offer(offer)
        if summary.video_sections > 1 or summary.audio_sections > 1:
            raise OfferError("one audio and one video section at most")
        self.check_capacity("whip", slug, peer)
        session_id = secrets.token_urlsafe(16)
        pc = new_peer_connection(self.settings)
        publisher = WhipPublisher(self.hub, slug, f"whip:{peer}:{session_id[:8]}",
                                  expect_video=summary.video_codec is not None)
        session = Session(session_id, "whip", slug, pc, address_key(peer), publisher=publisher)
        self._register(session)
        try:
            async with self._turns["whip"]:
                video = self._whip_transceivers(pc, publisher, summary)
                answer = await self._negotiate(pc, offer)
            codecs = negotiated_codecs(video) if video is not None else []
            if video is not None and codecs and codecs[0].name.lower() == "vp8":
                publisher.start_transcoder(video.receiver)
            publication = self.hub.publish(slug, publisher.source, takeover_after=TAKEOVER_AFTER,
                                           derived=publisher.derived)
        except BaseException:
            await self.end(session)
            raise
        publisher.attach(publication)
        self._publishers[slug] = publisher
        return session, answer

    def _whip_transceivers(
        self, pc: RTCPeerConnection, publisher: WhipPublisher, summary: OfferSummary
    ) -> RTCRtpTransceiver | None:
        video = None
        if summary.video_sections:
            video = pc.addTransceiver("video", direction="recvonly")
            video.setCodecPreferences(_prefer("video", ("h264", "vp8"), sender=False))
            publisher.tap_video(video.receiver)
        if summary.audio_sections:
            audio = pc.addTransceiver("audio", direction="recvonly")
            audio.setCodecPreferences(_prefer("audio", ("opus",), sender=False))
            publisher.tap_audio(audio.receiver)
        return video

    # -- WHEP --------------------------------------------------------------------------

    async def play(self, slug: str, offer: str, peer: str = "") -> tuple[Session, str]:
        """Answer a WHEP offer from ``peer`` (the client's address) with the room's live media;
        returns (session, answer)."""
        summary = inspect_offer(offer)
        if summary.video_sections and "h264" not in summary.video:
            raise NoUsableCodec("WHEP video is H.264 only; the offer has none")
        if summary.video_sections > 1 or summary.audio_sections > 1:
            raise OfferError("one audio and one video section at most")
        stream = self.hub.get(slug)
        if stream is None and self.edges is None:
            raise NotLive(f"room {slug!r} is not live")
        self.check_capacity("whep", slug, address_key(peer))
        pc = new_peer_connection(self.settings)
        session = Session(secrets.token_urlsafe(16), "whep", slug, pc, address_key(peer))
        self._register(session)
        try:
            if stream is None and self.edges is not None:
                await self._take_relay(session)
            async with self._turns["whep"]:
                if session.ended:  # dropped (stream over, shutdown) while it waited its turn
                    raise NotLive(f"room {slug!r} is not live")
                self._whep_transceivers(pc, session, summary)
                answer = await self._negotiate(pc, offer)
                ignore_bitrate_feedback(pc)
        except BaseException:
            await self.end(session)
            raise
        return session, answer

    async def _take_relay(self, session: Session) -> None:
        assert self.edges is not None
        relay = await self.edges.acquire(session.slug)
        if relay is not None and session.ended:  # dropped (connect timeout) while the relay started
            await self.edges.release(relay)
        if relay is None or session.ended:
            raise NotLive(f"room {session.slug!r} is not live")
        session.relay = relay

    def _whep_transceivers(self, pc: RTCPeerConnection, session: Session, summary: OfferSummary) -> None:
        relay = session.relay
        hub = relay.hub if relay else self.hub
        if summary.video_sections:
            try:
                reader = hub.add_reader(session.slug, "whep", only=TrackKind.VIDEO, max_units=VIEWER_MAX_UNITS)
            except UsageError as exc:
                raise NotLive(str(exc)) from exc
            ask = self._keyframe_asker(session)
            video_track = VideoPacketTrack(
                reader,
                skip_cached=reader.pending if ask is not None else 0,
                on_wait_keyframe=ask,
                payloads=self.payloads(session.slug),
            )
            if ask is not None:
                ask()
            session.tracks.append(video_track)
            transceiver = pc.addTransceiver(video_track, direction="sendonly")
            drop_receive_estimator(transceiver.receiver)
            transceiver.setCodecPreferences(_prefer("video", ("h264",), sender=True))
            send_from_room(self.room_sender(session.slug), transceiver.sender, video_track)
            pli = relay.request_keyframe if relay else lambda: self.request_keyframe(session.slug)
            on_keyframe_request(transceiver.sender, pli)
        if summary.has_audio:
            try:
                opus = hub.add_reader(session.slug, "whep-audio", derived=Codec.OPUS,
                                      max_units=bridge.OPUS_READER_MAX_UNITS)
            except UsageError as exc:
                raise NotLive(str(exc)) from exc
            audio_track = AudioPacketTrack(opus)
            session.tracks.append(audio_track)
            transceiver = pc.addTransceiver(audio_track, direction="sendonly")
            transceiver.setCodecPreferences(_prefer("audio", ("opus",), sender=True))
            send_from_room(self.room_sender(session.slug), transceiver.sender, audio_track)

    def _keyframe_asker(self, session: Session) -> Callable[[], None] | None:
        """What a new viewer calls while it waits for a keyframe, when the source makes one
        on demand (a live WHIP publisher here, or one at the relay's origin); None when it
        cannot (RTMP), and the viewer starts from the GOP cache instead."""
        if session.relay is not None:
            return session.relay.request_keyframe if session.relay.on_demand else None
        publisher = self._publishers.get(session.slug)
        return publisher.request_keyframe if publisher is not None and publisher.live else None

    def keyframes_on_demand(self, slug: str) -> bool:
        """Whether the room's publisher here makes a keyframe when asked (WHIP)."""
        publisher = self._publishers.get(slug)
        return publisher is not None and publisher.live

    def request_keyframe(self, slug: str) -> None:
        """A viewer (here, or an edge's through its pull) asked for a keyframe (PLI): passed
        to the room's live WHIP publisher, which sends at most one every half second."""
        publisher = self._publishers.get(slug)
        if publisher is not None and publisher.live:
            publisher.request_keyframe()

    # -- common ------------------------------------------------------------------------

    async def _negotiate(self, pc: RTCPeerConnection, offer: str) -> str:
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        except Exception as exc:  # aiortc raises ValueError, OperationError, ... on bad offers
            raise OfferError(f"cannot use the offer: {exc}") from exc
        apply_ice_policy(pc, self.settings)
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        return str(pc.localDescription.sdp)

    def _register(self, session: Session) -> None:
        """Count the session in its pools and give it ``connect_timeout_s`` to connect."""
        self._sessions[session.id] = session
        SESSIONS.labels(session.kind).inc()
        loop = asyncio.get_running_loop()

        @session.pc.on("connectionstatechange")
        async def on_state() -> None:
            if session.pc.connectionState in ("failed", "closed"):
                await self.end(session)

        session.timer = loop.call_later(self.settings.connect_timeout_s, self._check_connected, session)

    def _check_connected(self, session: Session) -> None:
        if not session.ended and session.pc.connectionState != "connected":
            log.info("%s session %s from %s never connected", session.kind, session.id, session.peer)
            NEVER_CONNECTED.labels(session.kind).inc()
            task = asyncio.get_running_loop().create_task(self.end(session))
            self._reaping.add(task)
            task.add_done_callback(self._reaping.discard)

    async def end(self, session: Session) -> None:
        """End a session: close its peer connection; a WHIP session ends the broadcast."""
        if session.ended:
            return
        session.ended = True
        if session.timer is not None:
            session.timer.cancel()
        if self._sessions.pop(session.id, None) is not None:
            SESSIONS.labels(session.kind).dec()
        for listener in self.on_end:
            listener(session)
        if session.relay is not None and self.edges is not None:
            relay, session.relay = session.relay, None
            await self.edges.release(relay)
        publisher = session.publisher
        if publisher is not None:
            if self._publishers.get(session.slug) is publisher:
                del self._publishers[session.slug]
            publisher.end()
            publisher.close()
        await self._close_tracks(session)
        with contextlib.suppress(Exception):
            await session.pc.close()

    async def end_publish(self, slug: str) -> bool:
        """End the room's WHIP session (its owner ended the stream or rotated the key); the
        caller stops the stream first if it should go offline at once. True if there was one."""
        publisher = self._publishers.get(slug)
        session = next((s for s in self._sessions.values() if publisher is not None and s.publisher is publisher), None)
        if session is None:
            return False
        await self.end(session)
        return True

    async def stop_broadcast(self, session: Session) -> None:
        """DELETE of a WHIP session: the performer ended the show on purpose."""
        publisher = session.publisher
        if publisher is not None:
            publisher.stop()
        await self.end(session)

    @staticmethod
    async def _close_tracks(session: Session) -> None:
        for track in session.tracks:
            track.stop()

    async def close(self) -> None:
        """Process shutdown: end every session (and so every edge relay)."""
        for session in list(self._sessions.values()):
            await self.end(session)
        if self.edges is not None:
            await self.edges.close()
