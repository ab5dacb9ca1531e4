"""Record real Slurm command output into tests/agent/data/ for the parser tests.

Run by hand when Slurm's output format matters again (for example a new Slurm
version): ``.venv/bin/python tests/agent/record_slurm_outputs.py``. It starts
both test clusters, runs jobs that end in every interesting state, and writes
what sbatch, sacct, squeue and scontrol printed. Takes about two minutes
(Slurm enforces time limits in whole minutes).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from slurmbed import SlurmCluster  # noqa: E402

from hpc_agent.slurm import SACCT_FIELDS, SQUEUE_FORMAT  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"

SCRIPTS = {
    "ok": "#!/bin/bash\necho hello\n",
    "fail": "#!/bin/bash\nexit 3\n",
    "timeout": "#!/bin/bash\n#SBATCH --time=0:02\nsleep 300\n",
    "long": "#!/bin/bash\nsleep 300\n",
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
    for key, text in out.items():
        (DATA / f"{tag}_{key}.txt").write_text(text)


def main() -> None:
    """Record from a cluster with accounting and from one without."""
    DATA.mkdir(exist_ok=True)
    for tag, accounting in (("acct", True), ("noacct", False)):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            work = root / "work dir"
            work.mkdir()
            with SlurmCluster(root / "bed", accounting=accounting) as cluster:
                record(cluster, tag, work)
        print(f"recorded {tag}")


if __name__ == "__main__":
    main()
