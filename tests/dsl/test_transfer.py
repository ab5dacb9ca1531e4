"""The Transfer action-provider helpers emit the current parameter names only."""

import json

import pytest

from flowgen.dsl import DSLError, Expr, Ref
from flowgen.dsl import transfer as t

RETIRED = (
    "transfer_items",
    "source_endpoint_id",
    "destination_endpoint_id",
    "path_only",
    "https://actions.globus.org/",
)


def test_transfer_parameters() -> None:
    action = t.transfer(
        Ref("$.src"),
        "dst-uuid",
        [t.transfer_item(Ref("$.p"), "/d/", recursive=True)],
        label=Expr("'x'"),
        sync_level="mtime",
        verify_checksum=True,
        preserve_timestamp=True,
        result_path="$.T",
        next="N",
    )
    data = action.to_json()
    assert data["ActionUrl"] == "https://transfer.actions.globus.org/transfer"
    assert data["Parameters"] == {
        "source_endpoint.$": "$.src",
        "destination_endpoint": "dst-uuid",
        "label.=": "'x'",
        "sync_level": 2,
        "verify_checksum": True,
        "preserve_timestamp": True,
        "DATA": [{"source_path.$": "$.p", "destination_path": "/d/", "recursive": True}],
    }


@pytest.mark.parametrize(
    "action",
    [
        t.transfer("a", "b", [t.transfer_item("/x", "/y")], end=True),
        t.delete("a", ["/x/"], recursive=True, ignore_missing=True, end=True),
        t.mkdir("a", "/x/", end=True),
        t.stat("a", "/x", end=True),
        t.ls("a", "/x/", limit=10, filter="name:~*.txt", end=True),
        t.collection_info("a", end=True),
        t.manage_permission(
            "CREATE",
            "a",
            path="/x/",
            principal_type="group",
            principal="g",
            permissions="r",
            end=True,
        ),
    ],
)
def test_no_retired_names(action) -> None:
    text = json.dumps(action.to_json())
    assert not any(word in text for word in RETIRED)
    assert action.action_url.startswith("https://transfer.actions.globus.org/")


def test_delete_and_ls_shapes() -> None:
    assert t.delete("e", [Ref("$.p")], recursive=True, end=True).to_json()["Parameters"] == {
        "endpoint": "e",
        "recursive": True,
        "DATA": [{"path.$": "$.p"}],
    }
    assert t.ls("e", "/x/", offset=5, end=True).to_json()["Parameters"] == {
        "endpoint_id": "e",
        "path": "/x/",
        "offset": 5,
    }


def test_bad_helper_arguments() -> None:
    with pytest.raises(DSLError, match="at least one item"):
        t.transfer("a", "b", [], end=True)
    with pytest.raises(DSLError, match="sync_level"):
        t.transfer("a", "b", [t.transfer_item("/x", "/y")], sync_level="fast", end=True)  # type: ignore[arg-type]
    with pytest.raises(DSLError, match="needs rule_id"):
        t.manage_permission("DELETE", "a", end=True)
