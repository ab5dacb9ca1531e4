"""Shared pytest fixtures. Each block belongs to the module it serves; add new blocks below."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from flowgen.cli import _register, app
from tests.slurmbed import SlurmCluster, require_slurm

# ---------------------------------------------------------------------------
# Real Slurm test bed (tests/slurmbed.py): marked tests use these fixtures.
# ---------------------------------------------------------------------------


def _cluster(prefix: str, *, accounting: bool) -> Iterator[SlurmCluster]:
    require_slurm(accounting=accounting)
    # Not tmp_path_factory: pytest prunes old base directories, and sessions run
    # side by side on one machine could delete a live cluster's files.
    root = Path(tempfile.mkdtemp(prefix=prefix))
    cluster = SlurmCluster(root, accounting=accounting)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """A private Slurm cluster with accounting (slurmdbd + MariaDB), one per session.

    ``.account``/``.qos`` name an account and QoS the current user may use.
    """
    yield from _cluster("fc-slurm-acct-", accounting=True)


@pytest.fixture(scope="session")
def slurm_cluster_noacct() -> Iterator[SlurmCluster]:
    """A private Slurm cluster without accounting (sacct disabled), one per session."""
    yield from _cluster("fc-slurm-noacct-", accounting=False)


@pytest.fixture
def slurm_env(slurm_cluster: SlurmCluster, monkeypatch: pytest.MonkeyPatch) -> SlurmCluster:
    """Point Slurm's client commands at :func:`slurm_cluster` for one test."""
    for key, value in slurm_cluster.env.items():
        monkeypatch.setenv(key, value)
    return slurm_cluster


@pytest.fixture
def slurm_env_noacct(
    slurm_cluster_noacct: SlurmCluster, monkeypatch: pytest.MonkeyPatch
) -> SlurmCluster:
    """Point Slurm's client commands at :func:`slurm_cluster_noacct` for one test."""
    for key, value in slurm_cluster_noacct.env.items():
        monkeypatch.setenv(key, value)
    return slurm_cluster_noacct


# ---------------------------------------------------------------------------
# End of the Slurm test bed block.
# ---------------------------------------------------------------------------


# ---- flowgen command line (shared by tests/cli, tests/deploy, ...) -------------


@pytest.fixture(scope="session")
def flowgen_app() -> typer.Typer:
    """The ``flowgen`` app with every command module registered, as ``main()`` does for --help."""
    _register()
    return app


@pytest.fixture
def runner() -> CliRunner:
    """A CliRunner; stdout and stderr are available separately on the result."""
    return CliRunner()
