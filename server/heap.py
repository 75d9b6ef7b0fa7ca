"""Keep the garbage collector's full collections small: freeze what start-up made.

A full collection (Python's oldest generation) traverses every object the collector tracks,
and a started server holds about 150,000 of them: the modules, classes and functions of
aiohttp, SQLAlchemy, aiortc and the rest, none of which will ever be garbage. Traversing them
took 0.2 to 0.25 CPU-seconds on a 2-core host, on the event loop, inside whichever callback
happened to allocate the object that tipped the count: a stall for every room and stream
(``python -m loadtest.abuse --loop-watch 20`` shows them as ``"gc": 2`` records). Attacks
that make many objects (a burst of WebRTC offers, a stream of API requests) set them off.

:func:`settle` runs once, when the server has started: one collection, then ``gc.freeze()``
moves every survivor to the permanent generation, which collections skip. Later full
collections traverse only what was made since (rooms, sockets, sessions). Frozen objects are
never collected, which is right for start-up state that lives as long as the process.
"""

from __future__ import annotations

import gc

from prometheus_client import Gauge

FROZEN = Gauge("nal_gc_frozen_objects", "Objects made during start-up that full garbage collections skip")


def settle() -> int:
    """Collect once, then freeze every object that is left; returns how many are frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    FROZEN.set(frozen)
    return frozen
