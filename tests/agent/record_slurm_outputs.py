"""Record real Slurm command output into tests/agent/data/ for the parser tests.

Run by hand when Slurm's output format matters again (for example a new Slurm
version): ``.venv/bin/python tests/agent/record_slurm_outputs.py``. It starts
both test clusters, runs jobs that end in every interesting state, and writes
what sbatch, sacct, squeue and scontrol printed: also a job array with a
failing task, a two-component heterogeneous job (the clusters have two nodes:
the backfill scheduler never puts two components on one node), and, after the
controller restarted without its state, a new job that was given an old id.
Takes about three minutes (Slurm enforces time limits in whole minutes).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from hpc_agent.executors.slurm import SACCT_FIELDS, SQUEUE_FORMAT  # noqa: E402
from tests.slurmbed import SlurmCluster  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"

SCRIPTS = {
    "ok": "#!/bin/bash\necho hello\n",
    "fail": "#!/bin/bash\nexit 3\n",
    "timeout": "#!/bin/bash\n#SBATCH --time=0:02\nsleep 300\n",
    "long": "#!/bin/bash\nsleep 300\n",
    "array": (
        "#!/bin/bash\n#SBATCH --array=1-4\n"
        'sleep 2\nif [ "$SLURM_ARRAY_TASK_ID" = 3 ]; then exit 3; fi\n'
    ),
    "het": "#!/bin/bash\n#SBATCH --mem=50M\n#SBATCH hetjob\n#SBATCH --mem=50M\nsleep 2\n",
}


def record(cluster: SlurmCluster, tag: str, work: Path) -> None:
    """Submit one job per outcome, wait for them to settle, save every command's output."""
    for name, text in SCRIPTS.items():
        (work / f"{name}.sh").write_text(text)
    out: dict[str, str] = {}

    def sbatch(name: str, *extra: str) -> str:
        argv = ["sbatch", "--parsable", "--job-name", f"rec-{name}", "--chdir", str(work)]
        argv += ["--output", str(work / "slurm-%j.out"), *extra, str(work / f"{name}.sh")]
        result = cluster.run(argv)
        out.setdefault("sbatch_parsable", result.stdout)
        return result.stdout.strip().split(";")[0]

    ids = {name: sbatch(name) for name in ("ok", "fail", "timeout", "long")}
    ids["dependent"] = sbatch("ok", "--dependency", f"afterany:{ids['long']}")
    ids["cancelled"] = sbatch("long")
    cluster.wait_for_state(ids["ok"], {"COMPLETED"})
    cluster.wait_for_state(ids["long"], {"RUNNING"})
    cluster.run(["scancel", ids["cancelled"]])
    # A snapshot while one job runs and one waits on a dependency.
    joined = ",".join(ids.values())
    out["squeue_running"] = cluster.run(
        ["squeue", "-h", "-t", "all", "-j", joined, "-o", SQUEUE_FORMAT]
    ).stdout
    out["scontrol_running"] = cluster.run(["scontrol", "show", "job", "-o"]).stdout
    cluster.wait_for_state(ids["timeout"], {"TIMEOUT"}, timeout=150)
    cluster.run(["scancel", ids["long"]])
    cluster.wait_for_state(ids["dependent"], {"COMPLETED"})
    time.sleep(2)  # let slurmctld hand the last records to slurmdbd
    out["squeue_ended"] = cluster.run(
        ["squeue", "-h", "-t", "all", "-j", joined, "-o", SQUEUE_FORMAT]
    ).stdout
    out["scontrol_ended"] = cluster.run(["scontrol", "show", "job", "-o"]).stdout
    out["squeue_names"] = cluster.run(
        ["squeue", "-h", "-t", "all", "--name=rec-ok,rec-long,absent", "-o", "%i|%j|%V"]
    ).stdout
    sacct = cluster.run(
        ["sacct", "-j", joined, "-n", "-P", "-X", "--format=" + ",".join(SACCT_FIELDS)],
        check=False,
    )
    out["sacct"] = sacct.stdout + sacct.stderr
    if cluster.accounting:
        out["sacct_names"] = cluster.run(
            [
                "sacct",
                "--name=rec-ok,rec-long,absent",
                "-X",
                "-n",
                "-P",
                "-S",
                "now-30days",
                "--format=JobID,JobName,Submit",
            ]
        ).stdout
    out["scontrol_show_config"] = cluster.run(["scontrol", "show", "config"]).stdout
    record_parts(cluster, sbatch, out)
    if cluster.accounting:
        record_reuse(cluster, sbatch, out)
    for key, text in out.items():
        (DATA / f"{tag}_{key}.txt").write_text(text)


def record_parts(cluster: SlurmCluster, sbatch: Callable[..., str], out: dict[str, str]) -> None:
    """An array (task 3 fails) and a heterogeneous job: while queued and running, and ended."""
    blocker = sbatch("long", "--nodes=2", "--exclusive")
    ids = [sbatch("array"), sbatch("het")]
    joined = ",".join(ids)
    cluster.wait_for_state(blocker, {"RUNNING"})
    out["squeue_parts_pending"] = cluster.run(
        ["squeue", "-h", "-t", "all", "-j", joined, "-o", SQUEUE_FORMAT]
    ).stdout
    cluster.run(["scancel", blocker])
    cluster.wait_for_state(ids[1], {"COMPLETED"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = cluster.run(["squeue", "-h", "-t", "all", "-j", ids[0], "-o", "%T"]).stdout
        if text.split() and all(s in ("COMPLETED", "FAILED") for s in text.split()):
            break
        time.sleep(0.5)
    time.sleep(4)  # let slurmctld hand the last records to slurmdbd
    out["squeue_parts_ended"] = cluster.run(
        ["squeue", "-h", "-t", "all", "-j", joined, "-o", SQUEUE_FORMAT]
    ).stdout
    out["scontrol_parts_ended"] = cluster.run(["scontrol", "show", "job", "-o"]).stdout
    if cluster.accounting:
        out["sacct_parts"] = cluster.run(
            ["sacct", "-D", "-j", joined, "-n", "-P", "-X", "--format=" + ",".join(SACCT_FIELDS)]
        ).stdout


def record_reuse(cluster: SlurmCluster, sbatch: Callable[..., str], out: dict[str, str]) -> None:
    """A controller restarted without its state gives new jobs old ids: sacct -D lists both."""
    cluster.restart_controller(wipe_state=True)
    reused = sbatch("ok")
    time.sleep(1)
    first = cluster.run(
        ["sacct", "-D", "-j", reused, "-n", "-P", "-X", "--format=" + ",".join(SACCT_FIELDS)]
    ).stdout
    cluster.wait_for_state(reused, {"COMPLETED"})
    deadline = time.monotonic() + 30
    later = first
    while time.monotonic() < deadline:
        later = cluster.run(
            ["sacct", "-D", "-j", reused, "-n", "-P", "-X", "--format=" + ",".join(SACCT_FIELDS)]
        ).stdout
        if later.count("\n") >= 2 and "allocation" not in later:
            break
        time.sleep(1)
    out["sacct_reused_early"] = first
    out["sacct_reused"] = later


def main() -> None:
    """Record from a cluster with accounting and from one without."""
    DATA.mkdir(exist_ok=True)
    for tag, accounting in (("acct", True), ("noacct", False)):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            work = root / "work dir"
            work.mkdir()
            with SlurmCluster(
                root / "bed",
                accounting=accounting,
                nodes=2,
                cpus=1,
                scheduler_parameters="bf_interval=1",
            ) as cluster:
                record(cluster, tag, work)
        print(f"recorded {tag}")


if __name__ == "__main__":
    main()
