"""``hpc-agent.pyz``: the agent as one file, run by the system Python with nothing installed.

The archive is built once for the module (``scripts/build_zipapp.py``, what
``make zipapp`` runs) and run as ``python3 -I hpc-agent.pyz ...`` from a
directory outside the checkout: isolated mode ignores ``PYTHONPATH`` and the
user's site-packages, so everything the agent runs must come from the
archive. Every command line the agent writes for itself (the cron entry, the
local executor's runner, the job wrapper's finalize) must run the archive
again, which the Slurm test and the cron-line test show by running them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import __version__, protocol
from tests.agent.helpers import make_uow
from tests.dist.helpers import REPO, clean_env, local_setup, ok, run

FAKE_CRONTAB = """#!/bin/sh
# Stands in for crontab(1): keeps the table in $FLOWCRON_TEST_CRONTAB.
if [ "$1" = "-l" ]; then
    if [ -f "$FLOWCRON_TEST_CRONTAB" ]; then cat "$FLOWCRON_TEST_CRONTAB"; exit 0; fi
    echo "no crontab for tester" >&2
    exit 1
fi
cp "$1" "$FLOWCRON_TEST_CRONTAB"
"""

SCRIPT = (
    "#!/bin/bash\n"
    "#SBATCH --time=00:01:00\n"
    "#SBATCH --ntasks=1\n"
    "#SBATCH --mem=50M\n"
    "sleep 2\n"
    "wc -w < data/input.txt > data/count.txt\n"
)


def system_python() -> list[str]:
    """The interpreter and flags to run the archive with: the system Python, isolated.

    Without a /usr/bin/python3 of 3.10 or newer this test's own interpreter
    stands in, with -S too: it has flowcron installed, which would hide a
    file missing from the archive.
    """
    system = Path("/usr/bin/python3")
    if system.is_file() and runs_as(str(system), "sys.version_info >= (3, 10)"):
        return [str(system), "-I"]
    return [sys.executable, "-I", "-S"]


def runs_as(python: str, condition: str) -> bool:
    """Whether ``python`` runs and finds ``condition`` (an expression over ``sys``) true."""
    done = subprocess.run(
        [python, "-I", "-c", f"import sys; print({condition})"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() == "True"


@dataclass(frozen=True)
class Pyz:
    """The built archive, how to run it, and a working directory outside the checkout."""

    path: Path
    python: list[str]
    cwd: Path
    home: Path
    crontab: Path
    fakebin: Path
    env: dict[str, str]

    def run(self, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``python3 -I hpc-agent.pyz ARGS`` in :attr:`cwd`."""
        return run([*self.python, self.path, *args], cwd=self.cwd, env=self.env, timeout=timeout)


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Pyz:
    """Build ``hpc-agent.pyz`` into a temporary directory, as ``make zipapp`` does."""
    root = tmp_path_factory.mktemp("pyz")
    home, cwd, fakebin = root / "home", root / "work", root / "fakebin"
    for directory in (home, cwd, fakebin):
        directory.mkdir()
    (fakebin / "crontab").write_text(FAKE_CRONTAB)
    (fakebin / "crontab").chmod(0o755)
    crontab = root / "crontab.txt"
    path = root / "out" / "hpc-agent.pyz"
    out = ok(
        run(
            [sys.executable, REPO / "scripts" / "build_zipapp.py", path],
            cwd=cwd,
            env=clean_env(home),
        )
    )
    assert out.strip() == str(path)
    env = clean_env(
        home,
        {
            "PATH": f"{fakebin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "FLOWCRON_TEST_CRONTAB": str(crontab),
        },
    )
    # Never the real crontab: a test must not leave entries in the user's table.
    assert shutil.which("crontab", path=env["PATH"]) == str(fakebin / "crontab")
    return Pyz(path, system_python(), cwd, home, crontab, fakebin, env)


def test_the_archive_runs_where_hpc_agent_is_not_importable(pyz: Pyz) -> None:
    with pyz.path.open("rb") as handle:
        assert handle.readline() == b"#!/usr/bin/env python3\n"
    assert os.access(pyz.path, os.X_OK)
    bare = run([*pyz.python, "-c", "import hpc_agent"], cwd=pyz.cwd, env=pyz.env)
    assert "No module named 'hpc_agent'" in bare.stderr, bare.stderr
    assert ok(pyz.run("--version")).strip() == f"hpc-agent {__version__}"
    assert "setup" in ok(pyz.run("--help"))


def test_the_archive_bundles_pure_python_tomli_and_jmespath(pyz: Pyz) -> None:
    # tomli is what the agent reads TOML with on Python 3.10; any Python must load it from the zip.
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import jmespath, tomli\n"
        "print(tomli.__file__); print(jmespath.__file__)\n"
        "print(tomli.loads('a = 1')['a'], jmespath.search('x.y', {'x': {'y': 2}}))\n"
    )
    out = ok(run([*pyz.python, "-c", probe, pyz.path], cwd=pyz.cwd, env=pyz.env))
    tomli_file, jmespath_file, values = out.splitlines()
    assert tomli_file == f"{pyz.path}/tomli/__init__.py"
    assert jmespath_file == f"{pyz.path}/jmespath/__init__.py"
    assert values == "1 2"
    names = zipfile.ZipFile(pyz.path).namelist()
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".so"))]
    assert "tomli/LICENSE" in names and "jmespath/LICENSE" in names


def test_builtin_functions_come_out_of_the_archive(pyz: Pyz) -> None:
    base = pyz.cwd / "functions-instance"
    ok(pyz.run(*local_setup(base, f"f{uuid.uuid4().hex[:8]}")))
    out = ok(pyz.run("function", "new", base, "analyse", "--from", "python"))
    assert "a copy of the built-in 'python'" in out
    folder = base / "Functions" / "analyse"
    assert sorted(p.name for p in folder.iterdir()) == [
        "example.toml",
        "function.toml",
        "template.sh",
    ]
    assert 'name = "analyse"' in (folder / "function.toml").read_text()
    assert re.search(r"^analyse\s+\S+", ok(pyz.run("function", "list", base)), re.M)
    unknown = pyz.run("function", "new", base, "other", "--from", "nope")
    assert unknown.returncode == 2
    assert "the built-ins: aretomo, gpu-python, python, relion-class3d" in unknown.stderr


def schedule_line(pyz: Pyz, name: str) -> str:
    """The command line of instance ``name``'s block in the (fake) crontab."""
    table = pyz.crontab.read_text()
    block = table.partition(f"# BEGIN flowcron:{name}\n")[2].partition(f"# END flowcron:{name}")[0]
    (line,) = [x for x in block.splitlines() if x and not x.startswith("#")]
    return line


def python_310() -> str | None:
    """A Python 3.10 on this machine (the oldest the agent supports), or None."""
    pyenv = Path.home() / ".pyenv" / "versions"
    candidates = [shutil.which("python3.10"), *sorted(map(str, pyenv.glob("3.10*/bin/python3.10")))]
    for candidate in filter(None, candidates):
        if runs_as(candidate, "sys.version_info[:2] == (3, 10)"):
            return candidate
    return None


def test_the_archive_runs_a_job_on_python_3_10_with_its_own_tomli(pyz: Pyz) -> None:
    # 3.10 has no tomllib: the agent reads every TOML file with the tomli in the archive.
    python = python_310()
    if python is None:
        pytest.skip("no Python 3.10 on this machine (pyenv or python3.10 on PATH)")
    base = pyz.cwd / "py310-instance"

    def agent(*args: str | Path) -> str:
        return ok(run([python, "-I", pyz.path, *args], cwd=pyz.cwd, env=pyz.env))

    agent(*local_setup(base, f"t{uuid.uuid4().hex[:8]}"))
    make_uow(base / protocol.UPLOADED, "counted", script=SCRIPT)
    deadline = time.monotonic() + 60
    while not (base / protocol.ANALYSED / "counted").is_dir():
        assert not list((base / protocol.FAILED).iterdir()), agent("status", base)
        assert time.monotonic() < deadline, agent("status", base)
        agent("tick", base)
        time.sleep(0.5)
    assert (base / protocol.ANALYSED / "counted" / "data" / "count.txt").read_text() == "3\n"
    probe = "import sys; sys.path.insert(0, sys.argv[1]); import tomli; print(tomli.__file__)"
    used = ok(run([python, "-I", "-c", probe, pyz.path], cwd=pyz.cwd, env=pyz.env))
    assert used.strip() == f"{pyz.path}/tomli/__init__.py"


def test_the_cron_entry_runs_the_archive_and_its_local_jobs(pyz: Pyz) -> None:
    name = f"c{uuid.uuid4().hex[:8]}"
    base = pyz.cwd / "cron-instance"
    ok(pyz.run(*local_setup(base, name, schedule="cron"), "--every", "5"))
    line = schedule_line(pyz, name)
    python = pyz.python[0]
    assert f" {python} {pyz.path} tick {base} >> {base}/Logs/cron.out 2>&1" in line, line
    assert "PYTHONPATH" not in line and "-m hpc_agent" not in line
    # Run the entry as cron does: /bin/sh, cron's small environment, no PYTHONPATH.
    command = line.split(" ", 5)[5]
    cron_env = {
        "HOME": str(pyz.home),
        "LOGNAME": "tester",
        "SHELL": "/bin/sh",
        "PATH": "/usr/bin:/bin",
    }
    make_uow(base / protocol.UPLOADED, "counted", script=SCRIPT)
    deadline = time.monotonic() + 60
    while not (base / protocol.ANALYSED / "counted").is_dir():
        assert not list((base / protocol.FAILED).iterdir()), ok(pyz.run("status", name))
        assert time.monotonic() < deadline, (base / "Logs" / "cron.out").read_text()
        subprocess.run(["/bin/sh", "-c", command], env=cron_env, check=True, timeout=60)
        time.sleep(0.5)
    assert (base / protocol.ANALYSED / "counted" / "data" / "count.txt").read_text() == "3\n"
    status = ok(pyz.run("status", name))
    assert f"{protocol.ANALYSED}/ (1)" in status and "counted" in status
    # The agent knows its own entry again: removing it finds the base in the pyz line.
    ok(pyz.run("schedule", "remove", name, "--yes"))
    assert f"flowcron:{name}" not in pyz.crontab.read_text()


@pytest.mark.slurm
def test_setup_tick_and_status_on_the_slurm_test_bed(pyz: Pyz, slurm_env: Any) -> None:
    cluster = slurm_env
    # The test bed's PATH finds Slurm; the fake crontab must still come first.
    env = {**pyz.env, **cluster.env, "PATH": f"{pyz.fakebin}:{cluster.env['PATH']}"}
    assert shutil.which("crontab", path=env["PATH"]) == str(pyz.fakebin / "crontab")
    name = f"z{uuid.uuid4().hex[:8]}"
    base = pyz.cwd / "slurm-instance"

    def agent(*args: str | Path) -> str:
        return ok(run([*pyz.python, pyz.path, *args], cwd=pyz.cwd, env=env))

    out = agent(
        *local_setup(
            base, name, schedule="cron", executor="slurm", account=cluster.account, qos=cluster.qos
        )
    )
    assert f"FlowCron instance '{name}' is ready." in out
    line = schedule_line(pyz, name)
    assert f"SLURM_CONF={cluster.env['SLURM_CONF']}" in line
    assert f" {pyz.python[0]} {pyz.path} tick {base} " in line, line

    make_uow(base / protocol.UPLOADED, "counted", script=SCRIPT)
    agent("tick", name)
    # The job runs in the fast hand-back wrapper, which hands the UoW back by
    # running the archive itself: no further tick.
    (wrapper,) = (base / protocol.CODE_TO_RUN / ".state" / "scripts").glob("*.wrap.py")
    finalize = [os.fsencode(pyz.python[0]), os.fsencode(pyz.path), b"finalize"]
    assert repr(finalize)[:-1] in wrapper.read_text(encoding="latin-1"), (
        "not the archive's finalize"
    )
    done = base / protocol.ANALYSED / "counted"
    deadline = time.monotonic() + 90
    while not (done.is_dir() and not (done / protocol.SENTINELS_DIR).exists()):
        assert not list((base / protocol.FAILED).iterdir()), agent("status", name)
        assert time.monotonic() < deadline, (
            f"not handed back without a tick: {agent('status', name)}"
        )
        time.sleep(0.2)
    assert (done / "data" / "count.txt").read_text() == "3\n"
    report = json.loads((done / protocol.REPORT_JSON).read_text())
    assert (report["state"], report["exit_code"]) == ("COMPLETED", "0:0")
    status = agent("status", name)
    assert f"{protocol.ANALYSED}/ (1)" in status and "counted  job " in status, status
