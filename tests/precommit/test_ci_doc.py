"""docs/ci.md stays true: its workflow runs real flowgen commands, its pre-commit config real hooks."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import typer
import yaml
from typer.main import get_command
from typer.testing import CliRunner

from flowgen.deploy import auth

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
BLOCKS = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", PAGE, re.DOTALL)]
OPERATORS = set("();<>|&")


def _workflow() -> dict[str, Any]:
    workflows = [b for b in BLOCKS if isinstance(b, dict) and "jobs" in b]
    assert len(workflows) == 1, "docs/ci.md should show one GitHub Actions workflow"
    workflow: dict[str, Any] = workflows[0]
    return workflow


def _flowgen_commands(script: str) -> list[list[str]]:
    """Every ``flowgen ...`` command in a shell script, as its argument words."""
    commands = []
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
        for start, word in enumerate(words):
            if word != "flowgen":
                continue
            command: list[str] = []
            for arg in words[start + 1 :]:
                if set(arg) <= OPERATORS:
                    break
                command.append(arg)
            commands.append(command)
    return commands


def test_every_flowgen_command_in_the_workflow_is_real(
    flowgen_app: typer.Typer, runner: CliRunner
) -> None:
    root = get_command(flowgen_app)
    seen = []
    for job in _workflow()["jobs"].values():
        for step in job["steps"]:
            for words in _flowgen_commands(step.get("run", "")):
                command: Any = root
                path: list[str] = []
                while words and hasattr(command, "commands") and words[0] in command.commands:
                    path.append(words.pop(0))
                    command = command.commands[path[-1]]
                assert path and not hasattr(command, "commands"), f"not a command: flowgen {words}"
                # Parsing checks options, their values and the arguments, without running.
                command.make_context(f"flowgen {' '.join(path)}", list(words))
                help_text = runner.invoke(flowgen_app, [*path, "--help"]).stdout
                for option in (w.split("=")[0] for w in words if w.startswith("-")):
                    assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_text), (
                        f"flowgen {' '.join(path)} --help does not show {option}"
                    )
                seen.append(" ".join([*path, *words]))
    assert "validate flows/build/* --strict" in seen
    assert "check-built flows/" in seen
    assert "diff --deployed $config --format markdown" in seen


def test_the_drift_job_logs_in_with_client_credentials_from_secrets() -> None:
    drift = _workflow()["jobs"]["drift"]
    assert drift["env"] == {
        name: f"${{{{ secrets.{name} }}}}"
        for name in (auth.CI_CLIENT_ID_ENV, auth.CI_CLIENT_SECRET_ENV)
    }
    runs = "\n".join(step.get("run", "") for step in drift["steps"])
    assert '>> "$GITHUB_STEP_SUMMARY"' in runs
    assert "gh pr comment" in runs


def test_the_pre_commit_config_names_hooks_this_repository_has() -> None:
    manifest = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    hooks = {hook["id"] for hook in manifest}
    configs = [b for b in BLOCKS if isinstance(b, dict) and "repos" in b]
    assert len(configs) == 1
    named = [hook["id"] for repo in configs[0]["repos"] for hook in repo["hooks"]]
    assert named == ["flowgen-validate", "flowgen-check-built"]
    # The snippets that tune one hook name a real one too.
    snippets = [b for b in BLOCKS if isinstance(b, list)]
    assert snippets
    assert all(item["id"] in hooks for snippet in snippets for item in snippet)
    assert set(named) == hooks
