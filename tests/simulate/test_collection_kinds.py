"""``--collection UUID=DIR:KIND``: what collection_info reports for each kind of collection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flowgen.cli import _register, app
from flowgen.cli import simulate as cli
from flowgen.simulate.collections import (
    COLLECTION_KINDS,
    SIMULATED_SUBSCRIPTION,
    Collection,
    CollectionError,
)

from .support import LAPTOP, action

_register()
ROOT = Path(__file__).resolve().parents[2]
FLOWCRON_HPC = "5e1d7a3c-0b8f-4d2a-9c61-3f0e2b7d4a10"
"""The HPC collection of flows/example.toml."""


def collection_info(tmp_path: Path, spec: str) -> dict[str, Any]:
    """Run a one-state collection_info flow on ``--collection spec``; the details it stored."""
    definition = {
        "StartAt": "Info",
        "States": {"Info": action("collection_info", {"endpoint_id": LAPTOP}, ResultPath="$.i")},
    }
    (tmp_path / "flow.json").write_text(json.dumps(definition))
    (tmp_path / "in.json").write_text("{}")
    argv = ["simulate", str(tmp_path / "flow.json"), "--input", str(tmp_path / "in.json")]
    result = CliRunner().invoke(app, [*argv, "--collection", spec, "--format", "json"])
    assert result.exit_code == 0, result.output
    details: dict[str, Any] = json.loads(result.stdout)["details"]["output"]["i"]["details"]
    return details


@pytest.mark.parametrize(
    ("suffix", "entity_type", "subscription"),
    [
        ("", "GCP_mapped_collection", None),
        (":personal", "GCP_mapped_collection", None),
        (":mapped", "GCSv5_mapped_collection", None),
        (":managed", "GCSv5_mapped_collection", SIMULATED_SUBSCRIPTION),
        (":guest", "GCP_guest_collection", None),
        (":managed-guest", "GCSv5_guest_collection", SIMULATED_SUBSCRIPTION),
    ],
)
def test_each_kind_reports_its_entity_type_and_subscription(
    tmp_path: Path, laptop: Path, suffix: str, entity_type: str, subscription: str | None
) -> None:
    details = collection_info(tmp_path, f"{LAPTOP}={laptop}{suffix}")
    assert (details["entity_type"], details["subscription_id"]) == (entity_type, subscription)
    assert details["is_globus_connect"] is entity_type.startswith("GCP")


def test_guest_and_server_collections_name_what_they_live_on(tmp_path: Path, laptop: Path) -> None:
    gcp_guest = collection_info(tmp_path, f"{LAPTOP}={laptop}:guest")
    assert gcp_guest["host_endpoint_id"] and gcp_guest["non_functional_endpoint_id"] is None
    gcs_guest = collection_info(tmp_path, f"{LAPTOP}={laptop}:managed-guest")
    assert gcs_guest["mapped_collection_id"] and gcs_guest["non_functional_endpoint_id"]
    assert gcs_guest["host_endpoint_id"] is None and gcs_guest["gcs_version"]
    personal = collection_info(tmp_path, f"{LAPTOP}={laptop}")
    assert [personal[k] for k in ("host_endpoint_id", "mapped_collection_id")] == [None, None]


@pytest.mark.parametrize(
    ("directory", "suffix", "entity_type"),
    [
        ("C:\\data", "", "GCP_mapped_collection"),
        ("C:\\data", ":managed", "GCSv5_mapped_collection"),
        ("a:b", "", "GCP_mapped_collection"),
        ("results:managed", ":personal", "GCP_mapped_collection"),
    ],
    ids=["windows-like", "windows-like-managed", "colon", "kind-like-name"],
)
def test_directories_with_colons_are_kept_whole(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    directory: str,
    suffix: str,
    entity_type: str,
) -> None:
    (tmp_path / directory).mkdir()
    monkeypatch.chdir(tmp_path)
    details = collection_info(tmp_path, f"{LAPTOP}={directory}{suffix}")
    assert details["entity_type"] == entity_type


def test_an_unknown_kind_is_named_in_the_error(tmp_path: Path, laptop: Path) -> None:
    (tmp_path / "in.json").write_text("{}")
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            str(ROOT / "flows/example.toml"),
            "--input",
            str(tmp_path / "in.json"),
            "--collection",
            f"{LAPTOP}={laptop}:managd",
        ],
    )
    assert result.exit_code == 2
    assert "managd is not an existing directory" in result.output
    assert "a kind after ':' must be one of personal (the default), mapped" in result.output


def test_the_help_text_names_every_kind() -> None:
    named = cli.KINDS_HELP.replace(" (the default)", "").replace(" or ", ", ").split(", ")
    assert named == list(COLLECTION_KINDS)


def test_the_flowcron_flow_checks_a_managed_source_from_the_command_line(
    tmp_path: Path, laptop: Path, hpc: Path
) -> None:
    # The FlowCron flow stats the source only on a managed (or GCP guest)
    # collection; with :managed a missing folder is reported before any upload.
    run_input = {"input": {"source": {"id": LAPTOP, "path": "/nothing/"}}}
    (tmp_path / "in.json").write_text(json.dumps(run_input))
    argv = [
        "simulate",
        str(ROOT / "flows/example.toml"),
        "--input",
        str(tmp_path / "in.json"),
        "--collection",
        f"{FLOWCRON_HPC}={hpc}",
        "--verbose",
    ]
    managed = CliRunner().invoke(app, [*argv, "--collection", f"{LAPTOP}={laptop}:managed"])
    assert managed.exit_code == 1
    assert "StatSource  (Action)" in managed.output
    assert ": SourceNotFound: " in managed.output
    personal = CliRunner().invoke(app, [*argv, "--collection", f"{LAPTOP}={laptop}"])
    assert "StatSource" not in personal.output


def test_an_unknown_kind_from_python_lists_the_kinds(laptop: Path) -> None:
    with pytest.raises(CollectionError, match="unknown collection kind 'shared'; expected one of"):
        Collection.of_kind(laptop, "shared")
