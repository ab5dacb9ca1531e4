"""``hpc-agent report --html``: one self-contained HTML page for the PI.

Inline CSS and inline SVG only: no script, no font, no image, no network,
so the file opens anywhere (a mail attachment, a Globus share) and shows the
same thing offline. The figures are :mod:`hpc_agent.usage.figures`' (the ones
``hpc-agent usage`` prints); the agent's health comes from the heartbeat
(:mod:`hpc_agent.loop.health`) and the event log
(:func:`hpc_agent.loop.eventlog.read_events`). Every string from outside
(user names, UoW names, reasons, log messages) goes through
:func:`html.escape`. Tables carry their numbers as ``data-*`` attributes too,
so a test (or a script) can read them back exactly.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Final

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.fs.atomicio import write_text_atomic
from hpc_agent.loop.eventlog import read_events
from hpc_agent.loop.health import Heartbeat, read_heartbeat
from hpc_agent.loop.state import SUCCEEDED
from hpc_agent.usage.entry import REJECTED
from hpc_agent.usage.figures import COLUMNS, Group, Item, Usage, compute, group_items
from hpc_agent.usage.text import HEADERS, cell, human_seconds

TIMELINE_MAX: Final = 300
"""The timeline draws the most recent UoWs only (every UoW is counted in the tables)."""
REASONS_MAX: Final = 12
ERRORS_SHOWN: Final = 20
COLOURS: Final = {SUCCEEDED: "#2e7d32", "failed": "#c62828", REJECTED: "#ef6c00"}
WAIT_BINS: Final = (
    (60.0, "< 1 min"),
    (300.0, "1-5 min"),
    (900.0, "5-15 min"),
    (3600.0, "15-60 min"),
    (4 * 3600.0, "1-4 h"),
    (86400.0, "4-24 h"),
    (float("inf"), "> 1 day"),
)
REPORT_FILE: Final = "report.html"
"""The page the tick refreshes in ``Logs/`` when ``html_report_every_hours`` is set."""

CSS: Final = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em}th,td{padding:.2em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}tr:nth-child(even){background:#f6f6f6}
tfoot td{font-weight:bold;border-top:1px solid #999}.note{color:#666;font-size:.9em}
.legend span{display:inline-block;margin-right:1em}.sw{width:.8em;height:.8em;margin-right:.3em;
display:inline-block}svg text{font-size:11px;font-family:system-ui,sans-serif}
.bad{color:#c62828}code{font-size:.95em}
"""


@dataclass
class Health:
    """The agent's pulse: the last heartbeat, recent tick durations, errors in the period."""

    beat: Heartbeat | None
    errors: dict[str, int] = field(default_factory=dict)
    """Error events in the period, by event name."""
    last_errors: list[tuple[str, str, str]] = field(default_factory=list)
    """(time, event, message) of the most recent errors."""


def read_health(cfg: InstanceConfig, since: float | None) -> Health:
    """The heartbeat and the error events since ``since`` (a cheap pre-filter skips the rest)."""
    health = Health(read_heartbeat(cfg.base_dir))
    for event in read_events(cfg.path(protocol.LOGS), since=since):
        if event.get("level") != "error":
            continue
        name = str(event.get("event", "?"))
        health.errors[name] = health.errors.get(name, 0) + 1
        health.last_errors.append((str(event.get("time", "")), name, str(event.get("message", ""))))
        del health.last_errors[:-ERRORS_SHOWN]
    return health


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _iso(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _num_attr(value: object) -> str:
    if value is None:
        return ""
    return repr(round(value, 6)) if isinstance(value, float) else str(value)


# -- tables -----------------------------------------------------------------------


def usage_table(groups: Sequence[Group], total: Group, by: str, table_id: str) -> str:
    """The figures as a table; each row has ``data-name`` and ``data-<column>`` attributes."""
    head = "".join(f"<th>{_e(HEADERS[c])}</th>" for c in COLUMNS)
    rows = []
    for group in [*groups, total]:
        attrs = " ".join(
            f'data-{c.replace("_", "-")}="{_e(_num_attr(getattr(group, c)))}"' for c in COLUMNS
        )
        cells = "".join(f"<td>{_e(cell(group, c))}</td>" for c in COLUMNS)
        row = f'<tr data-name="{_e(group.name)}" {attrs}><td>{_e(group.name)}</td>{cells}</tr>'
        rows.append(row)
    body, foot = "".join(rows[:-1]), rows[-1]
    return (
        f'<table id="{table_id}"><thead><tr><th>{_e(by)}</th>{head}</tr></thead>'
        f"<tbody>{body}</tbody><tfoot>{foot}</tfoot></table>"
    )


# -- charts -------------------------------------------------------------------------


def _legend() -> str:
    return (
        '<p class="legend">'
        + "".join(
            f'<span><i class="sw" style="background:{colour}"></i>{_e(name)}</span>'
            for name, colour in COLOURS.items()
        )
        + "</p>"
    )


def user_bars(groups: Sequence[Group]) -> str:
    """Horizontal bars per user: UoWs split by outcome, and CPU-hours when known."""
    if not groups:
        return '<p class="note">No Unit of Work was handed back in this period.</p>'
    most = max(g.uows for g in groups) or 1
    cpu_most = max((g.cpu_hours or 0.0) for g in groups) or 1.0
    width, label, row_h = 760, 160, 22
    parts = []
    for index, group in enumerate(groups):
        y = index * row_h
        x = float(label)
        parts.append(f'<text x="0" y="{y + 14}">{_e(group.name[:28])}</text>')
        for outcome, count in (
            (SUCCEEDED, group.succeeded),
            ("failed", group.failed),
            (REJECTED, group.rejected),
        ):
            w = (width - label - 220) * count / most
            if w > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="14" '
                    f'fill="{COLOURS[outcome]}"><title>{count} {outcome}</title></rect>'
                )
            x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 14}">{group.uows}</text>')
        if group.cpu_hours is not None:
            w = 140 * group.cpu_hours / cpu_most
            parts.append(
                f'<rect x="{width - 200}" y="{y + 5}" width="{w:.1f}" height="10" fill="#1565c0"/>'
                f'<text x="{width - 200 + w + 4:.1f}" y="{y + 14}">'
                f"{group.cpu_hours:.1f} CPU-h</text>"
            )
    height = len(groups) * row_h
    return _svg(width + 60, height, "UoWs and CPU-hours per user", parts) + _legend()


def _svg(width: float, height: float, label: str, parts: Iterable[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_e(label)}" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">'
        + "".join(parts)
        + "</svg>"
    )


def timeline(items: Sequence[Item]) -> str:
    """One row per UoW (most recent :data:`TIMELINE_MAX`): queued, running, handed back."""
    shown = list(items)[-TIMELINE_MAX:]
    if not shown:
        return '<p class="note">Nothing to draw.</p>'
    start = min(i.admitted or i.submitted or i.finished for i in shown)
    end = max(i.finished for i in shown)
    span = max(end - start, 1.0)
    width, left = 1000.0, 0.0
    row_h = max(4.0, min(12.0, 600.0 / len(shown)))
    bar_h = row_h - 1
    scale = (width - left) / span

    def x(ts: float) -> float:
        return left + (ts - start) * scale

    parts = []
    for index, item in enumerate(shown):
        y = index * row_h
        admitted = item.admitted or item.submitted or item.finished
        ran_from = item.started if item.started is not None else item.finished
        ran_to = item.ended if item.ended is not None else item.finished
        parts.append(
            f'<rect x="{x(admitted):.1f}" y="{y:.0f}" width="{max(x(ran_from) - x(admitted), 0.5):.1f}"'
            f' height="{bar_h:.0f}" fill="#bdbdbd"/>'
        )
        if item.started is not None:
            parts.append(
                f'<rect x="{x(ran_from):.1f}" y="{y:.0f}" '
                f'width="{max(x(ran_to) - x(ran_from), 1.0):.1f}" height="{bar_h:.0f}" '
                f'fill="{COLOURS.get(item.outcome, "#757575")}"><title>{_e(item.uow)} '
                f"({_e(item.user)}): {_e(item.outcome)}</title></rect>"
            )
        parts.append(
            f'<rect x="{x(item.finished) - 1:.1f}" y="{y:.0f}" width="2" height="{bar_h:.0f}" '
            f'fill="{COLOURS.get(item.outcome, "#757575")}"/>'
        )
    note = (
        f'<p class="note">{len(shown)} most recent of {len(items)} UoWs, from {_iso(start)} '
        f"to {_iso(end)}. Grey: admitted and queued; coloured: running; tick: handed back. "
        "(The upload itself is not timed by the agent.)</p>"
    )
    return _svg(width, len(shown) * row_h, "timeline of UoWs", parts) + _legend() + note


def _hbars(rows: Sequence[tuple[str, int]], label: str, colour: str) -> str:
    if not rows:
        return '<p class="note">None.</p>'
    most = max(count for _, count in rows) or 1
    width, text_w, row_h = 760, 300, 20
    parts = []
    for index, (name, count) in enumerate(rows):
        y = index * row_h
        w = (width - text_w - 60) * count / most
        parts.append(
            f'<text x="0" y="{y + 14}">{_e(name[:48])}</text>'
            f'<rect x="{text_w}" y="{y + 3}" width="{w:.1f}" height="14" fill="{colour}"/>'
            f'<text x="{text_w + w + 4:.1f}" y="{y + 14}">{count}</text>'
        )
    return _svg(width, len(rows) * row_h, label, parts)


def failure_reasons(items: Sequence[Item]) -> list[tuple[str, int]]:
    """Failed and rejected UoWs by reason: Slurm's state, else the first words of the reason."""
    counts: dict[str, int] = {}
    for item in items:
        if item.outcome == SUCCEEDED:
            continue
        if item.outcome == REJECTED:
            key = "rejected at admission"
        elif item.state:
            key = item.state
        else:
            key = (item.reason or "unknown").split(":")[0][:60]
        counts[key] = counts.get(key, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ranked[:REASONS_MAX]


def wait_histogram(items: Sequence[Item]) -> list[tuple[str, int]]:
    """How many UoWs waited how long in the queue (:data:`WAIT_BINS`)."""
    counts = [0] * len(WAIT_BINS)
    for item in items:
        if item.wait is None:
            continue
        for index, (limit, _) in enumerate(WAIT_BINS):
            if item.wait < limit:
                counts[index] += 1
                break
    return [(name, count) for (_, name), count in zip(WAIT_BINS, counts, strict=True)]


def health_section(health: Health, now: float) -> str:
    """The last tick, the recent tick durations as bars, the errors of the period."""
    beat = health.beat
    if beat is None:
        out = ['<p class="bad">No tick has run yet (no heartbeat).</p>']
    else:
        ended = "still running (or crashed)" if beat.ended is None else _iso(beat.ended)
        took = "-" if beat.ended is None else f"{beat.ended - beat.started:.2f} s"
        cls = "" if beat.ok else ' class="bad"'
        out = [
            f'<p id="last-tick" data-started="{beat.started:.3f}"{cls}>Last tick: started '
            f"{_iso(beat.started)} ({human_seconds(max(0.0, now - beat.started))} ago) on "
            f"{_e(beat.host)}, ended {_e(ended)}, took {_e(took)}, exit code "
            f"{_e(beat.exit_code)}; {beat.failures_in_a_row} failed in a row; last success "
            f"{_iso(beat.last_success)}.</p>"
        ]
        out.append(tick_durations(beat.recent))
    errors = sorted(health.errors.items(), key=lambda kv: (-kv[1], kv[0]))
    out.append(f"<h3>Errors in the event log ({sum(health.errors.values())})</h3>")
    out.append(_hbars(errors, "errors by event", "#c62828"))
    if health.last_errors:
        rows = "".join(
            f"<tr><td>{_e(t)}</td><td>{_e(name)}</td><td style='text-align:left'>"
            f"{_e(message[:300])}</td></tr>"
            for t, name, message in reversed(health.last_errors)
        )
        out.append(
            f'<table id="errors"><thead><tr><th>time</th><th>event</th>'
            f"<th>message</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    return "".join(out)


def tick_durations(recent: Sequence[object]) -> str:
    """The durations of the recent ticks, one bar each (red: the tick failed)."""
    rows = [r for r in recent if isinstance(r, list) and len(r) == 3]
    if not rows:
        return '<p class="note">No tick durations recorded yet.</p>'
    seconds = [float(r[1]) for r in rows]
    most = max(seconds) or 1.0
    width, height = 760.0, 80.0
    step = min(width / len(rows), 12.0)
    parts = [
        f'<rect x="{i * step:.1f}" y="{height - 60 * s / most:.1f}" '
        f'width="{max(step - 1, 0.5):.1f}" height="{60 * s / most:.1f}" '
        f'fill="{"#1565c0" if r[2] == 0 else "#c62828"}"/>'
        for i, (r, s) in enumerate(zip(rows, seconds, strict=True))
    ]
    parts.append(f'<text x="0" y="12">longest {most:.2f} s</text>')
    median = sorted(seconds)[len(seconds) // 2]
    note = f'<p class="note">The last {len(rows)} ticks: median {median:.2f} s, longest {most:.2f} s.</p>'
    return _svg(width, height, "tick durations", parts) + note


# -- the page ------------------------------------------------------------------------


def render(usage: Usage, health: Health, *, now: float) -> str:
    """The whole page (a str of HTML5)."""
    title = f"FlowCron {usage.instance}: usage"
    since = _iso(usage.since) if usage.since is not None else "the beginning of the ledger"
    until = _iso(usage.until) if usage.until is not None else "now"
    missing = ""
    if usage.missing:
        why = sorted(set(usage.missing.values()))
        cols = ", ".join(HEADERS[c] for c in usage.missing)
        missing = f'<p class="note" id="missing">Missing: {_e(cols)} ({_e("; ".join(why))}).</p>'
    by_function = group_items(usage.items, "function")
    sections = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="note">UoWs handed back from {_e(since)} until {_e(until)}; written '
        f"{_iso(now)}. Figures as <code>hpc-agent usage</code> prints them.</p>",
        missing,
        "<h2>Per user</h2>",
        user_bars(usage.groups),
        usage_table(usage.groups, usage.total, usage.by, "usage-by-user"),
        "<h2>Per function or script</h2>",
        usage_table(by_function, usage.total, "function", "usage-by-function"),
        "<h2>Timeline</h2>",
        timeline(usage.items),
        "<h2>Failures by reason</h2>",
        _hbars(failure_reasons(usage.items), "failures by reason", "#c62828"),
        "<h2>Queue wait</h2>",
        _hbars(wait_histogram(usage.items), "queue wait", "#1565c0"),
        "<h2>The agent's health</h2>",
        health_section(health, now),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        + "\n".join(s for s in sections if s)
        + "\n</body></html>\n"
    )


def write_report(
    cfg: InstanceConfig,
    target: Path,
    *,
    since: float | None = None,
    until: float | None = None,
    now: float | None = None,
) -> Usage:
    """Compute the figures, render the page and write it to ``target`` atomically."""
    moment = time.time() if now is None else now
    usage = compute(cfg, since=since, until=until, by="user")
    page = render(usage, read_health(cfg, since), now=moment)
    write_text_atomic(target, page)
    return usage
