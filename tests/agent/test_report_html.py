"""``hpc-agent report --html``: a self-contained page, escaped, checked in a real browser.

The browser test runs Debian's ``chromium`` headless: ``--dump-dom`` gives the
page as the browser built it (the per-user table's ``data-*`` attributes are
compared with the ledger's figures), ``--enable-logging=stderr`` prints every
console message as ``CONSOLE`` (there must be none), and ``--screenshot``
keeps a picture under the test's tmp dir and in ``tests/artifacts/``
(ignored by git). Without chromium the test skips, except under ``CI=true``
(``.ci/run`` installs it), where it fails, as the Slurm tests do.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from hpc_agent.cli import main
from hpc_agent.config import InstanceConfig, save_instance
from hpc_agent.loop import health
from hpc_agent.loop.eventlog import EventLog
from hpc_agent.loop.state import Ledger, StateStore
from hpc_agent.usage.figures import COLUMNS, compute
from hpc_agent.usage.html import read_health, render

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
HOSTILE = '<script>alert("x")</script>&amp;"\''
T0 = time.time() - 3 * 86400


def _entry(n: int, user: str, outcome: str = "succeeded", **kw: Any) -> dict[str, Any]:
    at = T0 + n * 600
    data: dict[str, Any] = {
        "at": at,
        "uow": f"uow{n}_0b7c5fd9",
        "job_id": str(2000 + n),
        "user": user,
        "function": "script:submission_script.sh" if n % 2 else "relion-refine",
        "outcome": outcome,
        "state": {"succeeded": "COMPLETED", "failed": "TIMEOUT"}.get(outcome),
        "reason": None if outcome == "succeeded" else f"it broke {HOSTILE}",
        "admitted": at - 900,
        "submitted": at - 890,
        "started": None if outcome == "rejected" else at - 890 + 30 * n,
        "ended": None if outcome == "rejected" else at - 20,
        "finished": at,
        "bytes": 1000 * n,
    }
    data.update(kw)
    return data


@pytest.fixture
def inst(cfg: InstanceConfig) -> InstanceConfig:
    """A local-executor instance with a ledger, a heartbeat and an error in its log."""
    local = dataclasses.replace(cfg, executor="local")
    for directory in protocol.INSTANCE_DIRS:
        local.path(directory).mkdir(parents=True, exist_ok=True)
    save_instance(local)
    users = ["alice", "bob", HOSTILE]
    outcomes = ["succeeded", "succeeded", "failed", "rejected"]
    ledger = Ledger(StateStore(local.base_dir).root)
    for n in range(1, 25):
        key = f"{protocol.ANALYSED}/uow{n}"
        ledger.entries[key] = _entry(n, users[n % 3], outcomes[n % 4])
        if outcomes[n % 4] == "rejected":
            ledger.entries[key]["job_id"] = None
    ledger.dirty = True
    ledger.save()
    beat = health.begin(local.base_dir, time.time() - 5)
    health.end(local.base_dir, beat, now=time.time() - 4, exit_code=0, message="", counts={})
    log = EventLog(local.path(protocol.LOGS), local.name)
    log.write("scheduler-unavailable", f"down {HOSTILE}", level="error", error="x")
    return local


def test_page_is_self_contained_and_escapes_everything(inst: InstanceConfig) -> None:
    usage = compute(inst, by="user")
    page = render(usage, read_health(inst, None), now=time.time())
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page  # the hostile name is text, never markup
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;amp;&quot;&#x27;" in page
    # No network: nothing is loaded from anywhere (the SVG namespace is only a name).
    assert not re.search(r"""(src|href)\s*=""", page)
    assert page.count("http") == page.count('xmlns="http://www.w3.org/2000/svg"')
    assert 'id="usage-by-user"' in page and 'id="last-tick"' in page
    assert "scheduler-unavailable" in page and "down &lt;script&gt;" in page


def test_tick_durations_come_from_the_heartbeat(inst: InstanceConfig) -> None:
    beat = health.read_heartbeat(inst.base_dir)
    assert beat is not None and len(beat.recent) == 1 and beat.recent[0][2] == 0
    for _ in range(health.RECENT_TICKS + 5):
        beat = health.begin(inst.base_dir, time.time())
        health.end(inst.base_dir, beat, now=time.time(), exit_code=1, message="", counts={})
    beat = health.read_heartbeat(inst.base_dir)
    assert beat is not None and len(beat.recent) == health.RECENT_TICKS
    page = render(compute(inst), read_health(inst, None), now=time.time())
    assert f"The last {health.RECENT_TICKS} ticks" in page


def test_report_command_writes_the_file(
    inst: InstanceConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out" / "report.html"
    target.parent.mkdir()
    assert main(["report", str(inst.base_dir), "--html", str(target), "--since", "30d"]) == 0
    assert f"wrote {target} (24 UoWs" in capsys.readouterr().out
    assert target.read_text().endswith("</html>\n")


# -- in a real browser --------------------------------------------------------------


def chromium() -> str:
    """The chromium binary; skip without one, fail under ``CI=true``."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "the browser test needs Debian's chromium (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: a missing browser is a failure here, not a skip)")
    pytest.skip(message)


class Rows(HTMLParser):
    """The ``data-*`` attributes of every row of one table (by id)."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.inside = False
        self.rows: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "table":
            self.inside = values.get("id") == self.table_id
        elif tag == "tr" and self.inside and "data-name" in values:
            self.rows.append(values)

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False


def _browser(binary: str, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            binary,
            "--headless=new",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            f"--user-data-dir={page.parent / 'chromium-profile'}",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_page_in_headless_chromium(inst: InstanceConfig, tmp_path: Path) -> None:
    binary = chromium()
    page = tmp_path / "report.html"
    assert main(["report", str(inst.base_dir), "--html", str(page)]) == 0

    dumped = _browser(binary, page, "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    console = [line for line in dumped.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    assert "<svg" in dumped.stdout and 'id="usage-by-user"' in dumped.stdout

    # The numbers the browser shows are the ledger's.
    parser = Rows("usage-by-user")
    parser.feed(dumped.stdout)
    shown = {row["data-name"]: row for row in parser.rows}
    usage = compute(inst, by="user")
    assert set(shown) == {g.name for g in usage.groups} | {"total"}
    assert HOSTILE in shown  # the name survives escaping intact
    for group in [*usage.groups, usage.total]:
        row = shown[group.name]
        for column in ("uows", "succeeded", "failed", "rejected", "bytes"):
            assert row[f"data-{column}"] == str(getattr(group, column)), (group.name, column)
        assert float(row["data-wait-median"]) == pytest.approx(group.wait_median)
        assert all(f"data-{c.replace('_', '-')}" in row for c in COLUMNS)
    assert shown["total"]["data-uows"] == "24"

    shot = tmp_path / "report.png"
    taken = _browser(binary, page, f"--screenshot={shot}", "--window-size=1200,2400")
    assert taken.returncode == 0 and shot.stat().st_size > 10_000, taken.stderr[-2000:]
    assert not [line for line in taken.stderr.splitlines() if "CONSOLE" in line]
    ARTIFACTS.mkdir(exist_ok=True)
    kept = ARTIFACTS / "report-html.png"
    shutil.copyfile(shot, kept)
    shutil.copyfile(page, ARTIFACTS / "report.html")
    print(f"screenshot: {kept}")
