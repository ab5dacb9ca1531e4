"""The fast hand-back wrapper without Slurm: what it copies, records, and how it ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from hpc_agent.loop import fast_handback
from hpc_agent.loop.state import StateStore

SCRIPT = b"#!/bin/bash\n#SBATCH --time=00:01:00\n\n# a comment\n#SBATCH --mem=1G\necho hi\n#SBATCH --no\n"


def test_the_header_is_what_sbatch_reads_options_from() -> None:
    header = fast_handback.sbatch_header(SCRIPT)
    assert header == b"#SBATCH --time=00:01:00\n\n# a comment\n#SBATCH --mem=1G\n"
    assert fast_handback.sbatch_header(b"echo no interpreter line\n") is None
    assert fast_handback.sbatch_header(b"#!/bin/bash\n#SBATCH \0\n") is None


def _store(tmp_path: Path, script: bytes) -> StateStore:
    store = StateStore(tmp_path / "base")
    store.ensure()
    store.script_path("uow").write_bytes(script)
    store.script_path("uow").chmod(0o700)
    return store


def test_the_ended_record_is_read_only_for_its_own_job(tmp_path: Path) -> None:
    store = _store(tmp_path, SCRIPT)
    path = fast_handback.ended_path(store, "uow")
    assert fast_handback.read_ended(store, "uow", "12") is None
    path.write_text(json.dumps({"job_id": "12", "exit_code": 3, "signal": None}))
    ended = fast_handback.read_ended(store, "uow", "12")
    assert ended is not None and not ended.succeeded and ended.slurm_exit_code == "3:0"
    assert fast_handback.read_ended(store, "uow", "13") is None  # an earlier run's
    path.write_text(json.dumps({"job_id": "12", "exit_code": None, "signal": 9}))
    ended = fast_handback.read_ended(store, "uow", "12")
    assert ended is not None and ended.slurm_exit_code == "0:9" and "signal 9" in ended.reason()
    path.write_text("{not json")
    assert fast_handback.read_ended(store, "uow", "12") is None
    store.delete("uow")
    assert list(store.scripts_dir.iterdir()) == []


def _wrapper(tmp_path: Path, body: bytes) -> tuple[StateStore, Path]:
    store = _store(tmp_path, b"#!/bin/bash\n#SBATCH --time=1\n" + body)
    path = fast_handback.job_script(store, "uow", tmp_path / "base")
    assert path == fast_handback.wrapper_path(store, "uow")
    return store, path


def test_the_wrapper_is_python_with_the_scripts_sbatch_header(tmp_path: Path) -> None:
    _, path = _wrapper(tmp_path, b"echo hi\n")
    text = path.read_bytes()
    assert text.split(b"\n")[2] == b"#SBATCH --time=1"
    compile(text, str(path), "exec")


def _run(path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    return subprocess.Popen(
        [str(path), *args], env={**clean, **(env or {})}, cwd=path.parent, start_new_session=True
    )


@pytest.mark.parametrize("code", [0, 3, 137])
def test_the_wrapper_exits_with_the_scripts_exit_code_and_records_it(
    tmp_path: Path, code: int
) -> None:
    store, path = _wrapper(tmp_path, b'echo "$@" > args.txt\nexit ' + str(code).encode() + b"\n")
    assert _run(path, "a b", "c").wait(timeout=60) == code
    assert (path.parent / "args.txt").read_text() == "a b c\n"
    record = json.loads(fast_handback.ended_path(store, "uow").read_text())
    assert (record["exit_code"], record["signal"]) == (code, None)


def test_the_wrapper_dies_by_the_signal_that_killed_the_script(tmp_path: Path) -> None:
    store, path = _wrapper(tmp_path, b"kill -9 $$\n")
    assert _run(path).wait(timeout=60) == -signal.SIGKILL
    record = json.loads(fast_handback.ended_path(store, "uow").read_text())
    assert (record["exit_code"], record["signal"]) == (None, 9)


def test_the_wrapper_forwards_sigterm_to_the_script(tmp_path: Path) -> None:
    body = b"trap 'echo trapped > trap.txt; exit 7' TERM\ntouch started\nsleep 30 &\nwait\n"
    _, path = _wrapper(tmp_path, body)
    wrapper = _run(path)
    deadline = time.monotonic() + 30
    while not (path.parent / "started").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    wrapper.send_signal(signal.SIGTERM)  # the wrapper only, as `scancel --batch` does
    assert wrapper.wait(timeout=60) == 7
    assert (path.parent / "trap.txt").read_text() == "trapped\n"


def test_a_crash_point_in_the_wrapper_kills_it(tmp_path: Path) -> None:
    store, path = _wrapper(tmp_path, b"exit 0\n")
    crashed = _run(path, env={"FLOWCRON_CRASH_AT": "mid-ended-record-write"})
    assert crashed.wait(timeout=60) == -signal.SIGKILL
    assert not fast_handback.ended_path(store, "uow").exists()


def test_the_wrapper_carries_the_script_and_runs_it_without_the_copy(tmp_path: Path) -> None:
    # Outside a Slurm spool the script is written to a file of the job's own (never
    # the prepared copy the agent may read), run from there, and removed after.
    store, path = _wrapper(tmp_path, b'echo "$0" > ran.txt\nls -l "$0" > mode.txt\n')
    copy = store.script_path("uow")
    copy.unlink()
    assert _run(path).wait(timeout=60) == 0
    ran = Path((path.parent / "ran.txt").read_text().strip())
    assert ran.parent == store.scripts_dir and ran.name.startswith("uow.jobpid"), ran
    assert (path.parent / "mode.txt").read_text().startswith("-rwx------")
    assert not ran.exists() and not copy.exists()
    assert sorted(p.name for p in store.scripts_dir.glob("*uow*")) == [
        "uow.ended.json",
        "uow.ended.log",
        "uow.wrap.py",
    ]
    assert fast_handback.wrapped_script(store, "uow") == (
        b'#!/bin/bash\n#SBATCH --time=1\necho "$0" > ran.txt\nls -l "$0" > mode.txt\n'
    )


@pytest.mark.parametrize(
    "script",
    [
        b"#!/bin/bash\n#SBATCH --time=1 # \r echo not a comment\necho hi\n",
        b"#!/bin/bash\n\x0b\n#SBATCH --time=1\necho hi\n",
        b"#!/bin/bash\n# \x1b[31m red\necho hi\n",
    ],
)
def test_a_header_python_cannot_hold_is_not_wrapped(tmp_path: Path, script: bytes) -> None:
    # A lone CR ends a line for Python, a vertical tab is no whitespace for it: such a
    # header would make the wrapper fail before the script ran. The copy is run instead.
    store = _store(tmp_path, script)
    assert fast_handback.job_script(store, "uow", tmp_path / "base") is None


@pytest.mark.parametrize(
    "script",
    [
        b"#!/bin/bash\r\necho crlf\r\n",
        b"#!/bin/sh\necho '\xc3\xa9t\xc3\xa9' \x7f\n\n\r\rlast",
        b"#!/bin/bash\necho " + b"x" * 100_000 + b"\n",
    ],
)
def test_the_carried_script_is_the_script_byte_for_byte(tmp_path: Path, script: bytes) -> None:
    store = _store(tmp_path, b"#!/bin/bash\n")
    path = fast_handback.job_script(store, "uow", tmp_path / "base", script)
    assert path is not None
    compile(path.read_bytes(), str(path), "exec")
    assert fast_handback.wrapped_script(store, "uow") == script
