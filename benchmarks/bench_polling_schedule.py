"""Polling cost of the FlowCron flow, computed from its wait schedule.

For jobs of several lengths this counts every Action a run executes and
the delay between the agent finishing and the flow noticing, using the
same wait arithmetic the flow evaluates (:class:`flowgen.dsl.PollPolicy`)
and the flow's check sequence (see :mod:`flowgen.flowcron.flow`):

* fixed actions: collection_info, stat of the source (managed collections;
  counted always, the worst case), upload, mkdir sentinels, transfer back,
  delete (counted always, the worst case);
* each check while the job waits for the agent (first ``--admit-delay``
  seconds): stat running + stat uploaded = 2;
* each check while the job runs: stat running = 1;
* the check that notices the end: running, uploaded, analysed, sentinels = 4.

The simulator benchmark (bench_simulator_polling.py) measures the same
figures by running the built flow; this one needs nothing but the config.
Targets (issue 2): a 1-hour job <= 40 actions, a 24-hour job <= 130, and
the finish noticed within 25% of the elapsed run time and never later than
30 minutes.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowgen.dsl import PollPolicy
from flowgen.flowcron import load_config

FIXED_ACTIONS = 6
NOTICE_CHECK = 4
ORIGINAL_PER_MINUTE = 2  # the original flow: two status checks a minute


@dataclass(frozen=True)
class Cost:
    """What one run costs for a job of ``duration`` seconds."""

    duration: int
    actions: int
    checks: int
    notice_delay: int

    @property
    def notice_ratio(self) -> float:
        """Delay in noticing, as a fraction of the elapsed run time until the agent finished."""
        return self.notice_delay / self.duration


def cost(policy: PollPolicy, duration: int, admit_delay: int) -> Cost:
    """Walk the wait schedule until the first check at or after ``duration``."""
    now, actions = 0, FIXED_ACTIONS
    for checks, wait in enumerate(policy.waits(), start=1):
        now += wait
        if now >= duration:
            return Cost(duration, actions + NOTICE_CHECK, checks, now - duration)
        actions += 2 if now < admit_delay else 1
    raise SystemExit(f"a {duration}s job outlives the deadline of {policy.deadline}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("flows/example.toml"))
    parser.add_argument(
        "--admit-delay",
        type=int,
        default=300,
        help="seconds before the agent admits the job (cron interval)",
    )
    args = parser.parse_args()
    policy = load_config(args.config).polling
    print(
        f"policy: first wait {policy.initial_wait}s, x{policy.growth}, cap {policy.max_wait}s, deadline {policy.deadline}s"
    )
    print(f"{'job':>8} {'actions':>8} {'checks':>7} {'notice':>8} {'ratio':>6} {'original':>9}")
    failures = []
    for label, duration in (
        ("5 min", 300),
        ("1 hour", 3600),
        ("6 hours", 6 * 3600),
        ("24 hours", 86400),
    ):
        c = cost(policy, duration, args.admit_delay)
        original = ORIGINAL_PER_MINUTE * duration // 60 + 5
        print(
            f"{label:>8} {c.actions:>8} {c.checks:>7} {c.notice_delay:>7}s {c.notice_ratio:>6.1%} {original:>9}"
        )
        if c.notice_delay > 1800 or c.notice_ratio > 0.25:
            failures.append(f"{label}: noticed {c.notice_delay}s late ({c.notice_ratio:.0%})")
        if duration == 3600 and c.actions > 40:
            failures.append(f"1 hour: {c.actions} actions > 40")
        if duration == 86400 and c.actions > 130:
            failures.append(f"24 hours: {c.actions} actions > 130")
    worst = max(
        (cost(policy, d, args.admit_delay) for d in range(300, 86400 + 1, 30)),
        key=lambda c: c.notice_ratio,
    )
    print(
        f"worst notice ratio for jobs of 5 min to 24 h: {worst.notice_ratio:.1%} (a {worst.duration}s job)"
    )
    for failure in failures:
        print(f"TARGET MISSED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
