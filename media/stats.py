"""Running figures of a live stream: frame rate, bit rate, keyframe interval.

Measured on unit timestamps (not on arrival time), over the last :data:`WINDOW` of media,
so a burst of buffered frames does not read as a high frame rate.
"""

from __future__ import annotations

from collections import deque

from media.units import CLOCK_RATE, TrackKind, Unit

WINDOW = 2 * CLOCK_RATE


class StreamStats:
    """Bounded: it keeps only the units of the last :data:`WINDOW` ticks (at most a few
    hundred entries at 60 fps with audio)."""

    def __init__(self) -> None:
        self._sizes: deque[tuple[int, int]] = deque()
        self._video_dts: deque[int] = deque()
        self._last_keyframe: int | None = None
        self.keyframe_interval: int | None = None
        """Ticks between the last two video keyframes."""

    def add(self, unit: Unit) -> None:
        self._sizes.append((unit.dts, len(unit.payload)))
        _trim(self._sizes, unit.dts)
        if unit.kind is not TrackKind.VIDEO:
            return
        self._video_dts.append(unit.dts)
        while self._video_dts and self._video_dts[0] < unit.dts - WINDOW:
            self._video_dts.popleft()
        if unit.keyframe:
            if self._last_keyframe is not None and unit.dts > self._last_keyframe:
                self.keyframe_interval = unit.dts - self._last_keyframe
            self._last_keyframe = unit.dts

    @property
    def fps(self) -> float | None:
        if len(self._video_dts) < 2 or self._video_dts[-1] <= self._video_dts[0]:
            return None
        span = self._video_dts[-1] - self._video_dts[0]
        return round((len(self._video_dts) - 1) * CLOCK_RATE / span, 2)

    @property
    def bitrate(self) -> int | None:
        """Bits per second over the window, all tracks together."""
        if len(self._sizes) < 2 or self._sizes[-1][0] <= self._sizes[0][0]:
            return None
        span = self._sizes[-1][0] - self._sizes[0][0]
        total = sum(size for _, size in self._sizes)
        return total * 8 * CLOCK_RATE // span

    @property
    def ready(self) -> bool:
        """True once every figure has a value (used to announce the stream once)."""
        return self.bitrate is not None and (self._last_keyframe is None or self.fps is not None)


def _trim(window: deque[tuple[int, int]], now: int) -> None:
    while window and window[0][0] < now - WINDOW:
        window.popleft()
