"""The test bed's own promises: skip (or fail under CI) without Slurm, free distinct ports."""

from __future__ import annotations

import socket

import pytest

from tests import slurmbed


def test_without_slurm_tests_skip_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(slurmbed, "find_binary", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install slurm-wlm munge"):
        slurmbed.require_slurm(accounting=True)


def test_without_slurm_under_ci_tests_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slurmbed, "find_binary", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        slurmbed.require_slurm(accounting=False)


def test_missing_accounting_programs_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slurmbed, "find_binary", lambda name: None if name == "slurmdbd" else name)
    assert slurmbed.missing_binaries(accounting=True) == ["slurmdbd"]
    assert slurmbed.missing_binaries(accounting=False) == []


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = slurmbed.free_ports(4)
    assert len(set(ports)) == 4
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
