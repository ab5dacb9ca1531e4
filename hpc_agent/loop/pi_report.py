"""The tick's last, optional step: refresh ``Logs/report.html`` at most once an hour.

Off by default (``html_report = true`` in ``flowcron.toml`` turns it on).
The page is the one ``hpc-agent report --html`` writes, from the same code
(:mod:`hpc_agent.usage.html`). It is a convenience: any failure is logged
and never stops or fails the tick.
"""

from __future__ import annotations

import os
from typing import Final

from hpc_agent import protocol
from hpc_agent.loop.context import STOPS_THE_TICK, TickContext

REPORT_FILE: Final = "report.html"
"""The page's name in ``Logs/``."""
REFRESH_SECONDS: Final = 3600


def refresh_html_report(ctx: TickContext) -> bool:
    """Write ``Logs/report.html`` when it is on and older than an hour; True when written."""
    cfg = ctx.agent.cfg
    if not cfg.html_report:
        return False
    target = cfg.path(protocol.LOGS) / REPORT_FILE
    try:
        age = ctx.now - os.lstat(target).st_mtime
    except FileNotFoundError:
        age = float("inf")
    except OSError:
        age = float("inf")
    if age < REFRESH_SECONDS:
        return False
    try:
        from hpc_agent.usage.html import write_report  # only instances that turned it on pay

        write_report(cfg, target, now=ctx.now)
    except STOPS_THE_TICK:
        raise
    except Exception as exc:
        ctx.log.write(
            "html-report-failed",
            f"could not refresh {protocol.LOGS}/{REPORT_FILE} ({type(exc).__name__}: {exc}); "
            "the tick went on, the next one tries again",
            level="warning",
            error=str(exc),
        )
        return False
    return True
