"""The pre-commit hooks of .pre-commit-hooks.yaml, run by pre-commit on a sample flows repository.

pre-commit pip-installs a snapshot of this checkout (committed in a
temporary git repository, uncommitted and new files included) into an
environment of its own, as it would install flowcron from GitHub, and runs
the hooks on a flows repository made with ``flowgen build``. These tests
need git and the network (pre-commit installs flowcron's dependencies);
they do not skip in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
CONFIG = (ROOT / "flows" / "example.toml").read_text(encoding="utf-8")
BUILT = Path("flows") / "build" / "lab"
DEFINITION = BUILT / "FlowCron-lab_definition.json"

pytestmark = pytest.mark.slow

GIT_ENV = {
    # Nobody's own git settings (signing, hooks, templates) reach the test repositories.
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "FlowCron tests",
    "GIT_AUTHOR_EMAIL": "tests@flowcron.invalid",
    "GIT_COMMITTER_NAME": "FlowCron tests",
    "GIT_COMMITTER_EMAIL": "tests@flowcron.invalid",
}


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This checkout as pre-commit would fetch it: a git repository and the commit to use.

    ``pre-commit try-repo`` on a working copy adds only changes to tracked
    files, so new files (this change's own) are copied into a fresh
    repository; the checkout's own git index is never touched.
    """
    snapshot = tmp_path_factory.mktemp("flowcron-checkout")
    listed = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, snapshot / name)
    git(snapshot, "init", "-q")
    return snapshot, commit_all(snapshot, "snapshot of the checkout")


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pre-commit cache for the module: the hooks' environment is built once."""
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def flows_repo(
    tmp_path: Path, flowgen_app: typer.Typer, runner: CliRunner, checkout: tuple[Path, str]
) -> Iterator[Path]:
    """A flows repository: one instance config, the files flowgen build made, a pre-commit config."""
    repo = tmp_path / "lab-flows"
    (repo / "flows").mkdir(parents=True)
    config = repo / "flows" / "lab.toml"
    config.write_text(CONFIG.replace('name = "example"', 'name = "lab"'), encoding="utf-8")
    result = runner.invoke(flowgen_app, ["build", str(config), "-o", str(repo / BUILT)])
    assert result.exit_code == 0, result.output
    path, rev = checkout
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {path}\n    rev: {rev}\n    hooks:\n"
        "      - id: flowgen-validate\n      - id: flowgen-check-built\n",
        encoding="utf-8",
    )
    git(repo, "init", "-q")
    commit_all(repo, "a flows repository")
    yield repo


def pre_commit(repo: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args],
        check=False,
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_try_repo_runs_both_hooks_and_they_pass(
    flows_repo: Path, checkout: tuple[Path, str], pre_commit_home: Path
) -> None:
    # The command the issue names: try the hooks of this checkout on a flows repository.
    result = pre_commit(flows_repo, pre_commit_home, "try-repo", str(checkout[0]), "--all-files")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("flowgen validate.") and line.endswith("Passed") for line in lines)
    assert any(
        line.startswith("flowgen check-built.") and line.endswith("Passed") for line in lines
    )


def test_validate_hook_fails_on_an_invalid_definition(
    flows_repo: Path, pre_commit_home: Path
) -> None:
    definition = json.loads((flows_repo / DEFINITION).read_text(encoding="utf-8"))
    definition["States"][definition["StartAt"]]["ResultPath"] = "$._context.source"
    (flows_repo / DEFINITION).write_text(json.dumps(definition, indent=2), encoding="utf-8")
    result = pre_commit(flows_repo, pre_commit_home, "run", "flowgen-validate", "--all-files")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("flowgen validate.") and line.endswith("Failed") for line in lines)
    assert "- exit code: 3" in lines
    assert (
        f"{DEFINITION}: $.States.LookUpSource.ResultPath: error FG306: ResultPath "
        "'$._context.source' writes into $._context, which is read-only; "
        "store the result elsewhere, e.g. '$.Result'"
    ) in lines
    assert "2 files checked: 1 error, 0 warnings" in lines


def test_check_built_hook_fails_on_stale_json(flows_repo: Path, pre_commit_home: Path) -> None:
    config = flows_repo / "flows" / "lab.toml"
    config.write_text(
        config.read_text().replace("max_wait = 1800", "max_wait = 1700"), encoding="utf-8"
    )
    validate = pre_commit(flows_repo, pre_commit_home, "run", "flowgen-validate", "--all-files")
    assert validate.returncode == 0, validate.stdout + validate.stderr

    result = pre_commit(flows_repo, pre_commit_home, "run", "flowgen-check-built", "--all-files")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    lines = out.splitlines()
    assert any(
        line.startswith("flowgen check-built.") and line.endswith("Failed") for line in lines
    )
    assert "- exit code: 1" in lines
    assert f"--- {DEFINITION} (committed)" in out
    assert any(line.startswith("+") and "1700" in line for line in out.splitlines())
    assert "does not match what the configs build" in out
    assert "  flowgen build flows/lab.toml\n" in out
