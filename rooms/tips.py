"""The tips of one room as its replica knows them: recent tips and top supporters, Sans-I/O.

Tips are paid elsewhere (payments, through server's router); the room only hears of them as
events, which every replica applies in seq order and so ends in the same board:

- ``tip`` ``{"id", "from", "amount", "currency", "message", "ts"?}``: a paid tip (``amount``
  in minor units; ``from`` is a username or ``"Anonymous"``; ``ts`` the publication time the
  gateway stamps). A tip id seen before changes nothing.
- ``tip.refunded`` ``{"id"}``: the tip is marked refunded and its amount leaves the
  supporters' totals. A refund that arrives before its tip is remembered, so the tip counts
  as refunded when it comes.
- ``tip.hidden`` ``{"id"}``: a host hid the tip's message (the money is untouched).

Bounds: the board keeps the last ``MAX_TIPS`` tips (a refund of an older one no longer
changes the totals), shows the last ``RECENT_TIPS`` and the top ``TOP_SUPPORTERS``, and
tracks totals of at most ``MAX_SUPPORTERS`` names (the smallest total is forgotten first).
Anonymous tips count for nobody. Totals are per (name, currency), for this replica's life
(a show, in practice: a room nobody watched for a while starts a new board).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

ANONYMOUS = "Anonymous"
MAX_TIPS = 1000
RECENT_TIPS = 30
TOP_SUPPORTERS = 10
MAX_SUPPORTERS = 500
MAX_EARLY_REFUNDS = 1000
MAX_MESSAGE = 200


@dataclass
class Tip:
    id: str
    sender: str
    amount: int
    currency: str
    message: str
    ts: float = 0.0
    hidden: bool = False
    refunded: bool = False

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Tip:
        amount = data["amount"]
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError("a tip's amount is a positive integer of minor units")
        message = data.get("message") or ""
        if not isinstance(message, str):
            raise TypeError("a tip's message is a string")
        sender = str(data.get("from") or ANONYMOUS)
        ts = float(data.get("ts") or 0.0)
        return cls(str(data["id"]), sender, amount, str(data["currency"]), message[:MAX_MESSAGE], ts)

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "from": self.sender,
            "amount": self.amount,
            "currency": self.currency,
            "message": "" if self.hidden else self.message,
            "ts": self.ts,
            "hidden": self.hidden,
            "refunded": self.refunded,
        }


class TipBoard:
    def __init__(self) -> None:
        self.tips: OrderedDict[str, Tip] = OrderedDict()
        self.totals: dict[tuple[str, str], int] = {}
        self._early_refunds: OrderedDict[str, None] = OrderedDict()

    def get(self, tip_id: str) -> Tip | None:
        return self.tips.get(tip_id)

    # --- applying events -------------------------------------------------------------

    def add(self, data: dict[str, Any]) -> bool:
        tip = Tip.parse(data)
        if tip.id in self.tips:
            return False
        self.tips[tip.id] = tip
        while len(self.tips) > MAX_TIPS:
            self.tips.popitem(last=False)
        if tip.id in self._early_refunds:
            del self._early_refunds[tip.id]
            tip.refunded = True
        else:
            self._count(tip, tip.amount)
        return True

    def refund(self, data: dict[str, Any]) -> bool:
        tip_id = str(data["id"])
        tip = self.tips.get(tip_id)
        if tip is None:
            self._early_refunds[tip_id] = None
            while len(self._early_refunds) > MAX_EARLY_REFUNDS:
                self._early_refunds.popitem(last=False)
            return False
        if tip.refunded:
            return False
        tip.refunded = True
        self._count(tip, -tip.amount)
        return True

    def hide(self, data: dict[str, Any]) -> bool:
        tip = self.tips.get(str(data["id"]))
        if tip is None or tip.hidden:
            return False
        tip.hidden = True
        return True

    def _count(self, tip: Tip, delta: int) -> None:
        if tip.sender == ANONYMOUS:
            return
        key = (tip.sender, tip.currency)
        total = self.totals.get(key, 0) + delta
        if total > 0:
            self.totals[key] = total
        else:
            self.totals.pop(key, None)
        if len(self.totals) > MAX_SUPPORTERS:
            smallest = min(self.totals.items(), key=lambda kv: (kv[1], kv[0]))
            del self.totals[smallest[0]]

    # --- reading ---------------------------------------------------------------------

    def recent(self) -> list[dict[str, Any]]:
        """The last ``RECENT_TIPS`` tips, oldest first (as chat shows them)."""
        tips = list(self.tips.values())[-RECENT_TIPS:]
        return [t.wire() for t in tips]

    def supporters(self) -> list[dict[str, Any]]:
        """The top ``TOP_SUPPORTERS`` by total: biggest first, then by name."""
        ranked = sorted(self.totals.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_SUPPORTERS]
        return [{"name": name, "amount": total, "currency": cur} for (name, cur), total in ranked]
