"""A show's charts as SVG, rendered on the server with pygal (a charting library, installed
as a dependency): viewers over time per latency class with the setlist marked on it (each song from its
``song.play`` to its ``song.done``, the events the replay's chapters come from),
revenue by source per minute, and chat activity per minute.

The SVG is served as an image (``<img src>``): no script runs in an image (pygal still writes
its config as an inline script, inert there; its tooltips need JavaScript we do not load), so
the pages' CSP stays ``script-src 'self'``. A show with no data renders pygal's "No data" chart, never an error.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import pygal
from pygal.style import Style

# pygal 3 appends to sys.meta_path a finder for its map plugins (pygal.maps.*, which we do
# not use) that has only the legacy find_module: Python 3.11 then warns (ImportWarning) at
# every import that reaches the end of the path, and an optional import elsewhere (redis
# trying opentelemetry) fails where warnings are errors. Drop that finder, here, once.
sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, pygal.PluginImportFixer)]

CHARTS = ("viewers", "revenue", "chat")
STYLE = Style(background="transparent", plot_background="transparent", foreground="#222",
              foreground_strong="#111", foreground_subtle="#888", colors=("#c2185b", "#1565c0", "#f9a825",
                                                                          "#2e7d32", "#6a1b9a"),
              font_family="system-ui, sans-serif")


def _when(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _base(chart_type: Any, title: str, **config: Any) -> Any:
    return chart_type(style=STYLE, title=title, width=800, height=320, js=[], disable_xml_declaration=True,
                      show_dots=False, x_label_rotation=0, legend_at_bottom=True, truncate_legend=40,
                      no_data_text="No data yet", **config)


def viewers(report: dict[str, Any]) -> str:
    rows = report["series"]["viewers"]
    chart = _base(pygal.DateTimeLine, "Viewers", fill=False, allow_interruptions=True,
                  x_value_formatter=lambda d: d.strftime("%H:%M"))
    if rows:
        chart.add("WebRTC", [(_when(r["at"]), r["webrtc"]) for r in rows])
        chart.add("LL-HLS", [(_when(r["at"]), r["hls"]) for r in rows])
        chart.add("All", [(_when(r["at"]), r["total"]) for r in rows])
        marks = report["series"]["marks"]
        if marks:
            chart.add("Setlist", _setlist(rows, marks), show_dots=True, dots_size=5, stroke_style={"width": 4})
    return str(chart.render(is_unicode=True))


def _setlist(rows: list[dict[str, Any]], marks: list[dict[str, Any]]) -> list[Any]:
    """Each song as a bar at the audience it started with: a dot at its start (labelled), one
    at its end (the last sample while it still plays), and a break before the next song."""
    points: list[Any] = []
    for mark in marks:
        start = mark["at"]
        end = mark.get("end") or max(rows[-1]["at"], start)
        height = _total_at(rows, start)
        points += [{"value": (_when(start), height), "label": mark["label"]},
                   {"value": (_when(end), height), "label": f"{mark['label']} (ends)"}, (_when(end), None)]
    return points


def _total_at(rows: list[dict[str, Any]], t: float) -> int:
    before = [r for r in rows if r["at"] <= t]
    return int((before[-1] if before else rows[0])["total"])


def revenue(report: dict[str, Any]) -> str:
    rows = report["series"].get("revenue", [])
    chart = _base(pygal.StackedBar, "Revenue by source (minor units)")
    if rows:
        minutes = sorted({r["minute"] for r in rows})
        chart.x_labels = [_when(m).strftime("%H:%M") for m in minutes]
        for source in ("tickets", "tips", "boosts"):
            by = {r["minute"]: r["amount"] for r in rows if r["source"] == source}
            if by:
                chart.add(source.capitalize(), [by.get(m, 0) for m in minutes])
    return str(chart.render(is_unicode=True))


def chat(report: dict[str, Any]) -> str:
    rows = report["series"]["chat"]
    chart = _base(pygal.Bar, "Chat and song requests per minute")
    if rows:
        chart.x_labels = [_when(r["minute"]).strftime("%H:%M") for r in rows]
        chart.add("Chat messages", [r["chat"] for r in rows])
        chart.add("Song requests", [r["requests"] for r in rows])
        chart.add("Votes", [r["votes"] for r in rows])
    return str(chart.render(is_unicode=True))


RENDER = {"viewers": viewers, "revenue": revenue, "chat": chat}
