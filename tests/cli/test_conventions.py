"""The command-line conventions of issue 14, as a user meets them (docs/cli.md).

Most tests run the real ``flowgen`` executable: exit codes on Ctrl-C and on a
closed pipe, colour and progress on a terminal (a pseudo-terminal from
``pty``) depend on the process around the command, which ``CliRunner`` fakes.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

import flowgen
from flowgen.core.exitcodes import ExitCode

REPO = Path(__file__).resolve().parents[2]
FLOWGEN = Path(sys.executable).parent / "flowgen"
CONFIG = REPO / "flows" / "example.toml"
UUID_A = "6c54cade-bde5-45c1-bdea-f4bd71dba2cc"
UUID_B = "5e1d7a3c-0b8f-4d2a-9c61-3f0e2b7d4a10"
SGR = re.compile(r"\x1b\[[0-9;]*m")

BROKEN = {
    "StartAt": "A",
    "States": {
        "A": {"Type": "Pass", "Next": "Nowhere"},
        "Lost": {"Type": "Pass", "End": True},
    },
}
"""A flow with errors (FG202: Next names no state; FG204: no end) and a warning (FG203: unreachable)."""


def flowgen_env(**extra: str) -> dict[str, str]:
    """The environment without settings that change what flowgen shows."""
    env = {k: v for k, v in os.environ.items() if k not in {"NO_COLOR", "FLOWGEN_DEBUG"}}
    return {**env, "TERM": "xterm", **extra}


def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """``flowgen args`` in a subprocess, its output captured."""
    kwargs.setdefault("env", flowgen_env())
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [str(FLOWGEN), *args], check=False, capture_output=True, text=True, timeout=60, **kwargs
    )


def on_terminal(*args: str, env: dict[str, str], cwd: Path | None = None) -> tuple[int, str]:
    """``flowgen args`` with stdout and stderr on a pseudo-terminal: exit code and all it showed."""
    main, side = pty.openpty()
    process = subprocess.Popen(
        [str(FLOWGEN), *args], stdin=subprocess.DEVNULL, stdout=side, stderr=side, env=env, cwd=cwd
    )
    os.close(side)
    chunks = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    return process.wait(timeout=30), b"".join(chunks).decode()


# -- --version and completion --------------------------------------------------


def test_version_prints_the_distribution_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout == f"flowgen {flowgen.__version__}\n"


def test_shell_completion_is_offered_and_completes_commands() -> None:
    script = run("--show-completion", "bash")
    assert script.returncode == 0
    assert "_FLOWGEN_COMPLETE=complete_bash" in script.stdout
    env = flowgen_env(_FLOWGEN_COMPLETE="complete_bash", COMP_WORDS="flowgen val", COMP_CWORD="1")
    completed = run(env=env)
    assert completed.stdout.split() == ["validate"]
    assert "--install-completion" in run("--help").stdout


# -- -F/--format, --jmespath and errors as JSON --------------------------------


def _commands(flowgen_app: typer.Typer) -> dict[str, object]:
    found: dict[str, object] = {}

    def walk(command: object, prefix: str) -> None:
        sub = getattr(command, "commands", None)
        if isinstance(sub, dict):
            for name, child in sub.items():
                walk(child, f"{prefix} {name}".strip())
        else:
            found[prefix] = command

    walk(get_command(flowgen_app), "")
    return found


def test_every_command_takes_format_and_jmespath(flowgen_app: typer.Typer) -> None:
    commands = _commands(flowgen_app)
    assert len(commands) > 20
    for path, command in commands.items():
        options = {o for p in getattr(command, "params", []) for o in getattr(p, "opts", [])}
        assert {"-F", "--format"} <= options, f"flowgen {path} has no -F/--format"
        assert "--jmespath" in options, f"flowgen {path} has no --jmespath"


def test_jmespath_selects_from_the_json_output(
    flowgen_app: typer.Typer, runner: CliRunner, tmp_path: Path
) -> None:
    flow = tmp_path / "broken.json"
    flow.write_text(json.dumps(BROKEN))
    result = runner.invoke(flowgen_app, ["validate", str(flow), "--jmespath", "findings[].code"])
    assert result.exit_code == ExitCode.INVALID
    assert json.loads(result.stdout) == ["FG204", "FG202", "FG203"]


def test_jmespath_on_diff_selects_from_its_json(
    flowgen_app: typer.Typer, runner: CliRunner, tmp_path: Path
) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(BROKEN))
    new.write_text(json.dumps({**BROKEN, "Comment": "changed"}))
    result = runner.invoke(
        flowgen_app, ["diff", str(old), str(new), "-F", "markdown", "--jmespath", "identical"]
    )
    assert result.exit_code == ExitCode.DIFFERENT
    assert json.loads(result.stdout) is False


def test_a_bad_jmespath_is_a_usage_error_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("build", str(CONFIG), "-o", str(out), "--jmespath", "states[")
    assert result.returncode == ExitCode.USAGE
    assert "'states[' is not a JMESPath expression" in result.stderr
    assert result.stdout == ""
    assert not out.exists()


@pytest.mark.parametrize("flag", [["-F", "json"], ["--jmespath", "ok"]])
def test_an_error_under_json_is_a_json_object_on_stdout(flag: list[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    result = run("validate", str(missing), *flag)
    assert result.returncode == ExitCode.USAGE
    message = f"{missing}: no such file"
    assert json.loads(result.stdout) == {
        "error": {"code": "USAGE", "exit_code": 2, "message": message}
    }
    assert result.stderr == f"Error: {message}\n"


# -- Ctrl-C and a closed pipe ----------------------------------------------------


READY_DEADLINE = 120.0
"""How long a command may take to show it is inside its work (a loaded 2-core CI machine)."""


def _interrupt(args: list[str], cwd: Path, started: str) -> subprocess.CompletedProcess[str]:
    """Start ``flowgen args``, wait until it shows ``started`` on stderr/stdout, press Ctrl-C.

    The signal waits for that text, never for a fixed time: a SIGINT while
    flowgen still imports (on a loaded machine that takes seconds) would test
    the interpreter, not the command.
    """
    with subprocess.Popen(
        [str(FLOWGEN), *args],
        cwd=cwd,
        stdin=subprocess.PIPE,  # open and empty: a question waits for an answer
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=flowgen_env(),
    ) as process:  # on leaving: every pipe closed, the process waited for
        assert process.stdout is not None and process.stderr is not None
        stdout, stderr = process.stdout.fileno(), process.stderr.fileno()
        shown = {stdout: b"", stderr: b""}
        open_ends = set(shown)
        deadline = time.monotonic() + READY_DEADLINE
        try:
            while not any(started.encode() in text for text in shown.values()):
                left = deadline - time.monotonic()
                if left <= 0 or not open_ends:
                    pytest.fail(
                        f"flowgen {shlex.join(args)} never showed {started!r} "
                        f"(exit code {process.poll()}): {b''.join(shown.values()).decode()!r}"
                    )
                ready, _, _ = select.select(sorted(open_ends), [], [], left)
                for end in ready:
                    chunk = os.read(end, 65536)
                    if not chunk:
                        open_ends.discard(end)
                    shown[end] += chunk
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    return subprocess.CompletedProcess(
        args,
        process.returncode,
        (shown[stdout] + out).decode(),
        (shown[stderr] + err).decode(),
    )


WAITING = "W: waiting on the clock (--real-time 1); Ctrl-C stops the run\n"
"""What ``simulate --real-time`` says on stderr when its first Wait starts."""


def test_ctrl_c_during_a_long_wait_exits_130(tmp_path: Path) -> None:
    flow = tmp_path / "wait.json"
    flow.write_text(
        json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}})
    )
    (tmp_path / "in.json").write_text("{}")
    args = ["simulate", "wait.json", "--input", "in.json", "--real-time", "1"]
    result = _interrupt(args, tmp_path, WAITING)
    assert result.returncode == ExitCode.INTERRUPTED == 130
    assert result.stderr == WAITING + "Error: interrupted (Ctrl-C) before the command finished\n"
    as_json = _interrupt([*args, "-F", "json"], tmp_path, WAITING)
    assert as_json.returncode == 130
    assert json.loads(as_json.stdout)["error"]["code"] == "INTERRUPTED"


def test_real_time_notice_is_said_once_and_only_under_real_time(tmp_path: Path) -> None:
    waits = {
        "StartAt": "W1",
        "States": {
            "W1": {"Type": "Wait", "Seconds": 0, "Next": "W2"},
            "W2": {"Type": "Wait", "Seconds": 0, "End": True},
        },
    }
    (tmp_path / "waits.json").write_text(json.dumps(waits))
    (tmp_path / "in.json").write_text("{}")
    args = ["simulate", "waits.json", "--input", "in.json"]
    real = run(*args, "--real-time", "1", cwd=tmp_path)
    assert real.returncode == 0
    assert real.stderr == "W1: waiting on the clock (--real-time 1); Ctrl-C stops the run\n"
    assert run(*args, cwd=tmp_path).stderr == ""


def test_ctrl_c_at_a_question_exits_130_not_aborted(tmp_path: Path) -> None:
    result = _interrupt(["init"], tmp_path, "What is the instance's name")
    assert result.returncode == 130
    assert "Aborted" not in result.stderr
    assert "interrupted (Ctrl-C)" in result.stderr


def test_a_question_without_input_says_to_give_options(tmp_path: Path) -> None:
    result = run("init", cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert result.returncode == ExitCode.USAGE
    assert "standard input ended before a question was answered" in result.stderr
    assert "bug" not in result.stderr


@pytest.mark.parametrize(
    "args", [["graph", str(CONFIG)], ["validate", str(CONFIG), "-F", "json"], ["--help"]]
)
def test_a_closed_pipe_ends_quietly(args: list[str]) -> None:
    # The reader is gone before flowgen writes, as with '| head' on long output.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [str(FLOWGEN), *args],
            check=False,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            env=flowgen_env(),
        )
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == ExitCode.CLOSED_PIPE == 141


def test_a_reader_that_stops_early_sees_no_traceback(tmp_path: Path) -> None:
    # The graph of a long chain of states is far larger than a pipe holds
    # (64 KiB), so flowgen is still writing when 'head -1' leaves: the write
    # really fails. PYTHONUNBUFFERED is left out: with it, CPython drops the
    # rest of a short write to stdout instead of retrying, so no error is seen.
    count = 20_000
    states: dict[str, object] = {
        f"S{n}": {"Type": "Pass", "Next": f"S{n + 1}"} for n in range(count)
    }
    states[f"S{count}"] = {"Type": "Pass", "End": True}
    flow = tmp_path / "long.json"
    flow.write_text(json.dumps({"StartAt": "S0", "States": states}))
    env = flowgen_env()
    env.pop("PYTHONUNBUFFERED", None)
    whole = run("graph", str(flow), env=env)
    assert whole.returncode == 0 and len(whole.stdout) > 8 * 65536
    pipeline = (
        f"{shlex.quote(str(FLOWGEN))} graph {shlex.quote(str(flow))} | head -1; "
        'echo "flowgen exit ${PIPESTATUS[0]}" >&2'
    )
    result = subprocess.run(
        ["bash", "-c", pipeline],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.stdout == "flowchart TD\n"
    assert result.stderr == f"flowgen exit {ExitCode.CLOSED_PIPE}\n"  # no traceback, no Error


# -- paths that cannot be written, and login without a terminal ------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["build", str(CONFIG), "-o", "{file}/out"], "{file}/out: Not a directory"),
        (["graph", str(CONFIG), "-o", "{file}/g.mmd"], "{file}: is a file, not a directory"),
        (
            [
                "init",
                "--name",
                "x",
                "--hpc-name",
                "X",
                "--collection",
                UUID_A,
                "--base-path",
                "/p",
                "--no-input",
                "-o",
                "/proc/flowgen-test/x.toml",
            ],
            "/proc/flowgen-test: No such file or directory",
        ),
        (
            ["uow", "new", "/proc/flowgen-test-uow"],
            "/proc/flowgen-test-uow: No such file or directory",
        ),
    ],
    ids=["build", "graph", "init", "uow-new"],
)
def test_an_unwritable_path_is_one_line_naming_it(
    args: list[str], named: str, tmp_path: Path
) -> None:
    # Under a regular file (ENOTDIR) or /proc: unwritable even for root.
    file = tmp_path / "a-file"
    file.write_text("")
    result = run(*(a.format(file=file) for a in args))
    assert result.returncode == ExitCode.USAGE
    assert result.stderr == f"Error: {named.format(file=file)}\n"


def test_login_without_a_terminal_says_how_to_log_in(tmp_path: Path) -> None:
    env = flowgen_env(HOME=str(tmp_path), FLOWGEN_CLIENT_ID="0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11")
    for key in ("GLOBUS_CLIENT_ID", "GLOBUS_CLIENT_SECRET", "XDG_CONFIG_HOME"):
        env.pop(key, None)
    result = run("login", env=env, stdin=subprocess.DEVNULL)
    assert result.returncode == ExitCode.AUTH
    assert result.stderr.count("\n") == 1
    assert "Run 'flowgen login' in a terminal" in result.stderr
    assert "GLOBUS_CLIENT_ID and GLOBUS_CLIENT_SECRET" in result.stderr
    assert "bug" not in result.stderr


# -- colour and progress on a terminal ------------------------------------------------


def test_findings_are_coloured_by_severity_on_a_terminal_only(tmp_path: Path) -> None:
    flow = tmp_path / "broken.json"
    flow.write_text(json.dumps(BROKEN))
    code, shown = on_terminal("validate", str(flow), env=flowgen_env())
    assert code == ExitCode.INVALID
    assert "\x1b[1;31merror FG202\x1b[0m" in shown
    assert "\x1b[33mwarning FG203\x1b[0m" in shown
    _, plain = on_terminal("validate", str(flow), env=flowgen_env(NO_COLOR="1"))
    assert "error FG202" in plain and not SGR.search(plain)
    piped = run("validate", str(flow))
    assert "error FG202" in piped.stdout and not SGR.search(piped.stdout)


def test_uow_check_verdict_is_coloured_on_a_terminal(tmp_path: Path) -> None:
    (tmp_path / "uow").mkdir()
    code, shown = on_terminal("uow", "check", str(tmp_path / "uow"), env=flowgen_env())
    assert code == ExitCode.INVALID
    assert "\x1b[1;31mwould refuse it\x1b[0m" in shown
    assert not SGR.search(run("uow", "check", str(tmp_path / "uow")).stdout)


TRANSFER_FLOW = {
    "StartAt": "Upload",
    "States": {
        "Upload": {
            "Type": "Action",
            "ActionUrl": "https://transfer.actions.globus.org/transfer",
            "Parameters": {
                "source_endpoint": UUID_A,
                "destination_endpoint": UUID_B,
                "DATA": [{"source_path": "/", "destination_path": "/", "recursive": True}],
            },
            "ResultPath": "$.UploadResult",
            "End": True,
        }
    },
}


def test_simulate_shows_transfer_progress_on_a_terminal_only(tmp_path: Path) -> None:
    (tmp_path / "laptop").mkdir()
    (tmp_path / "laptop" / "a.txt").write_text("hello\n")
    (tmp_path / "hpc").mkdir()
    (tmp_path / "flow.json").write_text(json.dumps(TRANSFER_FLOW))
    (tmp_path / "in.json").write_text("{}")
    args = [
        "simulate",
        "flow.json",
        "--input",
        "in.json",
        "--collection",
        f"{UUID_A}=./laptop",
        "--collection",
        f"{UUID_B}=./hpc",
    ]
    code, shown = on_terminal(*args, env=flowgen_env(), cwd=tmp_path)
    assert code == ExitCode.OK, shown
    assert "Upload: transferring ..." in shown
    assert "\r\x1b[KUpload: transfer succeeded: 1 file, 6 B" in shown
    # A dumb terminal would show the escape codes as text: no line rewritten there.
    code, dumb = on_terminal(*args, env=flowgen_env(TERM="dumb"), cwd=tmp_path)
    assert code == ExitCode.OK and "SUCCEEDED" in dumb
    assert "\x1b[K" not in dumb and "transferring" not in dumb
    piped = run(*args, cwd=tmp_path)
    assert piped.returncode == 0
    assert "transferring" not in piped.stderr + piped.stdout


# -- --help as plain prose with examples ------------------------------------------------

RST = re.compile(r"``|:(?:class|func|meth|mod|data|attr|exc|ref|doc):`|\.\. [a-z]+::|`[^`\n]+`_")


def test_every_help_is_plain_prose_with_examples_on_their_own_lines(
    flowgen_app: typer.Typer, runner: CliRunner
) -> None:
    leaves = [p.split() for p in _commands(flowgen_app)]
    groups = sorted({path[0] for path in leaves if len(path) > 1})
    for path in [[], *[[g] for g in groups], *leaves]:
        result = runner.invoke(flowgen_app, [*path, "--help"], terminal_width=80)
        shown = result.stdout
        name = " ".join(["flowgen", *path])
        assert result.exit_code == 0, name
        assert not RST.search(shown), f"{name} --help shows markup: {RST.search(shown)}"
        assert "\b" not in shown, name
        examples = [line.strip() for line in shown.splitlines() if "Example:" in line]
        assert examples, f"{name} --help has no example"
        # A group's example shows one of its commands; a command's, itself.
        begins = (
            "Example: flowgen " if path in ([], *[[g] for g in groups]) else f"Example: {name} "
        )
        for line in examples:
            # Whole on its own line: click rewraps a paragraph unless it starts with \b.
            argv = shlex.split(line.removeprefix("Example: "))
            assert f"Example: {shlex.join(argv)} ".startswith(begins), (name, line)
