"""The operator's metrics: one prefix, no high-cardinality labels, and a Grafana dashboard
(docs/grafana/notalabel-live.json) whose every query names metrics and labels that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import server.app  # noqa: F401 - registers every metric of the server

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docs" / "grafana" / "notalabel-live.json"
FORBIDDEN_LABELS = {"user", "user_id", "room", "slug", "show", "show_id", "session", "id", "ticket"}
ISSUE_12 = {"nal_viewers", "nal_viewing_sessions", "nal_watch_seconds", "nal_chat_messages", "nal_payments",
            "nal_payment_amount_minor", "nal_webhook_events", "nal_ticket_holds", "nal_tickets_sold",
            "nal_show_peak_viewers"}


def families() -> dict[str, tuple[str, set[str]]]:
    """Exposed name -> (type, label names), for our metrics. The label names come from the
    metric objects (a labelled metric with no child yet has no sample to read them from)."""
    out: dict[str, tuple[str, set[str]]] = {}
    for collector, names in dict(REGISTRY._collector_to_names).items():  # noqa: SLF001 - label names
        kind = getattr(collector, "_type", "")
        labels = set(getattr(collector, "_labelnames", ()))
        for name in names:
            if name.startswith(("nal_", "notalabel_")) and not name.endswith(("_created", "_bucket", "_count", "_sum")):
                out[name] = (kind, labels)
    return out


def test_the_issue_12_metrics_exist_with_base_units_and_no_per_id_labels() -> None:
    found = families()
    for base in ISSUE_12:
        assert base in found or base + "_total" in found, base
    for name, (_kind, labels) in found.items():
        assert not labels & FORBIDDEN_LABELS, (name, labels)
    for name in found:
        if any(name.startswith(base) for base in ISSUE_12):
            words = set(name.split("_"))
            assert not words & {"ms", "milliseconds", "minutes", "hours", "kb", "mb", "bytes"}, name


def test_the_grafana_dashboard_queries_only_metrics_and_labels_that_exist() -> None:
    found = families()
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["panels"]
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            names = set(re.findall(r"\b(nal_[a-z_]+)\b", expr))
            assert names, expr
            for name in names:
                assert name in found, (panel["title"], name)
                by = re.findall(r"by \(([^)]*)\)", expr)
                for label in {x.strip() for group in by for x in group.split(",")}:
                    assert label in found[name][1], (panel["title"], name, label)
    queried = {n for p in dashboard["panels"] for t in p["targets"] for n in re.findall(r"\b(nal_[a-z_]+)\b", t["expr"])}
    for base in ISSUE_12:
        assert base in queried or base + "_total" in queried, f"the dashboard shows no {base}"


def value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


async def test_payments_webhooks_tickets_and_chat_are_counted(tmp_path: Path, database_url: str) -> None:
    from tests.support.money import running
    from tests.support.roomsocket import RoomSocket

    async with running(tmp_path, database_url) as srv:
        async def metrics() -> str:
            return await (await srv.http.get("/metrics")).text()

        before = await metrics()
        owner, _ = await srv.signup("perf")
        fan, token = await srv.signup("fay")
        slug = await srv.room(owner)
        r = await srv.http.post(f"/api/rooms/{slug}/shows", headers=owner,
                                json={"title": "Free", "starts_at": "2030-01-01T20:00:00Z"})
        show_id = (await r.json())["id"]
        r = await srv.http.post(f"/api/shows/{show_id}/tiers", headers=owner,
                                json={"name": "free", "price": 0, "latency_class": "realtime"})
        r = await srv.http.post(f"/api/shows/{show_id}/orders", headers=fan, json={"tier_id": (await r.json())["id"]})
        assert r.status == 201, await r.text()
        tip = await srv.tip(slug, fan, amount=500)
        assert (await srv.sandbox(tip["checkout_url"], "pay")).status == 200
        sock = await RoomSocket.connect(srv.http, srv.ws_url, slug, token)
        assert (await sock.op("chat.send", text="hi"))["type"] == "ack"
        await sock.close()
        after = await metrics()

        def grew(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert grew("nal_payments_total", provider="sandbox", kind="tip", outcome="paid") == 1
        assert grew("nal_payment_amount_minor_total", currency="USD", outcome="paid") == 500
        assert grew("nal_webhook_events_total", type="checkout.session.completed", result="accepted") >= 1
        assert grew("nal_ticket_holds_total", latency_class="realtime") == 1
        assert grew("nal_tickets_sold_total") == 1
        assert grew("nal_chat_messages_total") == 1
