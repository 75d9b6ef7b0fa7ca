"""The ticketing package's parts, built on one engine: the catalog and the sales desk."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from ticketing.catalog import Catalog
from ticketing.db import Writer
from ticketing.sales import Sales


class Ticketing:
    def __init__(self, engine: AsyncEngine, hold_s: float, clock: Callable[[], float] = time.time) -> None:
        writer = Writer(engine)
        self.catalog = Catalog(engine, writer, clock)
        self.sales = Sales(engine, writer, hold_s, clock)
