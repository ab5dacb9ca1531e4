"""``hpc-agent usage`` over 100,000 ledger records and ``report --html`` over 10,000 UoWs.

Targets (issue 12): ``hpc-agent usage`` over 100,000 finished UoWs in the
ledger takes <= 2 s; ``hpc-agent report --html`` over 10,000 UoWs takes
<= 2 s and writes a file of <= 2 MB. Both are timed as the whole command in
a fresh process (interpreter start-up, reading the ledger, the figures,
printing or writing), the median of several runs after one untimed run. The
instance uses the local executor (no accounting); the sacct path's parser is
timed separately on 100,000 jobs of recorded shape (three lines each), since
it is the one part the accounting adds. Exits with 1 when a target is missed.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpc_agent import protocol  # noqa: E402
from hpc_agent.config import InstanceConfig, save_instance  # noqa: E402
from hpc_agent.loop import health  # noqa: E402
from hpc_agent.loop.eventlog import EventLog  # noqa: E402
from hpc_agent.loop.state import Ledger, StateStore  # noqa: E402
from hpc_agent.usage.sacct import parse_usage  # noqa: E402

USAGE_RECORDS = 100_000
REPORT_UOWS = 10_000
RUNS = 3
TARGET_SECONDS = 2.0
TARGET_BYTES = 2 * 1024 * 1024
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
OUTCOMES = ("succeeded",) * 8 + ("failed", "rejected")


def instance(base: Path, records: int) -> InstanceConfig:
    """An instance with ``records`` finished UoWs over 90 days, 40 users, 25 functions."""
    base.mkdir(parents=True)
    cfg = InstanceConfig(name="bench", base_dir=base.resolve(), executor="local", schedule="none")
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    save_instance(cfg)
    now = time.time()
    ledger = Ledger(StateStore(cfg.base_dir).root)
    for n in range(records):
        at = now - 90 * 86400 * (records - n) / records
        outcome = OUTCOMES[n % len(OUTCOMES)]
        ran = outcome != "rejected"
        key = f"{protocol.ANALYSED if outcome == 'succeeded' else protocol.FAILED}/u{n}"
        ledger.entries[key] = {
            "at": at,
            "uow": f"sample{n}_0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11",
            "job_id": str(100_000 + n) if ran else None,
            "user": f"user{n % 40}@uni.edu",
            "function": f"function-{n % 25}" if n % 3 else "script:submission_script.sh",
            "outcome": outcome,
            "state": {"succeeded": "COMPLETED", "failed": "TIMEOUT"}.get(outcome),
            "reason": "TIMEOUT: the job ran out of time" if outcome == "failed" else None,
            "admitted": at - 3600,
            "submitted": at - 3590 if ran else None,
            "started": at - 3590 + (n % 600) if ran else None,
            "ended": at - 60 if ran else None,
            "finished": at,
            "bytes": 1_000_000 + n,
        }
    ledger.dirty = True
    ledger.save()
    return cfg


def history(cfg: InstanceConfig, uows: int) -> None:
    """A week of event log (five events per UoW, some errors) and a day of tick durations."""
    log = EventLog(cfg.path(protocol.LOGS), cfg.name)
    for n in range(uows):
        for event in ("admitted", "submitted", "job-ended", "finalized"):
            log.write(event, f"sample{n} {event}", uow=f"sample{n}")
        if n % 50 == 0:
            log.write("finalize-failed", f"sample{n} could not move", level="error", uow="x")
    beat = None
    for _ in range(health.RECENT_TICKS):
        beat = health.begin(cfg.base_dir, time.time())
        health.end(cfg.base_dir, beat, now=time.time() + 0.2, exit_code=0, message="", counts={})


def timed(argv: list[str]) -> float:
    """The median wall time of ``hpc-agent ARGV`` in a fresh process (one untimed run first)."""
    command = [sys.executable, "-m", "hpc_agent", *argv]
    subprocess.run(command, check=True, env=ENV, capture_output=True)
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(command, check=True, env=ENV, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def sacct_parse_seconds(jobs: int) -> float:
    """Parsing ``jobs`` jobs of sacct output (allocation, batch and one step line each)."""
    lines = []
    for n in range(jobs):
        job = 100_000 + n
        times = "2026-01-01T00:00:00|2026-01-01T00:01:00|2026-01-01T01:01:00|3600"
        lines.append(f"{job}|{job}|COMPLETED|{times}|billing=4,cpu=4,mem=4G,node=1|")
        lines.append(f"{job}.batch|{job}.batch|COMPLETED|{times}|cpu=4,mem=4G,node=1|2048K")
        lines.append(f"{job}.0|{job}.0|COMPLETED|{times}|cpu=4,mem=4G,node=1|1.5G")
    text = "\n".join(lines) + "\n"
    started = time.perf_counter()
    parse_usage(text)
    return time.perf_counter() - started


def main() -> int:
    failures = []
    with tempfile.TemporaryDirectory(prefix="bench-usage-") as tmp:
        big = instance(Path(tmp) / "usage", USAGE_RECORDS)
        ledger_size = (StateStore(big.base_dir).root / "finished.json").stat().st_size
        print(f"ledger: {USAGE_RECORDS} records, {ledger_size / 1e6:.1f} MB")
        for args in (["--by", "user"], ["--by", "day", "--format", "csv"], ["--format", "json"]):
            seconds = timed(["usage", str(big.base_dir), *args])
            ok = seconds <= TARGET_SECONDS
            print(f"hpc-agent usage {' '.join(args)}: {seconds:.2f} s (target <= 2 s) {ok}")
            if not ok:
                failures.append(f"usage {args}")
        parse = sacct_parse_seconds(USAGE_RECORDS)
        print(f"sacct output of {USAGE_RECORDS} jobs (3 lines each) parsed in {parse:.2f} s")

        small = instance(Path(tmp) / "report", REPORT_UOWS)
        history(small, REPORT_UOWS)
        page = Path(tmp) / "report.html"
        seconds = timed(["report", str(small.base_dir), "--html", str(page)])
        size = page.stat().st_size
        ok = seconds <= TARGET_SECONDS and size <= TARGET_BYTES
        print(
            f"hpc-agent report --html over {REPORT_UOWS} UoWs and {REPORT_UOWS * 4} events: "
            f"{seconds:.2f} s, {size / 1024:.0f} KiB (targets <= 2 s, <= 2048 KiB) {ok}"
        )
        if not ok:
            failures.append("report")
    print(json.dumps({"missed": failures}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
