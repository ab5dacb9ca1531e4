"""Cold-start wall time of the instant commands, each also as a ratio to ``python -c pass``.

Targets (issue 13): ``flowgen --help``, ``flowgen build`` and ``flowgen
validate`` on the FlowCron files <= 0.25 s; ``hpc-agent --help`` and
``hpc-agent status`` <= 0.12 s, wall, from a fresh process. The bare
interpreter (``python -c pass``) is measured in the same run, so the ratio
says how much the command adds on top of Python itself, whatever the machine
(a shared one slows every figure alike). Each command runs several times in a
new interpreter; the median and the worst are reported (the first run also
pays for writing .pyc files, so it is run once untimed first).
PYTHONDONTWRITEBYTECODE is removed for the measured processes: an installed
flowgen has its bytecode (pip compiles it), and a setting that makes every run
recompile from source would measure the environment, not the commands.

``hpc-agent status`` runs on a fresh instance (executor slurm, private HOME)
with nothing recorded, so it needs no Slurm call and makes none.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RUNS = 9
FLOWGEN_TARGET = 0.25
AGENT_TARGET = 0.12


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def make_instance(root: Path) -> Path:
    """A saved slurm instance with its directories and nothing in them."""
    code = (
        "import sys; from pathlib import Path\n"
        "from hpc_agent import protocol\n"
        "from hpc_agent.config import InstanceConfig, save_instance\n"
        "base = Path(sys.argv[1]); base.mkdir()\n"
        "cfg = InstanceConfig(name='bench', base_dir=base, account=None, qos=None,\n"
        "                     executor='slurm', schedule='none')\n"
        "for d in protocol.INSTANCE_DIRS: cfg.path(d).mkdir(parents=True)\n"
        "save_instance(cfg)\n"
    )
    base = root / "instance"
    subprocess.run([sys.executable, "-c", code, str(base)], env=ENV_AGENT, check=True)
    return base


ENV_AGENT: dict[str, str] = {}


def main() -> int:
    config = ROOT / "flows" / "example.toml"
    build_dir = ROOT / "flows" / "build" / "example"
    flowgen, agent = str(BIN / "flowgen"), str(BIN / "hpc-agent")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "home").mkdir()
        ENV_AGENT.update(ENV, HOME=str(root / "home"))
        ENV_AGENT.pop("XDG_CONFIG_HOME", None)
        instance = make_instance(root)
        out = str(root / "out")
        commands: dict[str, tuple[list[str], float | None]] = {
            "python -c pass": ([sys.executable, "-c", "pass"], None),
            "flowgen --help": ([flowgen, "--help"], FLOWGEN_TARGET),
            "flowgen build": ([flowgen, "build", str(config), "-o", out], FLOWGEN_TARGET),
            "flowgen validate (config)": ([flowgen, "validate", str(config)], FLOWGEN_TARGET),
            "flowgen validate (files)": (
                [
                    flowgen,
                    "validate",
                    str(build_dir / "FlowCron-example_definition.json"),
                    "--input-schema",
                    str(build_dir / "FlowCron-example_input_schema.json"),
                ],
                FLOWGEN_TARGET,
            ),
            "hpc-agent --help": ([agent, "--help"], AGENT_TARGET),
            "hpc-agent status": ([agent, "status", str(instance)], AGENT_TARGET),
        }
        print(
            f"{'command':<27} {'median':>8} {'worst':>8} {'x python':>9} {'target':>8}  "
            f"({RUNS} runs each)"
        )
        missed = []
        baseline = None
        for name, (argv, target) in commands.items():
            timed(argv, ENV_AGENT)
            times = [timed(argv, ENV_AGENT) for _ in range(RUNS)]
            median = statistics.median(times)
            baseline = median if baseline is None else baseline
            shown = f"<= {target}" if target is not None else "-"
            print(
                f"{name:<27} {median:>7.3f}s {max(times):>7.3f}s {median / baseline:>8.1f}x "
                f"{shown:>8}"
            )
            if target is not None and median > target:
                missed.append(name)
    for name in missed:
        print(f"TARGET MISSED: {name}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
