"""Realistic flows in the styles Globus documents, run against temp-dir collections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flowgen.simulate import Collection, SimulatorOptions, simulate

from .support import HPC, LAPTOP, START, TRANSFER

FLOWS = Path(__file__).parent / "flows"
GUEST = "0f2cbb1e-7f3c-4c0a-9a57-3c3c3c3c3c3c"
FRIEND = "urn:globus:auth:identity:46bd0f56-e24f-11e5-a510-131bef46955c"


def load(name: str) -> dict[str, Any]:
    definition: dict[str, Any] = json.loads((FLOWS / f"{name}.json").read_text())
    return definition


def make_tree(root: Path) -> None:
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha")
    (root / "sub" / "b.dat").write_bytes(b"\x00" * 1000)


def test_simple_transfer_copies_a_tree_and_is_idempotent(laptop: Path, hpc: Path) -> None:
    make_tree(laptop / "data")
    run_input = {
        "source": {"id": LAPTOP, "path": "/~/data/"},
        "destination": {"id": HPC, "path": "/scratch/in/"},
        "transfer_label": "My data",
    }
    collections = {LAPTOP: laptop, HPC: hpc}
    first = simulate(load("simple_transfer"), run_input, collections=collections)
    assert first.status == "SUCCEEDED"
    assert (hpc / "scratch/in/a.txt").read_text() == "alpha"
    assert (hpc / "scratch/in/sub/b.dat").stat().st_size == 1000
    details = first.output["TransferResult"]["details"]
    assert details["label"] == "My data"
    assert (details["files_transferred"], details["bytes_transferred"]) == (2, 1005)
    assert details["bytes_checksummed"] == 1005
    # preserve_timestamp keeps the source's modification time
    assert int((hpc / "scratch/in/a.txt").stat().st_mtime) == int(
        (laptop / "data/a.txt").stat().st_mtime
    )
    again = simulate(load("simple_transfer"), run_input, collections=collections)
    assert again.output["TransferResult"]["details"]["files_skipped"] == 2  # sync_level 3
    assert first.stats.action_calls == {TRANSFER + "transfer": 1}


def test_move_copies_then_deletes_the_source(laptop: Path, hpc: Path) -> None:
    make_tree(laptop / "results")
    run_input = {
        "source": {"id": LAPTOP, "path": "/results"},
        "destination": {"id": HPC, "path": "/archive/"},
    }
    result = simulate(load("move"), run_input, collections={LAPTOP: laptop, HPC: hpc})
    assert result.status == "SUCCEEDED", result.cause
    assert (hpc / "archive/results/sub/b.dat").is_file()
    assert not (laptop / "results").exists()
    assert result.output["DeleteResult"]["details"]["type"] == "DELETE"


def test_move_of_a_missing_source_fails_cleanly(laptop: Path, hpc: Path) -> None:
    run_input = {"source": {"id": LAPTOP, "path": "/nope"}, "destination": {"id": HPC, "path": "/"}}
    result = simulate(load("move"), run_input, collections={LAPTOP: laptop, HPC: hpc})
    assert (result.status, result.error, result.failed_state) == (
        "FAILED",
        "SourceMissing",
        "SourceMissing",
    )
    assert list(hpc.iterdir()) == []


def test_two_hop_transfer_cleans_the_staging_area(laptop: Path, hpc: Path, tmp_path: Path) -> None:
    make_tree(laptop / "raw")
    final = tmp_path / "final"
    final.mkdir()
    run_input = {
        "source": {"id": LAPTOP, "path": "/raw/"},
        "intermediate": {"id": HPC, "path": "/staging/"},
        "destination": {"id": GUEST, "path": "/incoming/raw/"},
    }
    (hpc / "staging").mkdir()
    result = simulate(
        load("two_hop"),
        run_input,
        collections={LAPTOP: laptop, HPC: hpc, GUEST: final},
        context={"run_id": "run-7"},
    )
    assert result.status == "SUCCEEDED", result.cause
    assert (final / "incoming/raw/a.txt").read_text() == "alpha"
    assert (final / "incoming/raw/sub/b.dat").is_file()
    assert list((hpc / "staging").iterdir()) == []
    assert result.stats.action_calls[TRANSFER + "transfer"] == 2


def test_two_hop_failure_still_cleans_up_and_reports(
    laptop: Path, hpc: Path, tmp_path: Path
) -> None:
    make_tree(laptop / "raw")
    blocker = tmp_path / "final"
    blocker.mkdir()
    (blocker / "incoming").write_text("a file where a directory is needed")
    (hpc / "staging").mkdir()
    run_input = {
        "source": {"id": LAPTOP, "path": "/raw/"},
        "intermediate": {"id": HPC, "path": "/staging/"},
        "destination": {"id": GUEST, "path": "/incoming/raw/"},
    }
    result = simulate(
        load("two_hop"), run_input, collections={LAPTOP: laptop, HPC: hpc, GUEST: blocker}
    )
    assert (result.status, result.error) == ("FAILED", "SecondHopFailed")
    assert "NOT_A_DIRECTORY" in str(result.cause)
    assert list((hpc / "staging").iterdir()) == []
    assert (blocker / "incoming").read_text().startswith("a file")


def test_batched_move_loops_until_the_listing_is_empty(laptop: Path, hpc: Path) -> None:
    inbox = laptop / "inbox"
    inbox.mkdir()
    for i in range(7):
        (inbox / f"f{i}.txt").write_text(str(i))
    (inbox / "keep_dir").mkdir()
    run_input = {
        "source": {"id": LAPTOP, "path": "/inbox/"},
        "destination": {"id": HPC, "path": "/moved/"},
        "batch_size": 3,
    }
    result = simulate(load("batched_move"), run_input, collections={LAPTOP: laptop, HPC: hpc})
    assert result.status == "SUCCEEDED", result.cause
    assert sorted(p.name for p in (hpc / "moved").iterdir()) == [f"f{i}.txt" for i in range(7)]
    assert [p.name for p in inbox.iterdir()] == ["keep_dir"]
    assert result.output["FlowResult"] == {"batches": 3}
    assert result.stats.action_calls[TRANSFER + "ls"] == 4
    assert result.output["TransferResult"]["details"]["label"] == "Batch 3"


def test_transfer_and_share_records_the_access_rule(laptop: Path, tmp_path: Path) -> None:
    (laptop / "paper.pdf").write_bytes(b"%PDF-1.7")
    share_root = tmp_path / "guest"
    (share_root / "shared").mkdir(parents=True)
    guest = Collection(root=share_root, entity_type="GCSv5_guest_collection", subscription_id="s1")
    run_input = {
        "source": {"id": LAPTOP, "path": "/paper.pdf"},
        "destination": {"id": GUEST, "path": "/shared/"},
        "share_with": FRIEND,
    }
    result = simulate(
        load("transfer_and_share"),
        run_input,
        collections={LAPTOP: laptop, GUEST: guest},
        context={"run_id": "r1"},
    )
    assert result.status == "SUCCEEDED", result.cause
    assert (share_root / "shared/r1/paper.pdf").read_bytes() == b"%PDF-1.7"
    rules = result.records["acl_rules"]
    assert [(r.path, r.principal, r.permissions) for r in rules] == [("/shared/r1/", FRIEND, "r")]
    assert result.output["FlowResult"]["access_id"] == rules[0].access_id


def test_transfer_and_share_refuses_a_non_guest_collection(laptop: Path, hpc: Path) -> None:
    (laptop / "paper.pdf").write_bytes(b"x")
    run_input = {
        "source": {"id": LAPTOP, "path": "/paper.pdf"},
        "destination": {"id": HPC, "path": "/"},
        "share_with": FRIEND,
    }
    result = simulate(load("transfer_and_share"), run_input, collections={LAPTOP: laptop, HPC: hpc})
    assert (result.status, result.error) == ("FAILED", "NotAGuestCollection")
    assert "acl_rules" not in result.records


@pytest.mark.parametrize("mode", ["fail_fast", "realistic"])
def test_transfer_of_missing_source_modes(laptop: Path, hpc: Path, mode: Any) -> None:
    run_input = {
        "source": {"id": LAPTOP, "path": "/missing/"},
        "destination": {"id": HPC, "path": "/in/"},
    }
    options = SimulatorOptions(start_time=START, missing_transfer_source=mode)
    result = simulate(
        load("simple_transfer"), run_input, collections={LAPTOP: laptop, HPC: hpc}, options=options
    )
    assert result.status == "FAILED"
    if mode == "fail_fast":
        assert result.error == "ActionFailedException"
        assert "FILE_NOT_FOUND" in str(result.cause)
        assert result.stats.elapsed_seconds == 1
    else:
        assert result.error == "ActionTimeout"
        assert result.stats.elapsed_seconds == 3600
    assert not (hpc / "in").exists()
    assert list(laptop.iterdir()) == []
