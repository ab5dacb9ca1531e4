"""Stage 2, Transfer action providers: current URLs and current parameter names.

Since 2025-01-22 only ``https://transfer.actions.globus.org/<op>`` exists;
the ``https://actions.globus.org/transfer/<op>`` providers are gone, with
their automate-era aliases ``https://actions.automate.globus.org/transfer/<op>``,
and the new ones take Transfer API field names. Flows copied from older
examples fail at run time with ``ActionUnableToRun``; this says what to
rename first. Other ``actions.automate.globus.org`` providers (hello_world,
notification...) live on at ``actions.globus.org``: a warning names the address.
"""

from __future__ import annotations

import difflib
import re

from flowgen.core.jsonpath import Token
from flowgen.validate.rules import Reporter
from flowgen.validate.shape import JSONObject, dicts, split_key, states_of

PROVIDER_BASE = "https://transfer.actions.globus.org/"

REQUIRED: dict[str, tuple[str, ...]] = {
    "transfer": ("source_endpoint", "destination_endpoint", "DATA"),
    "delete": ("endpoint", "DATA"),
    "ls": ("endpoint_id",),
    "stat": ("endpoint_id", "path"),
    "mkdir": ("endpoint_id", "path"),
    "collection_info": ("endpoint_id",),
    "manage_permission": ("operation", "endpoint_id"),
    "gcp/create_guest_collection": (),
    "gcsv5/create_guest_collection": (),
}
"""Each current operation and the parameters it cannot run without."""

# Old or wrong name -> current name (None: no replacement, with advice).
RENAMED: dict[str, dict[str, str | None]] = {
    "transfer": {
        "transfer_items": "DATA",
        "source_endpoint_id": "source_endpoint",
        "destination_endpoint_id": "destination_endpoint",
    },
    "delete": {"items": "DATA", "endpoint_id": "endpoint"},
    "ls": {"path_only": None, "endpoint": "endpoint_id"},
    "stat": {"endpoint": "endpoint_id"},
    "mkdir": {"endpoint": "endpoint_id"},
    "collection_info": {"endpoint": "endpoint_id"},
    "manage_permission": {"endpoint": "endpoint_id"},
}

_OP_RENAMES = {"set_permission": "manage_permission"}
HOSTED_BASE = "https://actions.globus.org/"
_RETIRED = re.compile(
    r"^https?://actions(?:\.automate)?\.globus\.org/transfer/([A-Za-z0-9_/]+?)/?$"
)
_AUTOMATE = re.compile(r"^https?://actions\.automate\.globus\.org/(.+?)/?$")
_CURRENT = re.compile(r"^https?://transfer\.actions\.globus\.org/([A-Za-z0-9_/]+?)/?$")
_ITEM_FIELDS = ("source_path", "destination_path")


def operation(url: str) -> str | None:
    """The operation a current Transfer provider URL names (``transfer``, ``ls``...)."""
    match = _CURRENT.match(url)
    return match.group(1) if match else None


def check_transfer(definition: object, report: Reporter) -> None:
    """Provider URLs of every Action and the parameters sent to Transfer providers."""
    for name, state in states_of(definition).items():
        if state.get("Type") != "Action":
            continue
        where: tuple[Token, ...] = ("States", name)
        url = state.get("ActionUrl")
        handler = state.get("Handler")
        if isinstance(handler, dict) and isinstance(handler.get("Url"), str):
            url, url_at = handler["Url"], (*where, "Handler", "Url")
        else:
            url_at = (*where, "ActionUrl")
        if not isinstance(url, str):
            continue
        retired = _RETIRED.match(url)
        if retired:
            op = retired.group(1)
            new = PROVIDER_BASE + _OP_RENAMES.get(op, op)
            renamed = f" ({op} was renamed {_OP_RENAMES[op]})" if op in _OP_RENAMES else ""
            report.add(
                "FG501",
                url_at,
                f"{url} was retired on 2025-01-22; use {new}{renamed} and the current "
                "parameter names",
            )
            op = _OP_RENAMES.get(op, op)
        elif automate := _AUTOMATE.match(url):
            report.add(
                "FG505",
                url_at,
                f"{url} is an automate-era address; use {HOSTED_BASE}{automate.group(1)}, "
                "where Globus documents this provider now",
            )
            continue
        else:
            current = operation(url)
            if current is None:
                continue
            op = current
            if op not in REQUIRED:
                close = difflib.get_close_matches(op, list(REQUIRED), n=1)
                hint = _OP_RENAMES.get(op) or (close[0] if close else None)
                report.add(
                    "FG504",
                    url_at,
                    f"{op!r} is not a known Transfer action provider"
                    + (f"; did you mean {PROVIDER_BASE}{hint}?" if hint else ""),
                )
                continue
        params = state.get("Parameters")
        if isinstance(params, dict):
            _check_parameters(op, params, (*where, "Parameters"), report)


def _check_parameters(op: str, params: JSONObject, at: tuple[Token, ...], report: Reporter) -> None:
    names = {split_key(key)[0]: key for key in params}
    renamed = RENAMED.get(op, {})
    for old, new in renamed.items():
        if old in names:
            report.add("FG502", (*at, names[old]), _rename_message(op, old, new))
    replaced = {new for old, new in renamed.items() if old in names}
    for required in REQUIRED.get(op, ()):
        if required not in names and required not in replaced:
            report.add(
                "FG503",
                at,
                f"the {op} provider needs the parameter {required!r} "
                f"(or {required + '.$'!r} to read it from the run state)",
            )
    data = params.get("DATA")
    if op == "transfer":
        for index, item in dicts(data):
            item_names = {split_key(key)[0] for key in item}
            for field in _ITEM_FIELDS:
                if field not in item_names:
                    report.add(
                        "FG503",
                        (*at, "DATA", index),
                        f"each transfer DATA item needs {field!r} (with source_path and "
                        'destination_path; add "recursive": true for a directory)',
                    )
    elif op == "delete" and isinstance(data, list):
        for index, item in enumerate(data):
            if isinstance(item, str):
                report.add(
                    "FG502",
                    (*at, "DATA", index),
                    f'delete DATA entries are objects, not paths: write {{"path": {item!r}}}',
                )


def _rename_message(op: str, old: str, new: str | None) -> str:
    if new is None:
        return (
            f"{old!r} belonged to the retired ls provider; remove it and check a single path "
            f"with {PROVIDER_BASE}stat instead"
        )
    if old == "items":
        return (
            "the delete provider takes 'DATA', a list of {\"path\": ...} objects, instead of "
            "'items'"
        )
    return f"the {op} provider takes {new!r}, not {old!r}; rename the parameter"
