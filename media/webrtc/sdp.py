"""A first look at an SDP offer (RFC 8866) before aiortc applies it.

Pure. :func:`inspect_offer` rejects what is plainly not an offer we can answer (garbage, no
media section, no codec we take or give) with :class:`OfferError` / :class:`NoUsableCodec`,
and says which codecs each kind offered, so the session can prefer H.264 over VP8.
"""

from __future__ import annotations

from dataclasses import dataclass

from media.webrtc.errors import NoUsableCodec, OfferError

MAX_OFFER_BYTES = 64 * 1024
VIDEO_CODECS = ("h264", "vp8")
AUDIO_CODECS = ("opus",)


@dataclass(frozen=True, slots=True)
class OfferSummary:
    """Codec names (lower case) offered per kind, in the order of the first media section."""

    video: tuple[str, ...]
    audio: tuple[str, ...]
    video_sections: int
    audio_sections: int

    @property
    def video_codec(self) -> str | None:
        """The video codec we will take: H.264 when offered, else VP8, else None."""
        return next((c for c in VIDEO_CODECS if c in self.video), None)

    @property
    def has_audio(self) -> bool:
        return "opus" in self.audio


def inspect_offer(text: str, *, need_send: bool = False) -> OfferSummary:
    """Check an offer's shape and list its codecs.

    ``need_send`` is for WHEP: the offer must accept media (recvonly or sendrecv), while a WHIP
    offer must send it; only the presence of codecs is checked here, directions by aiortc.
    """
    if len(text) > MAX_OFFER_BYTES:
        raise OfferError(f"offer of {len(text)} bytes is larger than {MAX_OFFER_BYTES}")
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines or lines[0] != "v=0":
        raise OfferError("not an SDP description (it must start with v=0)")
    if any(len(line) < 2 or line[1] != "=" for line in lines):
        raise OfferError("not an SDP description (every line is <type>=<value>)")
    sections = _media_sections(lines)
    video = [s for s in sections if s[0] == "video"]
    audio = [s for s in sections if s[0] == "audio"]
    if not video and not audio:
        raise OfferError("the offer has no audio or video media section")
    summary = OfferSummary(
        video=video[0][1] if video else (),
        audio=audio[0][1] if audio else (),
        video_sections=len(video),
        audio_sections=len(audio),
    )
    if summary.video_codec is None and not summary.has_audio:
        offered = ", ".join(summary.video + summary.audio) or "none"
        raise NoUsableCodec(f"no usable codec offered (we take H264, VP8, opus; got {offered})")
    return summary


def _media_sections(lines: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    sections: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith("m="):
            parts = line[2:].split()
            if len(parts) < 4:
                raise OfferError(f"malformed media line {line!r}")
            sections.append((parts[0], []))
        elif line.startswith("a=rtpmap:") and sections:
            _, _, encoding = line.partition(" ")
            name = encoding.split("/", 1)[0].lower()
            if name and name not in sections[-1][1]:
                sections[-1][1].append(name)
    return [(kind, tuple(codecs)) for kind, codecs in sections]
