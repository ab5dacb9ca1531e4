"""Instance configuration: validation, the TOML round trip, and the registry."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hpc_agent.config import (
    CONFIG_FILE,
    ConfigError,
    InstanceConfig,
    load_instance,
    read_toml,
    registered_names,
    registry_path,
    save_instance,
    to_toml,
    toml_string,
    write_registry_entry,
)


def test_defaults_match_the_documented_ones(cfg: InstanceConfig) -> None:
    assert cfg.every_minutes == 5
    assert cfg.soft_delete_days == cfg.hard_delete_days == 30
    assert cfg.max_uow_bytes == 2 * 1024**4
    assert (cfg.executor, cfg.schedule, cfg.account_qos_policy) == ("slurm", "cron", "force")
    assert cfg.path("CodeToRun/slurm") == cfg.base_dir / "CodeToRun" / "slurm"


def test_round_trip_through_toml(cfg: InstanceConfig) -> None:
    changed = replace(cfg, every_minutes=15, timestamp=True, qos=None, max_uow_bytes=123)
    save_instance(changed)
    assert load_instance(changed.base_dir) == changed
    text = (changed.base_dir / CONFIG_FILE).read_text()
    assert "\nqos =" not in text  # None is "not set", not an empty string
    assert "timestamp = true" in text


def test_the_run_policy_is_saved_and_an_older_file_without_it_means_both(
    cfg: InstanceConfig,
) -> None:
    assert cfg.run_policy == "both"
    save_instance(replace(cfg, run_policy="functions"))
    assert 'run_policy = "functions"' in (cfg.base_dir / CONFIG_FILE).read_text()
    assert load_instance(cfg.base_dir).run_policy == "functions"
    older = [
        line
        for line in (cfg.base_dir / CONFIG_FILE).read_text().splitlines()
        if not line.startswith("run_policy")
    ]
    (cfg.base_dir / CONFIG_FILE).write_text("\n".join(older) + "\n")
    assert load_instance(cfg.base_dir).run_policy == "both"
    (cfg.base_dir / CONFIG_FILE).write_text("\n".join([*older, 'run_policy = "some"']) + "\n")
    with pytest.raises(
        ConfigError, match="run_policy: 'some' is not one of both, scripts, functions"
    ):
        load_instance(cfg.base_dir)


def test_every_bad_field_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        InstanceConfig(
            name="bad name",
            base_dir=Path("relative"),
            account="has space",
            every_minutes=0,
            executor="pbs",
            timestamp="yes",  # type: ignore[arg-type]
        )
    message = str(info.value)
    for field in ("name:", "base_dir:", "account:", "every_minutes:", "executor:", "timestamp:"):
        assert field in message


def test_bad_file_names_the_file_and_the_field(cfg: InstanceConfig) -> None:
    path = cfg.base_dir / CONFIG_FILE
    path.write_text('name = "proj"\nevery_minutes = "often"\n')
    with pytest.raises(ConfigError, match=rf"{path}: every_minutes: expected a whole number"):
        load_instance(cfg.base_dir)
    path.write_text('name = "proj"\nevery_minute = 5\n')
    with pytest.raises(ConfigError, match="unknown setting\\(s\\) every_minute"):
        load_instance(cfg.base_dir)
    path.write_text("name = proj\n")
    with pytest.raises(ConfigError, match=rf"{path}: not valid TOML"):
        load_instance(cfg.base_dir)


def test_missing_instance_says_how_to_create_one(tmp_path: Path, home: Path) -> None:
    with pytest.raises(ConfigError, match="run `hpc-agent setup"):
        load_instance(tmp_path)
    with pytest.raises(ConfigError, match="no instance named 'ghost'"):
        load_instance("ghost")


def test_a_config_file_with_an_invalid_name_says_what_to_use(cfg: InstanceConfig) -> None:
    path = cfg.base_dir / CONFIG_FILE
    path.write_text('name = "cryo em"\n')
    with pytest.raises(ConfigError) as info:
        load_instance(cfg.base_dir)
    assert str(info.value) == (
        f"{path}: name: 'cryo em' contains ' '; use 1 to 64 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit and not ending with '.' (e.g. cryo.em-lab)"
    )


def test_an_invalid_name_is_neither_a_directory_nor_an_instance(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        ConfigError,
        match=r"'-x' is neither a directory nor a valid instance name "
        r"\(it starts with '-'; use 1 to 64",
    ):
        load_instance("-x")


def test_registered_names_skip_files_that_are_not_instance_names(home: Path) -> None:
    directory = home / ".config" / "flowcron"
    directory.mkdir(parents=True)
    # Setup's crontab backups live here too; only <valid name>.toml is an instance.
    for file_name in (
        "cryo.em-lab.toml",
        "p42.toml",
        "lab..toml",
        "-x.toml",
        "notes.txt",
        "crontab.backup-20260101T000000",
    ):
        (directory / file_name).write_text("")
    assert registered_names() == ["cryo.em-lab", "p42"]


def test_registry_name_resolves_to_base(cfg: InstanceConfig, home: Path) -> None:
    save_instance(cfg)
    entry = write_registry_entry(cfg)
    assert entry == home / ".config" / "flowcron" / "proj.toml"
    assert load_instance("proj") == cfg


def test_registry_respects_xdg_config_home(
    cfg: InstanceConfig, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert registry_path("proj") == tmp_path / "xdg" / "flowcron" / "proj.toml"


def test_registry_pointing_at_a_renamed_instance_is_reported(
    cfg: InstanceConfig, home: Path
) -> None:
    write_registry_entry(cfg)
    save_instance(replace(cfg, name="other"))
    with pytest.raises(ConfigError, match="named 'other'"):
        load_instance("proj")


def test_toml_strings_escape_what_toml_requires(tmp_path: Path) -> None:
    tricky = 'a "quoted" \\ path\nwith\ttabs and \x01'
    path = tmp_path / "t.toml"
    path.write_text(f"v = {toml_string(tricky)}\n")
    assert read_toml(path)["v"] == tricky


def test_toml_text_is_deterministic(cfg: InstanceConfig) -> None:
    assert to_toml(cfg) == to_toml(replace(cfg))
    assert to_toml(cfg).splitlines()[2] == 'name = "proj"'
