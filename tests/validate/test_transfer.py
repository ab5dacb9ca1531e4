"""Stage 2, Transfer action providers: URLs and parameter names."""

from __future__ import annotations

from typing import Any

import pytest

from flowgen.validate.transfer import REQUIRED, operation

from .helpers import action, check, codes, located, message, single

BASE = "https://transfer.actions.globus.org/"


def provider(op: str, parameters: dict[str, Any], url: str | None = None) -> dict[str, Any]:
    """A definition whose only state calls the Transfer provider ``op``."""
    return single(action(ActionUrl=url or BASE + op, Parameters=parameters))


TRANSFER = {
    "source_endpoint.$": "$.src.id",
    "destination_endpoint.$": "$.dst.id",
    "DATA": [{"source_path.$": "$.src.path", "destination_path": "/in/", "recursive": True}],
}


@pytest.mark.parametrize(
    ("op", "new"),
    [
        ("transfer", BASE + "transfer"),
        ("ls", BASE + "ls"),
        ("set_permission", BASE + "manage_permission"),
    ],
)
def test_retired_urls_name_their_replacement(op: str, new: str) -> None:
    findings = check(
        provider(op, {"endpoint_id": "x"}, url=f"https://actions.globus.org/transfer/{op}")
    )
    assert ("FG501", "$.States.Only.ActionUrl") in located(findings)
    assert new in message(findings, "FG501")


def test_set_permission_says_it_was_renamed() -> None:
    url = "https://actions.globus.org/transfer/set_permission"
    findings = check(provider("x", {"operation": "CREATE", "endpoint_id": "e"}, url=url))
    assert "renamed manage_permission" in message(findings, "FG501")


def test_current_url_is_not_retired() -> None:
    assert check(provider("transfer", TRANSFER)) == []


def test_retired_url_in_a_handler_is_found() -> None:
    state = action(ActionUrl=None)
    state.pop("ActionUrl")
    state["Handler"] = {"Type": "ActionProvider", "Url": "https://actions.globus.org/transfer/stat"}
    assert ("FG501", "$.States.Only.Handler.Url") in located(check(single(state)))


@pytest.mark.parametrize(
    ("op", "old", "new"),
    [
        ("transfer", "transfer_items", "DATA"),
        ("transfer", "source_endpoint_id", "source_endpoint"),
        ("transfer", "destination_endpoint_id", "destination_endpoint"),
        ("delete", "items", "DATA"),
        ("delete", "endpoint_id", "endpoint"),
        ("stat", "endpoint", "endpoint_id"),
        ("mkdir", "endpoint", "endpoint_id"),
    ],
)
def test_old_parameter_names_are_errors_with_the_new_name(op: str, old: str, new: str) -> None:
    parameters = {f"{key}.$": "$.x" for key in REQUIRED[op] if key != new}
    parameters[f"{old}.$"] = "$.x"
    findings = check(provider(op, parameters))
    assert located(findings) == {("FG502", f"$.States.Only.Parameters['{old}.$']")}
    assert repr(new) in message(findings, "FG502")
    fixed = {f"{key}.$": "$.x" for key in REQUIRED[op]}
    assert check(provider(op, fixed)) == []


def test_path_only_belongs_to_the_old_ls() -> None:
    findings = check(provider("ls", {"endpoint_id": "e", "path": "/", "path_only": True}))
    assert located(findings) == {("FG502", "$.States.Only.Parameters.path_only")}
    assert "/stat" in message(findings, "FG502")


def test_delete_data_entries_are_objects() -> None:
    findings = check(provider("delete", {"endpoint": "e", "DATA": ["/a", {"path": "/b"}]}))
    assert located(findings) == {("FG502", "$.States.Only.Parameters.DATA[0]")}
    assert check(provider("delete", {"endpoint": "e", "DATA": [{"path": "/a"}]})) == []


@pytest.mark.parametrize(
    ("op", "required"), [(op, r) for op, keys in REQUIRED.items() for r in keys]
)
def test_required_parameters(op: str, required: str) -> None:
    parameters = {key: "x" for key in REQUIRED[op] if key != required}
    findings = check(provider(op, parameters))
    assert ("FG503", "$.States.Only.Parameters") in located(findings)
    assert repr(required) in message(findings, "FG503")


def test_transfer_items_need_both_paths() -> None:
    parameters = dict(TRANSFER, DATA=[{"source_path": "/a"}])
    findings = check(provider("transfer", parameters))
    assert located(findings) == {("FG503", "$.States.Only.Parameters.DATA[0]")}
    assert "destination_path" in message(findings, "FG503")


def test_parameters_from_input_path_are_not_second_guessed() -> None:
    state = action(ActionUrl=BASE + "transfer", InputPath="$.request")
    state.pop("Parameters")
    assert check(single(state)) == []


def test_unknown_operation_is_a_warning_with_a_suggestion() -> None:
    findings = check(provider("transfr", TRANSFER))
    assert located(findings) == {("FG504", "$.States.Only.ActionUrl")}
    assert findings[0].severity.value == "warning"
    assert BASE + "transfer" in findings[0].message
    renamed = check(provider("set_permission", {"endpoint_id": "e"}))
    assert BASE + "manage_permission" in message(renamed, "FG504")


def test_other_providers_are_left_alone() -> None:
    state = provider("x", {"tasks": []}, url="https://compute.actions.globus.org/v3")
    assert "FG504" not in codes(check(state)) and "FG503" not in codes(check(state))


def test_operation_from_url() -> None:
    assert operation(BASE + "ls") == "ls"
    assert operation(BASE + "gcsv5/create_guest_collection") == "gcsv5/create_guest_collection"
    assert operation("https://actions.globus.org/transfer/ls") is None


AUTOMATE = "https://actions.automate.globus.org/transfer/"


@pytest.mark.parametrize(
    ("op", "new"),
    [
        ("transfer", BASE + "transfer"),
        ("delete", BASE + "delete"),
        ("ls", BASE + "ls"),
        ("mkdir", BASE + "mkdir"),
        ("set_permission", BASE + "manage_permission"),
    ],
)
def test_automate_era_transfer_urls_are_retired_too(op: str, new: str) -> None:
    findings = check(provider(op, {}, url=AUTOMATE + op))
    assert ("FG501", "$.States.Only.ActionUrl") in located(findings)
    assert findings[0].severity.value == "error"
    text = message(findings, "FG501")
    assert text.startswith(AUTOMATE + op) and f"use {new}" in text


def test_automate_era_transfer_takes_the_current_parameter_names() -> None:
    # The shape of the transfer in Globus automate-era examples.
    old = {
        "source_endpoint_id.$": "$.input.source.id",
        "destination_endpoint_id.$": "$.input.destination.id",
        "transfer_items": [{"source_path": "/a/", "destination_path": "/b/", "recursive": True}],
    }
    findings = check(provider("transfer", old, url=AUTOMATE + "transfer"))
    assert located(findings) == {
        ("FG501", "$.States.Only.ActionUrl"),
        ("FG502", "$.States.Only.Parameters['source_endpoint_id.$']"),
        ("FG502", "$.States.Only.Parameters['destination_endpoint_id.$']"),
        ("FG502", "$.States.Only.Parameters.transfer_items"),
    }
    deleted = check(
        provider("delete", {"endpoint_id": "e", "items": ["/a"]}, url=AUTOMATE + "delete")
    )
    assert {
        ("FG502", "$.States.Only.Parameters.endpoint_id"),
        ("FG502", "$.States.Only.Parameters.items"),
    } <= located(deleted)


def test_other_automate_era_urls_name_the_current_address() -> None:
    url = "https://actions.automate.globus.org/notification/notify"
    findings = check(provider("x", {"destination": "a@example.org"}, url=url))
    assert located(findings) == {("FG505", "$.States.Only.ActionUrl")}
    assert findings[0].severity.value == "warning"
    assert "https://actions.globus.org/notification/notify" in findings[0].message
    current = provider(
        "x", {"destination": "a@example.org"}, url="https://actions.globus.org/hello_world"
    )
    assert check(current) == []
