"""The admission limits as settings: defaults, old files, setup's flags, doctor (issue 12)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hpc_agent.cli import main
from hpc_agent.config import (
    LIMIT_SETTINGS,
    ConfigError,
    InstanceConfig,
    from_mapping,
    load_instance,
)
from hpc_agent.loop.holds import Held, HeldList
from hpc_agent.loop.state import StateStore
from hpc_agent.site.doctor import limits_check
from hpc_agent.site.setup import parse_byte_limit

LOCAL = ["--executor", "local", "--schedule", "none"]


def test_a_file_without_limits_loads_unchanged_and_means_no_limit(tmp_path: Path) -> None:
    cfg = from_mapping({"name": "p42"}, base_dir=tmp_path, source="old.toml")
    assert all(getattr(cfg, key) == 0 for key in LIMIT_SETTINGS)


@pytest.mark.parametrize("key", LIMIT_SETTINGS)
def test_a_limit_must_be_a_whole_number_of_zero_or_more(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        from_mapping({"name": "p42", key: -1}, base_dir=tmp_path, source="f.toml")
    with pytest.raises(ConfigError, match=key):
        from_mapping({"name": "p42", key: "4"}, base_dir=tmp_path, source="f.toml")


def test_setup_takes_the_limits_as_flags_and_shows_them(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "project" / "fc"
    base.mkdir(parents=True)
    args = ["setup", "--base-dir", str(base), "--name", "p42", "--yes", *LOCAL]
    assert main(args) == 0
    assert "limits:   none: every ready upload is admitted at once" in capsys.readouterr().out
    flags = ["--max-running-per-user", "4", "--max-active-per-user", "8"]
    flags += ["--max-active", "100", "--max-uow-bytes-per-user", "500G"]
    assert main([*args, *flags]) == 0
    cfg = load_instance("p42")
    assert (cfg.max_running_per_user, cfg.max_active_per_user, cfg.max_active) == (4, 8, 100)
    assert cfg.max_uow_bytes_per_user == 500 * 1024**3
    out = capsys.readouterr().out
    assert "max_running_per_user = 4; max_active_per_user = 8; max_active = 100; " in out
    assert "max_uow_bytes_per_user = 536870912000 (500 GiB)" in out
    assert main(args) == 0, "a re-run without the flags keeps them"
    assert load_instance("p42").max_active == 100
    assert main([*args, "--max-active", "none"]) == 0
    assert load_instance("p42").max_active == 0
    assert main([*args, "--max-active", "lots"]) == 2
    assert "--max-active 'lots'" in capsys.readouterr().err


def test_byte_sizes() -> None:
    assert parse_byte_limit("1024") == 1024
    assert parse_byte_limit("2 TiB") == 2 * 1024**4
    assert parse_byte_limit("0") == 0
    for bad in ("many", "5X", "-3G"):
        with pytest.raises(ValueError):
            parse_byte_limit(bad)


def test_doctor_shows_the_limits_and_what_waits(cfg: InstanceConfig) -> None:
    check = limits_check(cfg)
    assert check.status == "OK" and check.message.startswith("none:")
    limited = dataclasses.replace(cfg, max_running_per_user=4)
    store = StateStore(cfg.base_dir)
    store.ensure()
    memory = HeldList(store.root)
    memory.entries["a"] = Held("max_running_per_user", "alice has 4 of 4 running", "alice", 1.0)
    memory.save()
    message = limits_check(limited).message
    assert message.startswith("max_running_per_user = 4; unlimited: max_active_per_user")
    assert message.endswith("1 upload(s) wait for a limit (`hpc-agent status`)")
