"""The hpc-agent command line: runs from a plain checkout; logs, uninstall, exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpc_agent import protocol
from hpc_agent.cli import main, parse_since
from hpc_agent.config import registry_path
from hpc_agent.loop.eventlog import EventLog

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("python", [sys.executable, shutil.which("python3") or sys.executable])
def test_help_works_from_a_plain_checkout_with_an_empty_environment(python: str) -> None:
    result = subprocess.run(
        [python, "-m", "hpc_agent", "--help"],
        cwd=REPO,
        env={},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for command in ("setup", "schedule", "doctor", "logs", "uninstall"):
        assert command in result.stdout


def _setup(tmp_path: Path, name: str = "p") -> Path:
    base = tmp_path / "inst"
    args = ["setup", "--base-dir", str(base), "--name", name, "--yes"]
    assert main([*args, "--executor", "local", "--schedule", "none"]) == 0
    return base.resolve()


def test_logs_filters_and_formats(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _setup(tmp_path)
    EventLog(base / protocol.LOGS, "p", clock=lambda: time.time() - 7200).write(
        "admitted", "u1 admitted", uow="u1"
    )
    EventLog(base / protocol.LOGS, "p").write("submitted", "u2 submitted", uow="u2", job_id="9")
    capsys.readouterr()
    assert main(["logs", "p", "--uow", "u2", "--format", "json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["submitted"]
    assert main(["logs", str(base), "--since", "1h"]) == 0
    out = capsys.readouterr().out
    assert "u1 admitted" not in out, "--since 1h leaves out the event from 2 hours ago"
    assert "u2 job 9 submitted: u2 submitted" in out


def test_bad_since_is_a_usage_error(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _setup(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["logs", "p", "--since", "yesterday"])
    assert info.value.code == 2
    assert "neither a duration" in capsys.readouterr().err


def test_parse_since_accepts_durations_and_dates() -> None:
    assert parse_since("2h", now=10_000) == 10_000 - 7200
    assert parse_since("2026-01-01") == 1767225600.0
    assert parse_since("2026-01-01T01:00Z") == 1767225600.0 + 3600


def test_unknown_instance_is_exit_2_with_a_hint(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["logs", "ghost"]) == 2
    assert "no instance named 'ghost'" in capsys.readouterr().err


def test_uninstall_removes_schedule_and_registry_but_no_data(
    tmp_path: Path, home: Path, fake_crontab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "inst"
    assert (
        main(["setup", "--base-dir", str(base), "--name", "u", "--executor", "local", "--yes"]) == 0
    )
    fake_crontab.write_text("0 1 * * * mine\n" + fake_crontab.read_text())
    result = base / protocol.ANALYSED / "x" / "data" / "out.txt"
    result.parent.mkdir(parents=True)
    result.write_text("keep me")
    assert main(["uninstall", "u", "--yes"]) == 0
    assert fake_crontab.read_text() == "0 1 * * * mine\n"
    assert not registry_path("u").exists()
    assert result.read_text() == "keep me" and (base / "flowcron.toml").exists()
    assert "No data was deleted" in capsys.readouterr().err


def test_schedule_command_show_install_remove(
    tmp_path: Path, home: Path, fake_crontab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _setup(tmp_path)
    assert main(["schedule", "show", "p", "--kind", "cron"]) == 1
    assert main(["schedule", "install", "p", "--kind", "cron", "--yes"]) == 0
    assert f"tick {base}" in fake_crontab.read_text()
    capsys.readouterr()
    assert main(["schedule", "show", "p"]) == 0
    assert capsys.readouterr().out.startswith("# BEGIN flowcron:p")
    assert main(["schedule", "remove", "p", "--yes"]) == 0
    assert "flowcron:p" not in fake_crontab.read_text()


def test_uninstall_of_an_old_base_leaves_the_live_instance_of_that_name_alone(
    tmp_path: Path, home: Path, fake_crontab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = tmp_path / "live"
    assert (
        main(["setup", "--base-dir", str(live), "--name", "u", "--executor", "local", "--yes"]) == 0
    )
    table = fake_crontab.read_text()
    assert f"tick {live.resolve()}" in table
    # An old copy of the instance, same name, somewhere else.
    old = tmp_path / "old"
    old.mkdir()
    (old / "flowcron.toml").write_text((live / "flowcron.toml").read_text())
    capsys.readouterr()

    assert main(["uninstall", str(old), "--yes"]) == 1

    assert fake_crontab.read_text() == table
    assert registry_path("u").exists()
    err = capsys.readouterr().err
    assert f"not {old.resolve()}" in err and "left in place" in err


def test_declining_the_schedule_removal_changes_nothing(
    tmp_path: Path,
    home: Path,
    fake_crontab: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    base = tmp_path / "inst"
    assert (
        main(["setup", "--base-dir", str(base), "--name", "u", "--executor", "local", "--yes"]) == 0
    )
    table = fake_crontab.read_text()
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))

    assert main(["uninstall", "u"]) == 1

    assert fake_crontab.read_text() == table
    assert registry_path("u").exists()
    assert "nothing was changed" in capsys.readouterr().err
