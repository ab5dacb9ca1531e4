"""The local Transfer action providers, one behaviour at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flowgen.simulate import Collection, RunResult, SimulatorOptions
from flowgen.simulate.collections import CollectionError, CollectionMap

from .support import HPC, LAPTOP, START, Runner, action


def one(run: Runner, op: str, params: dict[str, Any], **kwargs: Any) -> RunResult:
    return run({"A": action(op, params, ResultPath="$.r")}, **kwargs)


def test_collection_paths_resolve_home_and_refuse_escapes(tmp_path: Path) -> None:
    cmap = CollectionMap({LAPTOP: Collection(root=tmp_path, home="/home/me")})
    assert cmap.local_path(LAPTOP, "/~/data") == tmp_path / "home/me/data"
    assert cmap.local_path(LAPTOP, "~/x/") == tmp_path / "home/me/x"
    assert cmap.local_path(LAPTOP, "rel/y") == tmp_path / "home/me/rel/y"
    assert cmap.collection_path(LAPTOP, "/a/./b/../c/") == "/a/c"
    for bad in ("/../etc", "/a/../../etc", "~/../../../x"):
        with pytest.raises(CollectionError, match="leaves the root"):
            cmap.local_path(LAPTOP, bad)
    (tmp_path / "link").symlink_to("/etc")
    with pytest.raises(CollectionError, match="leaves the root"):
        cmap.local_path(LAPTOP, "/link/passwd")
    with pytest.raises(CollectionError, match="not simulated"):
        cmap.get("unknown")


def test_escaping_path_is_refused_before_anything_happens(run: Runner, hpc: Path) -> None:
    result = one(run, "mkdir", {"endpoint_id": HPC, "path": "/../outside"})
    assert result.error == "ActionUnableToRun"
    assert "leaves the root" in str(result.cause)
    assert not (hpc.parent / "outside").exists()


def test_stat_existing_and_missing(run: Runner, laptop: Path) -> None:
    (laptop / "d").mkdir()
    (laptop / "d" / "f.txt").write_text("12345")
    found = one(run, "stat", {"endpoint_id": LAPTOP, "path": "/d/f.txt"})
    doc = found.output["r"]["details"]
    assert (doc["DATA_TYPE"], doc["type"], doc["name"], doc["size"]) == ("file", "file", "f.txt", 5)
    assert len(doc["permissions"]) == 4
    assert doc["last_modified"].endswith("+00:00") and " " in doc["last_modified"]
    directory = one(run, "stat", {"endpoint_id": LAPTOP, "path": "/d/"})
    assert (directory.output["r"]["details"]["type"], directory.output["r"]["details"]["name"]) == (
        "dir",
        "d",
    )
    missing = one(run, "stat", {"endpoint_id": LAPTOP, "path": "/nope"})
    assert missing.output["r"]["status"] == "SUCCEEDED"
    assert missing.output["r"]["details"]["code"] == "NotFound"
    assert "type" not in missing.output["r"]["details"]


def test_mkdir_creates_then_reports_exists(run: Runner, hpc: Path) -> None:
    made = one(run, "mkdir", {"endpoint_id": HPC, "path": "/new/"})
    assert made.output["r"]["details"]["code"] == "DirectoryCreated"
    assert (hpc / "new").is_dir()
    again = run(
        {
            "A": action(
                "mkdir",
                {"endpoint_id": HPC, "path": "/new"},
                ResultPath="$.r",
                ExceptionOnActionFailure=False,
            )
        }
    )
    assert again.output["r"]["status"] == "FAILED"
    assert again.output["r"]["details"]["code"] == "ExternalError.MkdirFailed.Exists"
    raised = one(run, "mkdir", {"endpoint_id": HPC, "path": "/new"})
    assert raised.error == "ActionFailedException"
    orphan = one(run, "mkdir", {"endpoint_id": HPC, "path": "/no/parent"})
    assert orphan.error == "ActionFailedException"
    assert not (hpc / "no").exists()


@pytest.fixture
def listing_dir(laptop: Path) -> Path:
    d = laptop / "ls"
    d.mkdir()
    for name in ("b.txt", "a.txt", "c.csv", ".hidden.txt"):
        (d / name).write_text(name)
    (d / "sub").mkdir()
    return d


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({}, [".hidden.txt", "a.txt", "b.txt", "c.csv", "sub"]),
        ({"show_hidden": False}, ["a.txt", "b.txt", "c.csv", "sub"]),
        ({"filter": "name:~*.txt"}, [".hidden.txt", "a.txt", "b.txt"]),
        ({"filter": "name:!~*.txt"}, ["c.csv", "sub"]),
        ({"filter": "type:dir"}, ["sub"]),
        ({"filter": "type:file/name:~*.csv"}, ["c.csv"]),
        ({"filter": "name:a.txt"}, ["a.txt"]),
        ({"filter": "name:!a.txt/type:file"}, [".hidden.txt", "b.txt", "c.csv"]),
        ({"filter": ["name:a.txt", "type:dir"]}, ["a.txt", "sub"]),
        ({"limit": 2, "offset": 1}, ["a.txt", "b.txt"]),
        ({"orderby": "name DESC", "limit": 2}, ["sub", "c.csv"]),
    ],
)
def test_ls_options(
    run: Runner, listing_dir: Path, params: dict[str, Any], names: list[str]
) -> None:
    result = one(run, "ls", {"endpoint_id": LAPTOP, "path": "/ls", **params})
    details = result.output["r"]["details"]
    assert [e["name"] for e in details["DATA"]] == names
    assert details["path"] == "/ls/"
    assert details["length"] == len(names)


@pytest.mark.parametrize(("mode", "status"), [("failed", "FAILED"), ("not_found", "SUCCEEDED")])
def test_ls_of_missing_path_option(run: Runner, mode: Any, status: str) -> None:
    options = SimulatorOptions(start_time=START, ls_missing_path=mode)
    result = run(
        {
            "A": action(
                "ls",
                {"endpoint_id": LAPTOP, "path": "/gone"},
                ResultPath="$.r",
                ExceptionOnActionFailure=False,
            )
        },
        options=options,
    )
    assert result.output["r"]["status"] == status
    assert "NotFound" in result.output["r"]["details"]["code"]


def test_transfer_placement_rules(run: Runner, laptop: Path, hpc: Path) -> None:
    (laptop / "dir" / "inner").mkdir(parents=True)
    (laptop / "dir" / "inner" / "x").write_text("x")
    (laptop / "dir" / "link").symlink_to("inner/x")
    (laptop / "file.txt").write_text("f")
    params = {
        "source_endpoint": LAPTOP,
        "destination_endpoint": HPC,
        "DATA": [
            {"source_path": "/dir", "destination_path": "/deep/new/place", "recursive": True},
            {"source_path": "/file.txt", "destination_path": "/exact/name.dat"},
        ],
    }
    result = one(run, "transfer", params)
    assert result.status == "SUCCEEDED", result.cause
    assert (hpc / "deep/new/place/inner/x").read_text() == "x"  # contents, not the dir itself
    assert not (hpc / "deep/new/place/dir").exists()
    assert not (hpc / "deep/new/place/link").exists()  # symlinks are not created
    assert (hpc / "exact/name.dat").read_text() == "f"
    details = result.output["r"]["details"]
    assert (details["files"], details["symlinks"], details["status"]) == (2, 1, "SUCCEEDED")


@pytest.mark.parametrize(
    ("item", "fault"),
    [
        ({"source_path": "/dir", "destination_path": "/d", "recursive": False}, "IS_A_DIRECTORY"),
        ({"source_path": "/f", "destination_path": "/d", "recursive": True}, "NOT_A_DIRECTORY"),
        ({"source_path": "/f", "destination_path": "/existing_dir"}, "IS_A_DIRECTORY"),
    ],
)
def test_transfer_item_type_errors(
    run: Runner, laptop: Path, hpc: Path, item: dict[str, Any], fault: str
) -> None:
    (laptop / "dir").mkdir()
    (laptop / "f").write_text("f")
    (hpc / "existing_dir").mkdir()
    params = {"source_endpoint": LAPTOP, "destination_endpoint": HPC, "DATA": [item]}
    result = one(run, "transfer", params)
    assert result.error == "ActionFailedException"
    assert fault in str(result.cause)


@pytest.mark.parametrize(
    ("level", "changed", "transferred"),
    [(0, "same", 0), (1, "same", 0), (1, "size", 1), (2, "older", 0), (3, "content", 1)],
)
def test_transfer_sync_levels(
    run: Runner, laptop: Path, hpc: Path, level: int, changed: str, transferred: int
) -> None:
    import os

    (laptop / "f").write_text("abc")
    dest_text = {"same": "abc", "size": "abcd", "older": "abc", "content": "xyz"}[changed]
    (hpc / "f").write_text(dest_text)
    if changed == "older":
        os.utime(laptop / "f", (1_000_000, 1_000_000))
    params = {
        "source_endpoint": LAPTOP,
        "destination_endpoint": HPC,
        "sync_level": level,
        "DATA": [{"source_path": "/f", "destination_path": "/f"}],
    }
    result = one(run, "transfer", params)
    assert result.output["r"]["details"]["files_transferred"] == transferred
    assert (hpc / "f").read_text() == ("abc" if transferred else dest_text)


def test_transfer_refuses_bad_requests(run: Runner) -> None:
    no_data = one(run, "transfer", {"source_endpoint": LAPTOP, "destination_endpoint": HPC})
    assert (no_data.error, no_data.cause) == ("ActionUnableToRun", "Field 'DATA' is required")
    unknown = one(
        run,
        "transfer",
        {"source_endpoint": "nope", "destination_endpoint": HPC, "DATA": [{}]},
    )
    assert unknown.error == "ActionUnableToRun"
    assert "not one of the simulated collections" in str(unknown.cause)
    label = one(
        run,
        "transfer",
        {
            "source_endpoint": LAPTOP,
            "destination_endpoint": HPC,
            "label": "two\nlines",
            "DATA": [{"source_path": "/a", "destination_path": "/b"}],
        },
    )
    assert "label" in str(label.cause)


def test_delete_recursive_ignore_missing_and_protection(run: Runner, hpc: Path) -> None:
    (hpc / "job" / "out").mkdir(parents=True)
    (hpc / "job" / "out" / "r.txt").write_text("r")
    (hpc / "file").write_text("f")
    not_recursive = one(run, "delete", {"endpoint": HPC, "DATA": [{"path": "/job"}]})
    assert "IS_A_DIRECTORY" in str(not_recursive.cause)
    assert (hpc / "job").exists()
    missing = one(run, "delete", {"endpoint": HPC, "DATA": [{"path": "/gone"}]})
    assert "FILE_NOT_FOUND" in str(missing.cause)
    ok = one(
        run,
        "delete",
        {
            "endpoint": HPC,
            "recursive": True,
            "ignore_missing": True,
            "DATA": [{"path": "/job"}, {"path": "/file"}, {"path": "/gone"}],
        },
    )
    assert ok.status == "SUCCEEDED"
    assert list(hpc.iterdir()) == []
    assert ok.output["r"]["details"]["type"] == "DELETE"
    (hpc / "keep").write_text("k")
    root = one(run, "delete", {"endpoint": HPC, "recursive": True, "DATA": [{"path": "/"}]})
    assert "PERMISSION_DENIED" in str(root.cause)
    assert (hpc / "keep").exists()


def test_collection_info_default_and_configured(run: Runner, laptop: Path, hpc: Path) -> None:
    default = one(run, "collection_info", {"endpoint_id": LAPTOP})
    details = default.output["r"]["details"]
    assert (details["entity_type"], details["subscription_id"]) == ("GCP_mapped_collection", None)
    managed = Collection(root=hpc, entity_type="GCSv5_mapped_collection", subscription_id="sub-1")
    configured = one(
        run,
        "collection_info",
        {"endpoint_id": HPC},
        collections={LAPTOP: laptop, HPC: managed},
    )
    assert configured.output["r"]["details"]["subscription_id"] == "sub-1"


def test_manage_permission_create_update_delete(run: Runner) -> None:
    base = {"endpoint_id": HPC}
    flow = {
        "C": action(
            "manage_permission",
            {
                **base,
                "operation": "CREATE",
                "path": "/share/",
                "principal_type": "all_authenticated_users",
                "principal": "",
                "permissions": "r",
            },
            ResultPath="$.c",
            Next="U",
        ),
        "U": action(
            "manage_permission",
            {
                **base,
                "operation": "UPDATE",
                "rule_id.$": "$.c.details.access_id",
                "permissions": "rw",
            },
            ResultPath="$.u",
            Next="D",
        ),
        "D": action(
            "manage_permission",
            {**base, "operation": "DELETE", "rule_id.$": "$.c.details.access_id"},
            ResultPath="$.d",
            Next="D2",
        ),
        "D2": action(
            "manage_permission",
            {**base, "operation": "DELETE", "rule_id.$": "$.c.details.access_id"},
            ResultPath="$.d2",
            ExceptionOnActionFailure=False,
        ),
    }
    result = run(flow)
    assert result.status == "SUCCEEDED", result.cause
    (rule,) = result.records["acl_rules"]
    assert (rule.path, rule.permissions, rule.deleted) == ("/share/", "rw", True)
    assert result.output["d2"]["details"]["code"] == "AccessRuleNotFound"
    bad = one(
        run,
        "manage_permission",
        {
            **base,
            "operation": "CREATE",
            "path": "/",
            "principal_type": "identity",
            "permissions": "x",
        },
    )
    assert bad.error == "ActionUnableToRun"


def test_transfer_never_writes_through_a_destination_symlink_leaving_the_root(
    run: Runner, laptop: Path, hpc: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    (laptop / "uow" / "results").mkdir(parents=True)
    (laptop / "uow" / "results" / "new.txt").write_text("new")
    (laptop / "uow" / "precious.txt").write_text("overwritten")
    (hpc / "uow").mkdir()
    # Links left in the destination tree (by a job, say) point out of the collection.
    (hpc / "uow" / "results").symlink_to(outside)
    (hpc / "uow" / "precious.txt").symlink_to(outside / "precious.txt")
    params = {
        "source_endpoint": LAPTOP,
        "destination_endpoint": HPC,
        "DATA": [{"source_path": "/uow/", "destination_path": "/uow/", "recursive": True}],
    }
    result = one(run, "transfer", params)
    assert result.error == "ActionFailedException"
    assert "PERMISSION_DENIED" in str(result.cause)
    assert "/uow/" in str(result.cause) and str(hpc) not in str(result.cause)
    assert (outside / "precious.txt").read_text() == "keep me"
    assert not (outside / "new.txt").exists()


def test_transfer_of_a_directory_into_itself_fails_without_nesting_copies(
    run: Runner, laptop: Path
) -> None:
    (laptop / "uow" / "data").mkdir(parents=True)
    (laptop / "uow" / "data" / "x.csv").write_text("1")
    params = {
        "source_endpoint": LAPTOP,
        "destination_endpoint": LAPTOP,
        "DATA": [{"source_path": "/uow", "destination_path": "/uow/copy", "recursive": True}],
    }
    result = one(run, "transfer", params)
    assert result.error == "ActionFailedException"
    assert "INVALID_PATH" in str(result.cause) and "inside the source /uow" in str(result.cause)
    assert sorted(p.name for p in (laptop / "uow").iterdir()) == ["data"]


def test_deletes_remove_links_never_their_targets(
    run: Runner, laptop: Path, hpc: Path, tmp_path: Path
) -> None:
    (hpc / "target").mkdir()
    (hpc / "target" / "keep.txt").write_text("k")
    (laptop / "d").mkdir()
    (laptop / "d" / "wanted.txt").write_text("w")
    (hpc / "d").mkdir()
    (hpc / "d" / "extra.txt").write_text("x")
    (hpc / "d" / "extra_dir").mkdir()
    (hpc / "d" / "extra_link").symlink_to(hpc / "target")
    synced = one(
        run,
        "transfer",
        {
            "source_endpoint": LAPTOP,
            "destination_endpoint": HPC,
            "delete_destination_extra": True,
            "DATA": [{"source_path": "/d", "destination_path": "/d", "recursive": True}],
        },
    )
    assert synced.status == "SUCCEEDED", synced.cause
    assert sorted(p.name for p in (hpc / "d").iterdir()) == ["wanted.txt"]
    (hpc / "link").symlink_to("target")
    deleted = one(run, "delete", {"endpoint": HPC, "DATA": [{"path": "/link"}]})
    assert deleted.status == "SUCCEEDED", deleted.cause
    assert not (hpc / "link").is_symlink()
    assert (hpc / "target" / "keep.txt").read_text() == "k"
