"""Room sockets a node holds, per guest address, per signed-in user and in all. Sans-I/O.

Guests are anonymous and unbounded in number (DESIGN.md, "Who is trusted"), so each kind of
socket has a cap: guests count under their address (the server passes an IPv6 peer's
/64), signed-in users under their account (a venue's many fans behind one NAT are not
one address's guests), and every socket in the total. ``0`` turns a cap off. A socket
over a cap is refused before the upgrade (gateway.py) with a JSON 429 (503 for the
total), counted in ``nal_ws_refused_total{reason}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GUESTS_PER_ADDRESS = 20
SOCKETS_PER_USER = 20
MAX_SOCKETS = 20_000


@dataclass(frozen=True)
class Refusal:
    reason: str
    """The metric label: ``guests_per_address``, ``per_user`` or ``total``."""
    status: int
    message: str


@dataclass
class SocketCaps:
    guests_per_address: int = GUESTS_PER_ADDRESS
    per_user: int = SOCKETS_PER_USER
    total: int = MAX_SOCKETS
    open: dict[str, int] = field(default_factory=dict)
    count: int = 0

    def admit(self, key: str) -> Refusal | None:
        """Count one more socket under ``key`` (``socket_key``), or say why not (counting
        nothing)."""
        if self.total and self.count >= self.total:
            return Refusal("total", 503, "this server holds all the room sockets it can; retry soon")
        cap = self.guests_per_address if key.startswith("a:") else self.per_user
        if cap and self.open.get(key, 0) >= cap:
            if key.startswith("a:"):
                return Refusal(
                    "guests_per_address", 429,
                    f"at most {cap} guest room sockets from one address; sign in or close some",
                )
            return Refusal("per_user", 429, f"at most {cap} room sockets per account; close some")
        self.open[key] = self.open.get(key, 0) + 1
        self.count += 1
        return None

    def release(self, key: str) -> None:
        left = self.open.get(key, 0) - 1
        if left > 0:
            self.open[key] = left
        else:
            self.open.pop(key, None)
        self.count = max(0, self.count - 1)


def socket_key(user_id: int | None, address: str) -> str:
    """What a socket counts under, for the caps and for the viewer count: its user, or
    its address for a guest."""
    return f"u:{user_id}" if user_id is not None else f"a:{address}"
