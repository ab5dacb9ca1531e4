"""The hpc-agent command line follows the conventions users know (issue 14).

Each test runs the real command (a subprocess of ``python -m hpc_agent``,
on a pseudo-terminal where the terminal matters, or :func:`hpc_agent.cli.main`
with captured streams) and checks what a user sees: help, completion,
``-F json`` and ``--jmespath``, JSON errors, Ctrl-C, a closed pipe, file
system errors, colour and the progress lines of ``run``.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from hpc_agent.cli import build_parser, main
from hpc_agent.cli.completion import commands
from hpc_agent.loop.eventlog import EventLog
from tests.agent.helpers import make_uow
from tests.agent.plain_user import SKIP_REASON, plain_prefix

REPO = Path(__file__).resolve().parents[2]
ESC = "\x1b["


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "XDG_CONFIG_HOME")}
    return {**env, "HOME": str(home), "TERM": "xterm", "PYTHONPATH": str(REPO), **extra}


def agent(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """``python -m hpc_agent ARGS`` with stdout and stderr piped (no terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "hpc_agent", *args],
        cwd=REPO,
        env=_env(home, **extra),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def on_a_terminal(home: Path, *args: str, **extra: str) -> tuple[int, str]:
    """``python -m hpc_agent ARGS`` with stdout and stderr on a pseudo-terminal."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hpc_agent", *args],
        cwd=REPO,
        env=_env(home, **extra),
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the command closed its end of the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(timeout=120), b"".join(chunks).decode()


def _setup(tmp_path: Path, home: Path, name: str = "p") -> Path:
    base = tmp_path / "inst"
    args = ["setup", "--base-dir", str(base), "--name", name, "--yes"]
    assert main([*args, "--executor", "local", "--schedule", "none"]) == 0
    return base.resolve()


@pytest.fixture
def base(tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """An instance named ``p`` (local executor, no schedule), registered in ``home``."""
    made = _setup(tmp_path, home)
    capsys.readouterr()
    return made


# -- version and help ----------------------------------------------------------------


def test_version_is_printed(home: Path) -> None:
    result = agent(home, "--version")
    assert result.returncode == 0
    assert re.fullmatch(r"hpc-agent \S+\n", result.stdout)


COMMAND_PATHS = sorted(commands(build_parser()))


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda p: p or "hpc-agent")
def test_every_help_is_plain_prose_with_an_example(
    path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([*path.split(), "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "``" not in text and "`" not in text, text
    assert not re.search(r":(func|class|mod|data|meth|attr):", text), text
    for internal in ("import graph", "tests/", "parser halves", "sys.modules"):
        assert internal not in text
    # The example stands on its own line under "Example:", whole, as typed.
    example = re.search(r"^Example:\n  (hpc-agent .+)$", text, re.MULTILINE)
    assert example, text
    assert example.group(1).startswith(f"hpc-agent {path}".strip())


# -- completion ------------------------------------------------------------------------


def _complete(home: Path, script: str, *words: str) -> list[str]:
    array = " ".join(f"'{w}'" for w in words)
    program = (
        f"{script}\nCOMP_WORDS=({array}); COMP_CWORD={len(words) - 1}; _hpc_agent; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    result = subprocess.run(
        ["bash", "-c", program],
        cwd=home,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.split()


def test_bash_completion_completes_commands_options_and_instances(base: Path, home: Path) -> None:
    generated = agent(home, "completion", "bash")
    assert generated.returncode == 0
    script = generated.stdout
    assert "complete -F _hpc_agent hpc-agent" in script
    assert _complete(home, script, "hpc-agent", "sta") == ["status"]
    assert _complete(home, script, "hpc-agent", "status", "--jm") == ["--jmespath"]
    assert _complete(home, script, "hpc-agent", "function", "ch") == ["check"]
    assert _complete(home, script, "hpc-agent", "logs", "p", "--format", "") == ["text", "json"]
    assert "p" in _complete(home, script, "hpc-agent", "status", "")
    assert _complete(home, script, "hpc-agent", "schedule", "") == ["install", "remove", "show"]
    zsh = agent(home, "completion", "zsh").stdout
    assert zsh.startswith("autoload -U +X bashcompinit && bashcompinit\n")


# -- -F json, --jmespath and errors as JSON ----------------------------------------------

COMMANDS = sorted(path for path, cmd in commands(build_parser()).items() if not cmd.subcommands)
"""Every command and sub-command hpc-agent has (its groups, hpc-agent and function, aside)."""


def test_the_commands_walked_include_those_that_took_no_F_before() -> None:
    for path in ("setup", "schedule", "uninstall", "completion", "run", "function catalog"):
        assert path in COMMANDS
    assert {"function new", "function render", "function test"} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS)
def test_every_command_takes_short_F_and_jmespath(
    path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    table = commands(build_parser())[path]
    assert {"-F", "--format", "--jmespath"} <= set(table.options), table.options
    with pytest.raises(SystemExit):
        main([*path.split(), "--help"])
    usage = capsys.readouterr().out
    assert "-F {text,json" in usage and "--format" in usage and "--jmespath EXPR" in usage


def _json(capsys: pytest.CaptureFixture[str]) -> tuple[Any, str]:
    """The one JSON document on stdout (json.loads fails on anything more), and stderr."""
    out, err = capsys.readouterr()
    assert out.endswith("}\n"), out
    return json.loads(out), err


_LOCAL = ("--executor", "local", "--account", "none", "--qos", "none")


def test_setup_json_is_the_instance_as_set_up_and_what_changed(
    tmp_path: Path, home: Path, fake_crontab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = tmp_path / "j"
    args = ["setup", "--base-dir", str(where), "--name", "j", *_LOCAL, "--yes"]
    assert main([*args, "-F", "json"]) == 0
    done, err = _json(capsys)
    base = where.resolve()
    assert (done["name"], done["base_dir"], done["executor"]) == ("j", str(base), "local")
    assert done["config"] == str(base / "flowcron.toml")
    assert done["registry_entry"] == str(home / ".config" / "flowcron" / "j.toml")
    assert Path(done["instance_file"]).is_file()
    assert (done["created"], done["changed"]) == (True, {})
    assert done["settings"]["every_minutes"] == 5
    schedule = done["schedule"]
    assert (schedule["kind"], schedule["installed"]) == ("cron", True)
    assert f"tick {base}" in schedule["block"] and schedule["block"] in fake_crontab.read_text()
    # What setup says to people (the table change, the summary) went to stderr.
    assert "+# BEGIN flowcron:j" in err and "FlowCron instance 'j' is ready." in err

    assert main([*args, "--every", "10", "--format", "json"]) == 0
    again, _ = _json(capsys)
    assert again["created"] is False
    assert again["changed"] == {"every_minutes": {"from": 5, "to": 10}}
    assert "*/10 " in again["schedule"]["block"]

    # Text: as before, the table change and the summary on stdout.
    assert main([*args, "--every", "15"]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("--- crontab (now)\n")
    assert "\nFlowCron instance 'j' is ready.\n" in out and "{" not in out


def test_setup_under_json_asks_its_questions_on_stderr(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("asked\n"))
    flags = ["--every", "5", "--soft-delete-days", "30", "--hard-delete-days", "30"]
    flags += ["--no-timestamp", "--risky-scripts", "warn", "--run-policy", "both"]
    where = str(tmp_path / "a")
    argv = ["setup", "--base-dir", where, *_LOCAL, "--schedule", "none", *flags, "-F", "json"]
    assert main(argv) == 0
    done, err = _json(capsys)
    assert done["name"] == "asked" and done["schedule"] == {
        "kind": "none",
        "installed": False,
        "block": None,
    }
    assert "What should this FlowCron instance be called?" in err
    assert "No schedule installed" in err


def test_setup_error_under_json_is_one_document(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["setup", "--base-dir", str(tmp_path / "x"), *_LOCAL, "--yes", "-F", "json"]
    assert main(argv) == 2
    error, err = _json(capsys)
    assert err == error["error"]["message"] + "\n", "the same one line on stderr"
    assert error["error"]["code"] == "USAGE" and "--name is missing" in error["error"]["message"]


def test_schedule_json_show_install_remove(
    base: Path,
    home: Path,
    fake_crontab: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import io

    # No entry yet: exit 1 as in text, and the document says so (no error).
    assert main(["schedule", "show", "p", "--kind", "cron", "-F", "json"]) == 1
    shown, err = _json(capsys)
    assert shown == {"instance": "p", "kind": "cron", "installed": False, "block": None}
    assert err == ""

    assert main(["schedule", "install", "p", "--kind", "cron", "--yes", "-F", "json"]) == 0
    done, err = _json(capsys)
    assert (done["instance"], done["action"], done["tool"]) == ("p", "install", "crontab")
    assert (done["changed"], done["applied"]) == (True, True)
    assert Path(done["backup"]).is_file()
    assert "+# BEGIN flowcron:p" in done["diff"] and "+# BEGIN flowcron:p" in err
    assert f"tick {base}" in fake_crontab.read_text()

    assert main(["schedule", "install", "p", "-F", "json"]) == 0  # nothing to change: no question
    same, _ = _json(capsys)
    assert same == {**done, "changed": False, "applied": False, "backup": None, "diff": None}

    assert main(["schedule", "show", "p", "-F", "json"]) == 0
    shown, _ = _json(capsys)
    assert shown["installed"] is True
    block = shown["block"]
    assert block.startswith("# BEGIN flowcron:p")
    assert main(["schedule", "show", "p"]) == 0  # text: the block itself, as before
    assert capsys.readouterr().out == block
    assert main(["schedule", "show", "p", "--jmespath", "installed"]) == 0
    assert capsys.readouterr().out == "true\n"

    # Asked without --yes under JSON: the question on stderr; declined, nothing applied.
    monkeypatch.setattr("sys.stdin", io.StringIO("no\n"))
    assert main(["schedule", "remove", "p", "-F", "json"]) == 0
    kept, err = _json(capsys)
    assert (kept["action"], kept["changed"], kept["applied"]) == ("remove", True, False)
    assert "Apply to your crontab? (yes/no)" in err and "left unchanged" in err
    assert "flowcron:p" in fake_crontab.read_text()


def test_a_question_under_json_with_no_input_is_a_usage_error_changing_nothing(
    base: Path,
    home: Path,
    fake_crontab: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # a script's closed stdin
    assert main(["schedule", "install", "p", "--kind", "cron", "-F", "json"]) == 2
    error, err = _json(capsys)
    assert error["error"]["code"] == "USAGE"
    assert "(input ended); pass it as a flag" in error["error"]["message"]
    assert "Apply to your crontab? (yes/no)" in err
    assert not fake_crontab.exists(), "nothing was written"


def test_uninstall_json_says_what_was_removed(
    tmp_path: Path, home: Path, fake_crontab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = tmp_path / "u"
    assert main(["setup", "--base-dir", str(where), "--name", "u", *_LOCAL, "--yes"]) == 0
    capsys.readouterr()
    assert main(["uninstall", "u", "--yes", "-F", "json"]) == 0
    done, err = _json(capsys)
    assert (done["instance"], done["base_dir"]) == ("u", str(where.resolve()))
    assert (done["schedule_removed"], done["registry_entry_removed"]) == (True, True)
    assert Path(done["schedule_backup"]).is_file()
    assert (done["declined"], done["data_deleted"], done["schedule_error"]) == (False, False, None)
    assert "-# BEGIN flowcron:u" in err and "No data was deleted" in err
    assert "flowcron:u" not in fake_crontab.read_text()
    assert (where / "flowcron.toml").is_file()


def test_function_new_render_test_json(
    base: Path,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from hpc_agent.config import InstanceConfig, save_instance
    from hpc_agent.executors import slurm

    assert main(["function", "new", "p", "sh", "--from", "shell", "-F", "json"]) == 0
    made, err = _json(capsys)
    folder = base / protocol.FUNCTIONS / "sh"
    assert made == {
        "instance": "p",
        "name": "sh",
        "folder": str(folder),
        "files": sorted(path.name for path in folder.iterdir()),
        "origin": "builtin",
        "builtin": "shell",
        "ok": True,
        "problems": [],
        "next": made["next"],
    }
    assert {"function.toml", "template.sh", "example.toml"} <= set(made["files"])
    assert "hpc-agent function check p sh" in made["next"]
    assert err == ""
    assert main(["function", "new", "p", "sk"]) == 0  # text: as before
    out, _ = capsys.readouterr()
    assert (
        out.startswith(f"created {base / protocol.FUNCTIONS / 'sk'}/ (") and ": a skeleton\n" in out
    )
    assert "\nnext: edit it, then run `hpc-agent function check p sk`" in out

    example = folder / "example.toml"
    render = ["function", "render", "p", "sh", "--params", str(example)]
    assert main(render) == 0
    script, _ = capsys.readouterr()
    assert script.startswith("#!/bin/bash\n")
    assert main([*render, "-F", "json"]) == 0
    rendered, _ = _json(capsys)
    assert rendered["script"] == script
    assert (rendered["function"], rendered["version"], rendered["ok"]) == ("sh", "1.0.0", True)
    assert rendered["params_file"] == str(example) and rendered["params"]["cpus"] == 1
    assert rendered["resources"]["time"] == "0:05:00" and rendered["problems"] == []
    assert main([*render, "--jmespath", "resources.cpus"]) == 0
    assert capsys.readouterr().out == "1\n"
    # A call with a problem: exit 1 as in text, and the document lists the problems.
    bad = tmp_path / "bad.toml"
    bad.write_text('[params]\ncommand = "true"\ncpus = 999\n')
    assert main(["function", "render", "p", "sh", "--params", str(bad), "-F", "json"]) == 1
    refused, _ = _json(capsys)
    assert (refused["ok"], refused["script"]) == (False, None) and refused["problems"]

    # function test asks Slurm (here a stand-in for sbatch): its answer and the resources.
    save_instance(InstanceConfig(name="p", base_dir=base, account="a", qos="q"))  # Slurm

    def fake_run(argv: list[str], timeout: float) -> object:
        answer = "sbatch: Job 1 to start at 2030-01-01T00:00:00 using 1 processors"
        return type("R", (), {"returncode": 0, "stdout": "", "stderr": answer})()

    monkeypatch.setattr(slurm, "_run", fake_run)
    test = ["function", "test", "p", "sh", "--params", str(example)]
    assert main(test) == 0
    text, _ = capsys.readouterr()
    assert text.splitlines()[0] == "resources: time=0:05:00, cpus=1, memory=100M"
    assert text.endswith("Slurm would take the job (nothing was queued).\n")
    assert main([*test, "-F", "json"]) == 0
    tested, _ = _json(capsys)
    assert tested["slurm"]["accepted"] is True and "to start at" in tested["slurm"]["answer"]
    assert tested["slurm"]["argv"][:2] == ["sbatch", "--test-only"]
    assert tested["resources"] == {"time": "0:05:00", "cpus": 1, "memory": "100M"}


def test_completion_json_is_the_shell_and_the_script(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert main(["completion", "bash", "-F", "json"]) == 0
    assert _json(capsys)[0] == {"shell": "bash", "script": script}
    assert main(["completion", "zsh", "--jmespath", "shell"]) == 0
    assert capsys.readouterr().out == '"zsh"\n'


def test_run_json_is_a_line_per_tick_and_catalog_takes_F(
    base: Path, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "p", "--every", "1", "--max-ticks", "1", "-F", "json"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    tick = json.loads(line)
    assert (tick["tick"], tick["ran"], tick["exit_code"], tick["crashed"]) == (1, True, 0, None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", tick["time"])

    assert main(["function", "catalog", "p"]) == 0
    catalog = capsys.readouterr().out
    assert main(["function", "catalog", "p", "-F", "json"]) == 0
    assert capsys.readouterr().out == catalog
    output = tmp_path / "p.functions.json"
    assert main(["function", "catalog", "p", "-o", str(output), "-F", "json"]) == 0
    written, _ = _json(capsys)
    assert written == {
        "instance": "p",
        "output": str(output),
        "functions": [],
        "left_out": [],
        "commit_as": "flows/p.functions.json",
    }
    assert output.read_text() == catalog


def test_jmespath_selects_from_the_json_and_long_format_still_works(base: Path, home: Path) -> None:
    result = agent(home, "status", "p", "-F", "json", "--jmespath", "instance")
    assert (result.returncode, result.stdout) == (0, '"p"\n')
    result = agent(home, "status", "p", "--jmespath", "keys(@)")  # implies JSON
    assert "running" in json.loads(result.stdout)
    result = agent(home, "doctor", "p", "--format", "json")
    assert {check["status"] for check in json.loads(result.stdout)} <= {"OK", "WARN", "FAIL"}
    EventLog(base / protocol.LOGS, "p").write("admitted", "u1 admitted", uow="u1")
    result = agent(home, "logs", "p", "-F", "json", "--jmespath", "event")
    assert result.stdout.splitlines()[-1] == '"admitted"'


def test_an_error_under_json_is_one_document_on_stdout(home: Path) -> None:
    result = agent(home, "status", "nowhere", "-F", "json")
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]  # stdout: only the document
    assert result.stderr == error["message"] + "\n", "and the one line for a person"
    assert (error["code"], error["exit_code"]) == ("USAGE", 2)
    assert "no instance named 'nowhere'" in error["message"]
    # The same error without -F json: one line on stderr, nothing on stdout.
    plain = agent(home, "status", "nowhere")
    assert (plain.returncode, plain.stdout) == (2, "")
    assert plain.stderr.count("\n") == 1 and "no instance named 'nowhere'" in plain.stderr


def test_a_bad_jmespath_is_a_usage_error_before_any_work(base: Path, home: Path) -> None:
    result = agent(home, "tick", "p", "--jmespath", "[[")
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "USAGE" and "is not a JMESPath expression" in error["message"]
    assert not (base / protocol.CODE_TO_RUN / ".state" / "heartbeat.json").exists(), "no tick ran"


def test_jmespath_without_the_package_says_how_to_install_it(base: Path, home: Path) -> None:
    program = (
        "import sys; sys.modules['jmespath'] = None\n"  # as on a login node without it
        "from hpc_agent.cli import main; raise SystemExit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", program, "status", "p", "--jmespath", "instance"],
        cwd=REPO,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "pip install jmespath" in json.loads(result.stdout)["error"]["message"]


# -- Ctrl-C and a closed pipe --------------------------------------------------------------


def test_ctrl_c_stops_run_every_with_130_and_says_so(base: Path, home: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hpc_agent", "run", "p", "--every", "60"],
        cwd=REPO,
        env=_env(home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the first tick has run: now waiting 60 s
    assert "tick 1: idle: nothing to do" in first
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "hpc-agent run: interrupted after 1 tick(s)" in err
    assert "Traceback" not in err + out


def test_ctrl_c_ends_logs_follow_and_a_setup_question_with_130(base: Path, home: Path) -> None:
    EventLog(base / protocol.LOGS, "p").write("admitted", "u1 admitted", uow="u1")
    commands = {
        "logs": ["logs", "p", "--follow"],
        "setup": ["setup", "--base-dir", str(base.parent / "new")],
    }
    for name, args in commands.items():
        proc = subprocess.Popen(
            [sys.executable, "-m", "hpc_agent", *args],
            cwd=REPO,
            env=_env(home),
            stdin=subprocess.PIPE,  # open and silent: setup waits for an answer
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert os.read(proc.stdout.fileno(), 4096), f"{name} printed nothing"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, name
        assert f"hpc-agent {name}: interrupted" in err.decode()
        assert b"Traceback" not in err
    assert not (base.parent / "new").exists(), "setup interrupted at a question wrote nothing"


def test_a_closed_pipe_ends_logs_quietly(base: Path, home: Path) -> None:
    log = EventLog(base / protocol.LOGS, "p")
    for n in range(5000):  # far more than a pipe buffer holds
        log.write("admitted", f"u{n} admitted", uow=f"u{n}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hpc_agent", "logs", "p"],
        cwd=REPO,
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert b"u0 admitted" in proc.stdout.readline()
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 141
    assert err == b"", err.decode()


@pytest.mark.parametrize("args", [["status", "p"], ["usage", "p"], ["doctor", "p"]])
def test_a_closed_pipe_ends_status_usage_and_doctor_with_141_and_no_message(
    base: Path, args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    reader, writer = os.pipe()
    os.close(reader)  # the reader went away before the command printed anything
    with open(writer, "w") as closed:
        monkeypatch.setattr(sys, "stdout", closed)
        assert main(args) == 141
        monkeypatch.undo()
    assert capsys.readouterr().err == ""


# -- file system errors --------------------------------------------------------------------

_LOCAL_NO_SLURM = (
    "--account",
    "none",
    "--qos",
    "none",
    "--executor",
    "local",
    "--schedule",
    "none",
)


def test_setup_where_it_cannot_write_is_one_line_naming_the_path(
    tmp_path: Path, home: Path
) -> None:
    regular = tmp_path / "a-file"
    regular.write_text("")
    for where in (regular / "flowcron", Path("/proc/flowcron")):
        result = agent(
            home, "setup", "--base-dir", str(where), "--name", "x", "--yes", *_LOCAL_NO_SLURM
        )
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        [line] = result.stderr.splitlines()
        assert line.startswith("hpc-agent setup: ") and str(where) in line


def test_setup_as_a_user_who_may_not_write_there_says_so(tmp_path: Path, home: Path) -> None:
    prefix = plain_prefix()
    if prefix is None:
        pytest.skip(SKIP_REASON)
    locked = tmp_path / "srv"
    locked.mkdir(mode=0o555)
    setup = ["setup", "--base-dir", str(locked / "fc"), "--name", "x", "--yes"]
    result = subprocess.run(
        [*prefix, sys.executable, "-m", "hpc_agent", *setup, *_LOCAL_NO_SLURM],
        cwd=REPO,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"hpc-agent setup: {locked / 'fc'}: Permission denied; give your user write "
        "permission there, or run as the instance's owner\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["report", "p", "--html", "{file}/report.html"],
        ["function", "catalog", "p", "-o", "{file}/p.functions.json"],
        ["status", "{file}/inst"],
        ["doctor", "{file}/inst"],
        ["logs", "{file}/inst"],
        ["retry", "{file}/inst", "u"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_a_path_under_a_file_is_one_line_naming_it(
    base: Path, home: Path, tmp_path: Path, args: list[str]
) -> None:
    regular = tmp_path / "a-file"
    regular.write_text("")
    result = agent(home, *(arg.format(file=regular) for arg in args))
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert str(regular) in line


# -- colour --------------------------------------------------------------------------------


def test_doctor_colours_its_findings_on_a_terminal_only(base: Path, home: Path) -> None:
    code, shown = on_a_terminal(home, "doctor", "p")
    assert code in (0, 1)
    assert f"{ESC}32mOK{ESC}0m" in shown
    _, plain = on_a_terminal(home, "doctor", "p", NO_COLOR="1")
    assert ESC not in plain and "OK    " in plain
    piped = agent(home, "doctor", "p")
    assert ESC not in piped.stdout and "OK    " in piped.stdout


def test_function_check_paints_problems_on_a_terminal(base: Path, home: Path) -> None:
    broken = base / protocol.FUNCTIONS / "broken"
    broken.mkdir()
    (broken / "function.toml").write_text("name = [\n")
    code, shown = on_a_terminal(home, "function", "check", "p")
    assert code == 1
    assert f"{ESC}1;31m" in shown and "problem(s)" in shown
    piped = agent(home, "function", "check", "p")
    assert ESC not in piped.stdout and "problem(s)" in piped.stdout


# -- progress ------------------------------------------------------------------------------


def test_run_every_prints_a_line_per_tick_saying_what_it_did(base: Path, home: Path) -> None:
    make_uow(base / protocol.UPLOADED, "s")
    result = agent(home, "run", "p", "--every", "1", "--max-ticks", "2")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ tick 1: 1 admitted, 1 submitted", first)
    assert " tick 2: " in second


def test_tick_is_silent_without_a_terminal_and_says_what_it_did_on_one(
    base: Path, home: Path
) -> None:
    make_uow(base / protocol.UPLOADED, "s")
    cron = agent(home, "tick", "p")  # as cron runs it: no terminal
    assert (cron.returncode, cron.stdout, cron.stderr) == (0, "", "")
    assert (base / protocol.RUNNING / "s").is_dir(), "the tick did its work"
    code, shown = on_a_terminal(home, "tick", "p")
    assert code == 0
    assert re.fullmatch(r"(idle: nothing to do|1 handed back) \(\d+\.\d s\)\r?\n", shown), shown
    summary = json.loads(agent(home, "tick", "p", "-F", "json").stdout)
    assert summary["exit_code"] == 0 and summary["ran"] is True


def test_a_tick_in_trouble_is_not_silent_under_cron(base: Path, home: Path) -> None:
    (base / protocol.RUNNING).rename(base / "elsewhere")
    (base / protocol.RUNNING).symlink_to(base / "elsewhere")
    started = time.time()
    cron = agent(home, "tick", "p")
    assert cron.returncode == 1 and cron.stdout == ""
    assert "symlink" in cron.stderr, cron.stderr
    assert time.time() - started < 60


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "hpc_agent", "--help"],
        ["-m", "hpc_agent", "--version"],
        ["-m", "hpc_agent", "status", "--help"],
        ["-c", "from flowgen.cli import main; main()", "--help"],
    ],
)
def test_help_into_a_closed_pipe_ends_with_141_and_no_message(
    home: Path, command: list[str]
) -> None:
    # argparse ends --help with SystemExit while the text is still in stdout's buffer;
    # the final flush used to print "Exception ignored ... BrokenPipeError" (exit 120).
    # Buffered as in a user's shell: PYTHONUNBUFFERED (set on some machines) hides it.
    env = {k: v for k, v in _env(home).items() if k != "PYTHONUNBUFFERED"}
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            [sys.executable, *command],
            cwd=REPO,
            env=env,
            stdout=writer,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(writer)
    assert done.returncode == 141
    assert done.stderr == b"", done.stderr.decode()
