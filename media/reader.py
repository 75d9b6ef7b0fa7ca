"""A bounded reader of one stream.

Fan-out rule (DESIGN.md, "Media model"): the publisher's ``write()`` appends to each reader's
buffer and sets an :class:`asyncio.Event`; it never waits. A reader whose buffer is full (more
than ``max_units`` units or ``max_bytes`` payload bytes) is a slow consumer: it throws away
every buffered unit, then skips incoming units until the next keyframe of the stream's key
track (video if the stream has video, else audio), and counts each thrown-away unit in
:attr:`Reader.drops` and ``nal_hub_reader_drops_total{kind}``. Stream headers are never
thrown away. A slow reader therefore never slows the publisher or another reader.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from media import metrics
from media.errors import StreamEnded
from media.units import StreamHeader, Unit

ReaderItem = Unit | StreamHeader

DEFAULT_MAX_UNITS = 1024
DEFAULT_MAX_BYTES = 32 * 1024 * 1024


class Reader:
    """Pull side of one consumer (HLS muxer, WHEP viewer, restream target, recorder)."""

    def __init__(
        self,
        kind: str,
        is_resume_point: Callable[[Unit], bool],
        on_close: Callable[[Reader], None],
        *,
        max_units: int = DEFAULT_MAX_UNITS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.kind = kind
        self.max_units = max_units
        self.max_bytes = max_bytes
        self.drops = 0
        self._is_resume_point = is_resume_point
        self._on_close = on_close
        self._buffer: deque[ReaderItem] = deque()
        self._units = 0
        self._bytes = 0
        self._skipping = False
        self._ended = False
        self._closed = False
        self._wakeup = asyncio.Event()

    # -- publisher side (synchronous, never waits) ------------------------------------

    def offer(self, item: ReaderItem) -> None:
        if self._closed or self._ended:
            return
        if isinstance(item, Unit):
            self._offer_unit(item)
        else:
            self._buffer.append(item)
        self._wakeup.set()

    def _offer_unit(self, unit: Unit) -> None:
        if self._skipping:
            if not self._is_resume_point(unit):
                self._count_drops(1)
                return
            self._skipping = False
        size = len(unit.payload)
        if self._units >= self.max_units or self._bytes + size > self.max_bytes:
            self._overflow()
            if not self._is_resume_point(unit):
                self._skipping = True
                self._count_drops(1)
                return
        self._buffer.append(unit)
        self._units += 1
        self._bytes += size

    def _overflow(self) -> None:
        self._count_drops(self._units)
        self._buffer = deque(item for item in self._buffer if isinstance(item, StreamHeader))
        self._units = 0
        self._bytes = 0

    def _count_drops(self, count: int) -> None:
        if count:
            self.drops += count
            metrics.READER_DROPS.labels(self.kind).inc(count)

    def end(self) -> None:
        """The stream went offline: what is buffered can still be read, then StreamEnded."""
        self._ended = True
        self._wakeup.set()

    # -- consumer side ---------------------------------------------------------------

    def read_nowait(self) -> ReaderItem | None:
        """The next item, or None when nothing is buffered (raises StreamEnded at the end)."""
        if self._buffer:
            item = self._buffer.popleft()
            if isinstance(item, Unit):
                self._units -= 1
                self._bytes -= len(item.payload)
            return item
        if self._ended or self._closed:
            raise StreamEnded(f"{self.kind} reader: the stream ended")
        return None

    async def read(self) -> ReaderItem:
        """Wait for the next item; raises StreamEnded once the stream is offline and drained."""
        while True:
            item = self.read_nowait()
            if item is not None:
                return item
            self._wakeup.clear()
            await self._wakeup.wait()

    def wake_with(self, event: asyncio.Event | None) -> None:
        """Set ``event`` (not the reader's own) when an item arrives, so that one consumer of
        many readers (a room's WHEP sender) waits on all of them at once with
        :meth:`read_nowait`; None goes back to the reader's own event (for :meth:`read`)."""
        self._wakeup = event if event is not None else asyncio.Event()
        if self._buffer or self._ended or self._closed:
            self._wakeup.set()

    @property
    def pending(self) -> int:
        """Units buffered and not yet read."""
        return self._units

    @property
    def ready(self) -> bool:
        """Whether :meth:`read_nowait` has something to say: an item, or the end."""
        return bool(self._buffer) or self._ended or self._closed

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Detach from the stream; pending items are discarded."""
        if self._closed:
            return
        self._closed = True
        self._buffer.clear()
        self._wakeup.set()
        self._on_close(self)
