"""Atomic writes: whole old or whole new content, usual permissions, clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hpc_agent.fs import atomicio
from hpc_agent.fs.atomicio import write_text_atomic


def test_replaces_content_and_keeps_existing_permissions(tmp_path: Path) -> None:
    target = tmp_path / "record.json"
    write_text_atomic(target, "old")
    target.chmod(0o640)
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_new_files_get_umask_permissions_not_mkstemps_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "f", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644


def test_an_unwritable_place_is_reported_with_the_callers_path(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "out.json"
    with pytest.raises(OSError) as info:
        write_text_atomic(target, "x")
    assert info.value.filename == str(target)
    assert ".tmp" not in str(info.value)


def test_only_a_durable_write_waits_for_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The job wrapper and the job id after sbatch skip the fsync (each is repaired
    # after a crash); everything else keeps it.
    synced: list[int] = []
    monkeypatch.setattr(atomicio.os, "fsync", synced.append)
    target = tmp_path / "f"
    atomicio.write_bytes_atomic(target, b"one")
    assert len(synced) == 1
    atomicio.write_bytes_atomic(target, b"two", durable=False)
    assert len(synced) == 1 and target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["f"], "no temporary file left"
