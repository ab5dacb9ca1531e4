"""The cron block: installed, updated and removed without touching the user's other lines.

Most tests use ``fake_crontab``, a test double for the machine's ``crontab``
command that stores the table in a temporary file; one test uses the real
``crontab`` from the cron package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

import hpc_agent
from hpc_agent import protocol
from hpc_agent.config import InstanceConfig, save_instance
from hpc_agent.site import schedule
from hpc_agent.site.schedule import ScheduleError


def test_cron_spec_covers_even_intervals() -> None:
    assert schedule.cron_spec(1) == "* * * * *"
    assert schedule.cron_spec(5) == "*/5 * * * *"
    assert schedule.cron_spec(120) == "0 */2 * * *"
    assert schedule.cron_spec(1440) == "0 0 * * *"
    with pytest.raises(ScheduleError, match="divides 60"):
        schedule.cron_spec(7)


def test_install_keeps_other_lines_and_backs_up(
    cfg: InstanceConfig, fake_crontab: Path, home: Path
) -> None:
    other = "MAILTO=me@example.org\n0 3 * * * /usr/bin/backup --all\n"
    fake_crontab.write_text(other)
    backup = schedule.apply(schedule.plan_install(cfg))
    table = fake_crontab.read_text()
    assert table.startswith(other)
    assert "# BEGIN flowcron:proj\n" in table and table.endswith("# END flowcron:proj\n")
    assert backup is not None and backup.parent == home / ".config" / "flowcron"
    assert backup.read_text() == other
    # Installing again changes nothing; a new interval updates the block in place.
    assert not schedule.plan_install(cfg).changed
    schedule.apply(schedule.plan_install(replace(cfg, every_minutes=15)))
    table = fake_crontab.read_text()
    assert table.count("# BEGIN flowcron:proj") == 1 and "*/15 * * * *" in table
    schedule.apply(schedule.plan_remove(cfg))
    assert fake_crontab.read_text() == other


def test_two_instances_have_separate_blocks(
    cfg: InstanceConfig, fake_crontab: Path, home: Path, tmp_path: Path
) -> None:
    second = replace(cfg, name="proj2", base_dir=tmp_path)
    schedule.apply(schedule.plan_install(cfg))
    schedule.apply(schedule.plan_install(second))
    schedule.apply(schedule.plan_remove(cfg))
    assert schedule.show(cfg) is None
    block = schedule.show(second)
    assert block is not None and str(tmp_path) in block


def test_entry_uses_absolute_interpreter_path_and_logs(
    cfg: InstanceConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_CONF", "/etc/slurm/test.conf")
    block = schedule.render_block(cfg)
    assert schedule.block_interpreter(block) == sys.executable
    line = block.splitlines()[2]
    assert line.startswith("*/5 * * * * PATH=")
    assert "SLURM_CONF=/etc/slurm/test.conf" in line
    assert f"-m hpc_agent tick {cfg.base_dir}" in line
    assert f">> {cfg.base_dir}/Logs/cron.out 2>&1" in line
    sbatch = shutil.which("sbatch")
    if sbatch:
        assert f"PATH={Path(sbatch).parent}:" in line
    # This test runs from a checkout, so the entry must find the package there.
    assert f"PYTHONPATH={hpc_agent.package_parent()}" in line


def test_the_cron_command_runs_with_crons_empty_environment(cfg: InstanceConfig) -> None:
    cfg = replace(cfg, executor="local")
    for sub in protocol.INSTANCE_DIRS:
        cfg.path(sub).mkdir(parents=True, exist_ok=True)
    save_instance(cfg)
    command = schedule.command_line(cfg).replace(" tick ", " doctor ")
    result = subprocess.run(["/bin/sh", "-c", command], env={}, check=False, timeout=60)
    out = (cfg.path(protocol.LOGS) / "cron.out").read_text()
    assert "directories: all present" in out, out
    assert result.returncode in (0, 1)


def _as_cron_runs_it(command: str) -> str:
    """What cron hands to the shell: ``\\%`` becomes ``%``, an unescaped ``%`` ends the command."""
    out, escaped = [], False
    for char in command:
        if escaped:
            if char != "%":
                out.append("\\")
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            break
        else:
            out.append(char)
    return "".join(out)


def test_a_percent_sign_in_the_base_path_survives_cron(tmp_path: Path) -> None:
    # cron turns an unescaped % into a newline: the tick would silently never run.
    base = tmp_path / "50%_share"
    base.mkdir()
    cfg = InstanceConfig(name="pct", base_dir=base.resolve(), executor="local")
    for sub in protocol.INSTANCE_DIRS:
        cfg.path(sub).mkdir(parents=True, exist_ok=True)
    save_instance(cfg)
    entry = schedule.render_block(cfg).splitlines()[2]
    command = _as_cron_runs_it(entry.split(" ", 5)[5].replace(" tick ", " doctor "))
    subprocess.run(["/bin/sh", "-c", command], env={}, check=False, timeout=60)
    out = (cfg.path(protocol.LOGS) / "cron.out").read_text()
    assert "directories: all present" in out, out


def test_the_one_file_agent_is_recognised_under_any_name(tmp_path: Path) -> None:
    # `cp hpc-agent.pyz ~/bin/hpc-agent`: remove and uninstall must still find the base.
    archive = tmp_path / "bin" / "hpc-agent"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("__main__.py", "")
    base = tmp_path / "inst"
    for agent in (str(archive), str(tmp_path / "hpc-agent.pyz")):
        block = f"# BEGIN flowcron:p\n* * * * * /usr/bin/python3 {agent} tick {base} >> x 2>&1\n"
        assert schedule.block_base(block) == base
    text_file = tmp_path / "not-an-agent"
    text_file.write_text("#!/bin/sh\n")
    assert schedule.block_base(f"* * * * * {text_file} tick {base}\n") is None


def test_half_block_is_reported_not_guessed(cfg: InstanceConfig, fake_crontab: Path) -> None:
    fake_crontab.write_text("# BEGIN flowcron:proj\n* * * * * true\n")
    with pytest.raises(ScheduleError, match="no '# END flowcron:proj'"):
        schedule.plan_install(cfg)


def test_missing_crontab_command_says_what_to_do(
    cfg: InstanceConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ScheduleError, match="not installed or not on PATH"):
        schedule.show(cfg)


def test_schedule_none_has_no_table(cfg: InstanceConfig) -> None:
    with pytest.raises(ScheduleError, match="hpc-agent run --every"):
        schedule.plan_install(replace(cfg, schedule="none"))


@pytest.mark.skipif(shutil.which("crontab") is None, reason="install the cron package")
def test_real_crontab_round_trip(cfg: InstanceConfig, home: Path) -> None:
    """Uses the machine's real crontab (and cron spool); restores the previous table."""
    if os.environ.get("CI") != "true" and not os.access("/var/spool/cron/crontabs", os.W_OK):
        pytest.skip("the real crontab needs a writable cron spool (runs under CI)")
    cfg = replace(cfg, name="flowcron-selftest")
    before = schedule.read_table("crontab").text
    try:
        schedule.apply(schedule.plan_install(cfg))
        block = schedule.show(cfg)
        assert block is not None and f"tick {cfg.base_dir}" in block
        schedule.apply(schedule.plan_remove(cfg))
        assert schedule.show(cfg) is None
        assert schedule.read_table("crontab").text == before
    finally:
        if schedule.show(cfg) is not None:
            schedule.apply(schedule.plan_remove(cfg))
