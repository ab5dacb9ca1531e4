"""``hpc-agent usage`` as text, CSV and JSON, from :class:`hpc_agent.usage.figures.Usage`."""

from __future__ import annotations

import csv
import io
import json

from hpc_agent.text import printable
from hpc_agent.usage.figures import COLUMNS, Group, Usage

HEADERS = {
    "uows": "UoWs",
    "succeeded": "ok",
    "failed": "failed",
    "rejected": "rejected",
    "cpu_hours": "CPU-h",
    "gpu_hours": "GPU-h",
    "peak_memory": "peak mem",
    "wait_median": "wait p50",
    "wait_p90": "wait p90",
    "bytes": "handed back",
}


def human_bytes(value: float | None) -> str:
    """``1.5 GiB``; ``-`` for None.

    >>> human_bytes(1536), human_bytes(None), human_bytes(0)
    ('1.5 KiB', '-', '0 B')
    """
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} PiB"  # pragma: no cover - the loop always returns


def human_seconds(value: float | None) -> str:
    """``45s``, ``12m``, ``3.5h``, ``2.0d``; ``-`` for None.

    >>> human_seconds(45), human_seconds(720), human_seconds(12600), human_seconds(None)
    ('45s', '12m', '3.5h', '-')
    """
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.0f}s"
    if value < 3600:
        return f"{value / 60:.0f}m"
    if value < 86400:
        return f"{value / 3600:.1f}h"
    return f"{value / 86400:.1f}d"


def cell(group: Group, column: str) -> str:
    """One table cell for a person."""
    value = getattr(group, column)
    if column in ("cpu_hours", "gpu_hours"):
        return "-" if value is None else f"{value:.2f}"
    if column in ("peak_memory", "bytes"):
        return human_bytes(value)
    if column in ("wait_median", "wait_p90"):
        return human_seconds(value)
    return str(value)


def format_text(usage: Usage) -> str:
    """An aligned table, one row per group and a total, then what is missing and why."""
    header = [usage.by, *(HEADERS[c] for c in COLUMNS)]
    rows = [[printable(g.name), *(cell(g, c) for c in COLUMNS)] for g in usage.groups]
    rows.append(["total", *(cell(usage.total, c) for c in COLUMNS)])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = (value.rjust(width) for value, width in zip(row[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    since = usage.to_dict()["since"] or "the beginning"
    until = usage.to_dict()["until"] or "now"
    out = [f"Usage of {usage.instance}, UoWs handed back from {since} until {until}", ""]
    out += [line(header), *(line(row) for row in rows)]
    if usage.missing:
        reasons: dict[str, list[str]] = {}
        for column, why in usage.missing.items():
            reasons.setdefault(why, []).append(HEADERS[column])
        out.append("")
        for why, columns in reasons.items():
            out.append(f"Missing: {', '.join(columns)} ({printable(why)}); from the ledger alone.")
    return "\n".join(out) + "\n"


def format_csv(usage: Usage) -> str:
    """One header line (``<by>`` then :data:`COLUMNS`), one line per group; empty for missing."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([usage.by, *COLUMNS])
    for group in usage.groups:
        values = group.to_dict()
        writer.writerow(
            [group.name, *("" if values[c] is None else _plain(values[c]) for c in COLUMNS)]
        )
    return buffer.getvalue()


def _plain(value: object) -> str:
    return repr(round(value, 6)) if isinstance(value, float) else str(value)


def format_json(usage: Usage) -> str:
    """The figures as JSON (see :meth:`Usage.to_dict`)."""
    return json.dumps(usage.to_dict(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"
