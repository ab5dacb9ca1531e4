"""The built distribution: ``python -m build``, ``twine check``, and the wheel in a fresh venv.

One module-scoped fixture builds the sdist and the wheel (from a copy of the
sources, so the checkout is never written to), makes a fresh venv and
installs the wheel into it with plain ``pip install`` (no ``cli`` extra).
Every test then runs the installed ``flowgen`` and ``hpc-agent`` from a
temporary directory outside the checkout, with no ``PYTHONPATH``: whatever
a command needs must have come with the wheel.

Building needs the package index (build's isolated environment fetches
setuptools; pip fetches the wheel's dependencies; pip's cache makes repeats
fast). Without a network these tests skip, except under CI.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from flowgen.flowcron import build, load_config
from hpc_agent import __version__
from tests.agent.helpers import make_uow
from tests.dist.helpers import REPO, clean_env, local_setup, ok, run

pytestmark = pytest.mark.slow

SOURCES = ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "flowgen", "hpc_agent")
"""What the sdist is built from (the rest of the checkout is not part of the distribution)."""


@dataclass(frozen=True)
class Installed:
    """The wheel installed in a fresh venv, and a working directory outside the checkout."""

    dist: Path
    bin: Path
    cwd: Path
    env: dict[str, str]

    def run(
        self, command: str, *args: str | Path, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run one of the venv's commands (``flowgen``, ``hpc-agent``, ``python``) in :attr:`cwd`."""
        return run([self.bin / command, *args], cwd=self.cwd, env=self.env, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Build the sdist and wheel, then ``pip install`` the wheel into a fresh venv."""
    root = tmp_path_factory.mktemp("wheel")
    home, cwd, src, dist = root / "home", root / "work", root / "src", root / "dist"
    for directory in (home, cwd, src):
        directory.mkdir()
    env = clean_env(home)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=ignore, symlinks=True)
        else:
            shutil.copy2(source, src / name)
    # The default build: the sdist, then the wheel built from that sdist.
    ok(
        run(
            [sys.executable, "-m", "build", "--outdir", dist, src],
            cwd=root,
            env=env,
            timeout=300,
            needs_index=True,
        )
    )
    venv = root / "venv"
    ok(run([sys.executable, "-m", "venv", venv], cwd=root, env=env))
    (wheel,) = dist.glob("flowcron-*.whl")
    # `pip install flowcron`, no extras: the cli extra must not be needed.
    pip: list[str | Path] = [
        venv / "bin" / "python",
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
    ]
    ok(run([*pip, "--quiet", wheel], cwd=cwd, env=env, timeout=600, needs_index=True))
    return Installed(dist=dist, bin=venv / "bin", cwd=cwd, env=env)


def test_the_sdist_and_the_wheel_pass_twine_check(installed: Installed) -> None:
    files = sorted(installed.dist.iterdir())
    assert [f.name for f in files] == [
        f"flowcron-{__version__}-py3-none-any.whl",
        f"flowcron-{__version__}.tar.gz",
    ]
    out = ok(
        run(
            [sys.executable, "-m", "twine", "check", "--strict", *files],
            cwd=installed.cwd,
            env=installed.env,
        )
    )
    assert out.count("PASSED") == 2, out


def test_the_commands_run_the_installed_wheel_not_the_checkout(installed: Installed) -> None:
    out = ok(
        installed.run(
            "python",
            "-c",
            "import flowgen, hpc_agent; print(flowgen.__file__); print(hpc_agent.__file__)",
        )
    )
    site = str(installed.bin.parent / "lib")
    assert all(line.startswith(site) and "site-packages" in line for line in out.splitlines()), out
    assert str(REPO) not in out
    assert ok(installed.run("hpc-agent", "--version")).strip() == f"hpc-agent {__version__}"


def help_pages(installed: Installed, words: tuple[str, ...] = ()) -> dict[tuple[str, ...], str]:
    """``flowgen WORDS --help`` and the help of every command it lists, recursively."""
    out = ok(installed.run("flowgen", *words, "--help"))
    pages = {words: out}
    for line in out.partition("\nCommands:\n")[2].splitlines():
        match = re.match(r"^  (\S+)(\s|$)", line)
        if match:
            pages.update(help_pages(installed, (*words, match.group(1))))
        elif line.strip() and not line.startswith("  "):
            break  # the section after the command list
    return pages


def test_without_the_cli_extra_every_flowgen_command_shows_its_help(installed: Installed) -> None:
    missing = installed.run("python", "-c", "import globus_cli")
    assert "No module named 'globus_cli'" in missing.stderr, (
        "the cli extra came with a plain install"
    )
    pages = help_pages(installed)
    # The listing was read: the commands every part of the README uses are in it.
    for expected in ("build", "validate", "deploy", "uow new", "run start", "group add"):
        assert tuple(expected.split()) in pages, sorted(pages)
    for words, page in pages.items():
        assert f"Usage: flowgen {' '.join(words)}".rstrip() in page, page


def test_flowgen_builds_and_validates_the_example_as_the_checkout_does(
    installed: Installed,
) -> None:
    flows = installed.cwd / "flows"
    flows.mkdir(exist_ok=True)
    config = flows / "example.toml"
    config.write_text((REPO / "flows" / "example.toml").read_text())
    out = ok(installed.run("flowgen", "build", "flows/example.toml"))
    definition = flows / "build" / "example" / "FlowCron-example_definition.json"
    schema = flows / "build" / "example" / "FlowCron-example_input_schema.json"
    assert f"wrote {definition.relative_to(installed.cwd)}" in out
    expected = build(load_config(REPO / "flows" / "example.toml"))
    assert json.loads(definition.read_text()) == expected.definition
    assert json.loads(schema.read_text()) == expected.input_schema
    out = ok(installed.run("flowgen", "validate", definition, schema, "--strict"))
    assert "2 files checked: 0 errors, 0 warnings" in out
    # The flow-definition schema shipped with the wheel is what finds this.
    broken = installed.cwd / "broken.json"
    broken.write_text('{"Comment": "no StartAt", "States": {}}')
    done = installed.run("flowgen", "validate", broken)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "error FG102: the flow definition is missing required field 'StartAt'" in done.stdout


def test_a_builtin_function_from_the_wheel_runs_a_unit_of_work_on_the_local_executor(
    installed: Installed,
) -> None:
    base = installed.cwd / "instance"
    out = ok(installed.run("hpc-agent", *local_setup(base, "wheeltest")))
    assert "FlowCron instance 'wheeltest' is ready." in out
    out = ok(installed.run("hpc-agent", "function", "new", "wheeltest", "greet", "--from", "shell"))
    assert "a copy of the built-in 'shell'" in out
    assert (base / "Functions" / "greet" / "template.sh").is_file()
    catalog = installed.cwd / "wheeltest.functions.json"
    ok(installed.run("hpc-agent", "function", "catalog", "wheeltest", "-o", catalog))
    assert [f["name"] for f in json.loads(catalog.read_text())["functions"]] == ["greet"]

    # The researcher's side, from the same wheel: a folder that calls the function.
    out = ok(
        installed.run("flowgen", "uow", "new", "hello", "--function", "greet", "--catalog", catalog)
    )
    assert "Created hello/ calling greet 1.0.0" in out
    refused = installed.run("flowgen", "uow", "check", "hello", "--catalog", catalog)
    assert refused.returncode == 3 and "'command' is required" in refused.stdout
    job = installed.cwd / "hello" / "job.toml"
    job.write_text(
        re.sub(
            r'(?m)^# command = "\.\.\.".*$',
            'command = "echo hello from the wheel > hello.txt"',
            job.read_text(),
        )
    )
    assert "the agent would admit it" in ok(
        installed.run("flowgen", "uow", "check", "hello", "--catalog", catalog)
    )

    # The agent runs it: the local executor's runner is started from the wheel too.
    shutil.copytree(installed.cwd / "hello", base / "UploadedFiles" / "hello")
    (base / "UploadedFiles" / "hello" / "sentinels").mkdir()
    make_uow(
        base / "UploadedFiles",
        "script",
        script="#!/bin/bash\n#SBATCH --time=00:01:00\nwc -w < data/input.txt > data/count.txt\n",
    )
    deadline = time.monotonic() + 60
    while not all((base / "AnalysedFiles" / n).is_dir() for n in ("hello", "script")):
        ok(installed.run("hpc-agent", "tick", "wheeltest"))
        failed = sorted(p.name for p in (base / "FailedJobs").iterdir())
        assert not failed, (
            f"failed: {failed}: {ok(installed.run('hpc-agent', 'status', 'wheeltest'))}"
        )
        assert time.monotonic() < deadline, "not handed back within 60 s"
        time.sleep(0.5)
    assert (
        base / "AnalysedFiles" / "hello" / "data" / "hello.txt"
    ).read_text() == "hello from the wheel\n"
    assert (base / "AnalysedFiles" / "script" / "data" / "count.txt").read_text() == "3\n"
    out = ok(installed.run("hpc-agent", "status", "wheeltest"))
    assert "AnalysedFiles/ (2)" in out and "FailedJobs/ (0)" in out, out


def test_the_demo_finds_its_example_instance_in_the_wheel(installed: Installed) -> None:
    # `python -m flowgen.demo` starts by reading this config; the full demo is
    # tests/e2e/test_demo.py (it owns /tmp/flowcron-demo, so it is not run here).
    probe = (
        "from flowgen.demo import EXAMPLE_CONFIG as c\n"
        "from flowgen.flowcron import load_config\n"
        "print(c, load_config(c).name)\n"
    )
    path, name = ok(installed.run("python", "-c", probe)).split()
    assert name == "example"
    assert path.startswith(str(installed.bin.parent / "lib")), path
