"""Clients from chosen loopback addresses, outcome tallies, /metrics deltas, percentiles.

Every address of 127.0.0.0/8 is this machine, so a client can bind its socket to
``127.0.0.N`` before connecting to a server on 127.0.0.1: the server then sees a different
peer address per attacker. That keeps the server's per-address limits on (the attacks are
refused by them) while the probe, on 127.0.0.1, is a different person.
"""

from __future__ import annotations

import math
import re
from collections import Counter as Tally
from typing import Any

import aiohttp

PROBE_ADDRESS = "127.0.0.1"


def attacker_address(n: int) -> str:
    """The ``n``-th attacker address (n >= 0): 127.0.1.1, 127.0.1.2, ..., never the probe's."""
    return f"127.0.{1 + n // 250}.{1 + n % 250}"


def client(address: str, limit: int = 100, timeout: float | None = 15.0) -> aiohttp.ClientSession:
    """A session whose connections leave from ``address`` (no cookies kept: scripts use Bearer)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0), limit=limit, force_close=False)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                 timeout=aiohttp.ClientTimeout(total=timeout))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def outcome(answer: aiohttp.ClientResponse) -> str:
    """``"201"`` or ``"429 rate_limited"``: the status and, for a JSON error, its code."""
    if answer.status < 400:
        return str(answer.status)
    try:
        body = await answer.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return str(answer.status)
    code = body.get("error") if isinstance(body, dict) else None
    return f"{answer.status} {code}" if code else str(answer.status)


def is_refusal(outcome_name: str) -> bool:
    """Whether an outcome (``"429 rate_limited"``, ``"chat error invalid_text"``, ``"rtmp RefusedError"``,
    ``"201"``, ``"join ok"``) is a refusal: a 4xx/5xx status, an error frame or a refusing exception."""
    for word in outcome_name.split():
        if (len(word) == 3 and word.isdigit() and word[0] in "45") or word in ("error", "refused") or word.endswith("Error"):
            return True
    return False


def refused(outcomes: Tally[str] | dict[str, int]) -> int:
    """How many outcomes were refusals (:func:`is_refusal`)."""
    return sum(n for k, n in outcomes.items() if is_refusal(k))


# --- /metrics --------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) ([-+0-9.eEinfNa]+)$")
WATCHED = ("refused", "rejected", "bad_input", "nal_ws_errors", "never_connected", "slow_consumer",
           "nal_internal_errors", "dropped", "nal_rtmp_publishes")
"""Substrings of the counter names a phase reports the growth of."""


def parse_metrics(text: str) -> dict[str, float]:
    """Counter samples (``_total``/``_created`` pairs: only the values) by their full name."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m is None or "_created" in m.group(1):
            continue
        name = m.group(1)
        if any(w in name.split("{", 1)[0] for w in WATCHED):
            out[name] = float(m.group(2))
    return out


def metric_growth(before: dict[str, float], after: dict[str, float]) -> dict[str, int]:
    """Counters that grew between two readings, by how much."""
    grown = {k: after[k] - before.get(k, 0.0) for k in after}
    return {k: int(v) for k, v in sorted(grown.items()) if v > 0}


async def read_metrics(http: aiohttp.ClientSession, base: str) -> dict[str, float]:
    async with http.get(base + "/metrics") as answer:
        return parse_metrics(await answer.text()) if answer.status == 200 else {}


# --- statistics ----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of unsorted ``values``."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def merge(into: dict[str, Any], more: dict[str, int]) -> None:
    for k, v in more.items():
        into[k] = into.get(k, 0) + v
