"""Small builders shared by the ledger tests."""

from __future__ import annotations

from payments.royalty import Revenue
from payments.splits import Role, Share, SplitSheet

ARTIST = "user:1"
BASSIST = "user:2"
DRUMMER = "user:3"
WRITER = "user:9"

ROOM_SHEET = SplitSheet((
    Share(ARTIST, 6_000, Role.ARTIST),
    Share(BASSIST, 2_500, Role.BAND),
    Share(DRUMMER, 1_500, Role.BAND),
))


def tip(gross: int = 1_000, fee: int = 59, show: str | None = None, sheet: SplitSheet = ROOM_SHEET) -> Revenue:
    return Revenue(gross=gross, currency="EUR", sheet=sheet, fee=fee, room="jazz", show=show)
