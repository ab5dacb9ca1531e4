"""A diff as Markdown for a pull request: changed states, roles and input-schema fields.

``flowgen diff --format markdown`` prints this, for a CI step summary or a
pull-request comment. The changes of :mod:`flowgen.review.diff` are grouped
by what a reviewer thinks in: states (added, removed, changed and how),
input-schema fields (added, removed, changed, now required or optional) and,
for ``--deployed``, the role lists and metadata the deploy plan compares.
Every name and value goes into a code span, escaped so that a ``|`` or a
backtick in it cannot break the table; the full one-line-per-change text
follows in a collapsed block.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flowgen.core.jsonpath import Token, format_path
from flowgen.review.diff import MISSING, Change, ChangeKind, Document, render_value

if TYPE_CHECKING:
    from flowgen.deploy.plan import FieldChange, Plan

MAX_VALUE = 80
"""Values longer than this are shortened in the tables (the full text is in the details block)."""

ROLE_NAMES: dict[str, str] = {
    "flow_starters": "starters",
    "flow_administrators": "administrators",
    "flow_viewers": "viewers",
    "run_managers": "run managers",
    "run_monitors": "run monitors",
}
"""The role lists of a flow (as the service names them) and what people call them."""


def code(text: str) -> str:
    """``text`` as an inline code span, whatever backticks it holds.

    The fence is one backtick longer than the longest run inside, and a
    space pads text that starts or ends with a backtick (CommonMark strips
    one such space from each side).

    >>> code("Wait")
    '`Wait`'
    >>> code("a`b")
    '``a`b``'
    """
    text = " ".join(text.splitlines())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def cell(text: str) -> str:
    r"""``text`` made safe for one table cell: ``|`` escaped, even inside code spans.

    >>> cell("`a|b`")
    '`a\\|b`'
    """
    return text.replace("|", "\\|")


def flows_markdown(
    changes: Sequence[Change], *, old: str, new: str, notes: Sequence[str] = ()
) -> str:
    """The diff of flow ``old`` and flow ``new`` (as the user named them) for a pull request."""
    title = f"### Flow diff: {code(old)} → {code(new)}"
    quoted = [f"> {note}" for note in notes]
    if not changes:
        return "\n\n".join([title, "No changes: the flows are identical.", *quoted]) + "\n"
    return _document(title, changes, (), {}, quoted)


def drift_markdown(plan: Plan, config: str) -> str:
    """How the flow deployed from ``config`` differs from its local build, for a pull request."""
    flow = f"[{code(plan.flow_id or '')}](https://app.globus.org/flows/{plan.flow_id})"
    title = f"### Deployed flow {flow} → {code(config)}"
    if plan.is_empty:
        return f"{title}\n\nNo changes: the deployed flow matches {code(config)}.\n"
    return _document(title, plan.flow_changes, plan.field_changes, plan.desired.names, ())


def _document(
    title: str,
    changes: Sequence[Change],
    fields: Sequence[FieldChange],
    names: Mapping[str, str],
    notes: Sequence[str],
) -> str:
    states, flow = _definition_rows(changes)
    schema = _schema_rows(changes)
    roles = sorted((f for f in fields if f.field in ROLE_NAMES), key=_role_order)
    metadata = [f for f in fields if f.field not in ROLE_NAMES]
    summary = [
        _tally("state", states),
        _tally("input-schema field", schema),
        _count(len(flow), "other definition change"),
        _count(len(roles), "role list"),
        _count(len(metadata), "flow setting"),
    ]
    blocks = [title, "**Changed:** " + "; ".join(p for p in summary if p) + ".", *notes]
    blocks += _table("States", ("state", "change", "what changed"), states)
    blocks += _table("Definition", ("field", "change", "what changed"), flow)
    blocks += _table("Input schema fields", ("field", "change", "what changed"), schema)
    blocks += _table("Roles", ("role", "added", "removed"), [_role_row(f, names) for f in roles])
    blocks += _table(
        "Flow settings",
        ("setting", "deployed", "local"),
        [[code(f.field), _value(f.old), _value(f.new)] for f in metadata],
    )
    blocks.append(_details([*(str(c) for c in changes), *(f.render(names) for f in fields)]))
    return "\n\n".join(blocks) + "\n"


def _tally(noun: str, rows: list[list[str]]) -> str:
    """``2 states (1 added, 1 changed)``: rows counted by their change column."""
    if not rows:
        return ""
    verbs = [row[1] for row in rows]
    counts = [f"{verbs.count(v)} {v}" for v in ("added", "removed", "changed") if v in verbs]
    return f"{_count(len(rows), noun)} ({', '.join(counts)})"


def _count(n: int, noun: str) -> str:
    if not n:
        return ""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _table(heading: str, columns: tuple[str, ...], rows: list[list[str]]) -> list[str]:
    if not rows:
        return []
    lines = [
        f"| {' | '.join(columns)} |",
        f"|{'|'.join(' --- ' for _ in columns)}|",
        *(f"| {' | '.join(cell(c) for c in row)} |" for row in rows),
    ]
    return [f"#### {heading}", "\n".join(lines)]


def _details(lines: list[str]) -> str:
    body = "\n".join(lines)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    summary = f"All changes ({len(lines)}), one per line"
    return f"<details><summary>{summary}</summary>\n\n{fence}\n{body}\n{fence}\n\n</details>"


def _value(value: Any) -> str:
    if value is MISSING:
        return ""
    text = render_value(value)
    if len(text) > MAX_VALUE:
        text = text[: MAX_VALUE - 1] + "…"
    return code(text)


def _relative(steps: Sequence[Token]) -> str:
    path = format_path(steps)
    return path[2:] if path.startswith("$.") else path[1:]


def _detail(change: Change, steps: Sequence[Token]) -> str:
    """What one change did, named by its path below the state or field."""
    where = f"{code(_relative(steps))}: " if steps else ""
    kind = change.kind
    if kind is ChangeKind.FIELD_ADDED:
        return f"{where}added {_value(change.new)}"
    if kind is ChangeKind.FIELD_REMOVED:
        return f"{where}removed (was {_value(change.old)})"
    if kind is ChangeKind.ORDER_CHANGED:
        return f"{where}reordered {_value(change.old)} → {_value(change.new)}"
    return f"{where}{_value(change.old)} → {_value(change.new)}"


def _type_of(document: Any) -> str:
    kind = document.get("Type", document.get("type")) if isinstance(document, dict) else None
    if kind is None:
        return ""
    return f"type {code(kind) if isinstance(kind, str) else _value(kind)}"


# ---- states -------------------------------------------------------------------------


def _definition_rows(changes: Sequence[Change]) -> tuple[list[list[str]], list[list[str]]]:
    """One row per state that changed, and one per change outside the states."""
    other: list[list[str]] = []
    by_state: dict[str, list[Change]] = {}
    for change in changes:
        if change.document is not Document.DEFINITION:
            continue
        steps = change.steps
        if len(steps) >= 2 and steps[0] == "States" and isinstance(steps[1], str):
            by_state.setdefault(steps[1], []).append(change)
        else:
            other.append([code(_relative(steps)), _verb(change), _detail(change, ())])
    states: list[list[str]] = []
    for name, group in by_state.items():
        first = group[0]
        if first.kind is ChangeKind.STATE_ADDED:
            states.append([code(name), "added", _type_of(first.new)])
        elif first.kind is ChangeKind.STATE_REMOVED:
            states.append([code(name), "removed", _type_of(first.old)])
        else:
            details = [_detail(c, c.steps[2:]) for c in group]
            states.append([code(name), "changed", "<br>".join(details)])
    return states, other


def _verb(change: Change) -> str:
    if change.kind is ChangeKind.FIELD_ADDED:
        return "added"
    if change.kind is ChangeKind.FIELD_REMOVED:
        return "removed"
    return "changed"


# ---- input schema -------------------------------------------------------------------


@dataclass
class _Field:
    """What happened to one input-schema property (``source.path`` for a nested one)."""

    verb: str = "changed"
    details: list[str] = field(default_factory=list)
    required: set[bool] = field(default_factory=set)


def _split_field(steps: Sequence[Token]) -> tuple[tuple[str, ...], tuple[Token, ...]]:
    """The property names a schema path goes through, and the rest of the path."""
    names: list[str] = []
    index = 0
    while (
        index + 1 < len(steps)
        and steps[index] == "properties"
        and isinstance(steps[index + 1], str)
    ):
        names.append(str(steps[index + 1]))
        index += 2
    return tuple(names), tuple(steps[index:])


def _schema_rows(changes: Sequence[Change]) -> list[list[str]]:
    """One row per input-schema property that changed, or whose ``required`` changed."""
    fields: dict[tuple[str, ...], _Field] = {}
    was_required: dict[tuple[str, ...], list[Any]] = {}
    is_required: dict[tuple[str, ...], list[Any]] = {}
    for change in changes:
        if change.document is not Document.INPUT_SCHEMA:
            continue
        names, rest = _split_field(change.steps)
        if rest[:1] == ("required",) and len(rest) <= 2:
            # A JSON Schema's required items are unique, so the items at the
            # indexes that changed tell what was added and removed.
            was_required.setdefault(names, []).extend(_items(change.old))
            is_required.setdefault(names, []).extend(_items(change.new))
            continue
        entry = fields.setdefault(names, _Field())
        if not rest and names and change.kind is ChangeKind.FIELD_ADDED:
            entry.verb = "added"
            entry.details.append(_type_of(change.new))
        elif not rest and names and change.kind is ChangeKind.FIELD_REMOVED:
            entry.verb = "removed"
            entry.details.append(_type_of(change.old))
        else:
            entry.details.append(_detail(change, rest))
    for parent in set(was_required) | set(is_required):
        old = [str(v) for v in was_required.get(parent, [])]
        new = [str(v) for v in is_required.get(parent, [])]
        for name in sorted(set(new) - set(old)):
            fields.setdefault((*parent, name), _Field()).required.add(True)
        for name in sorted(set(old) - set(new)):
            fields.setdefault((*parent, name), _Field()).required.add(False)
    rows = []
    for names, entry in sorted(fields.items()):
        details = [d for d in entry.details if d]
        if entry.required:
            details.append("now required" if True in entry.required else "now optional")
        label = code(".".join(names)) if names else "(schema)"
        rows.append([label, entry.verb, "<br>".join(details)])
    return rows


def _items(value: Any) -> Iterable[Any]:
    if value is MISSING:
        return []
    return value if isinstance(value, list) else [value]


# ---- roles --------------------------------------------------------------------------


def _role_order(change: FieldChange) -> int:
    return list(ROLE_NAMES).index(change.field)


def _role_row(change: FieldChange, names: Mapping[str, str]) -> list[str]:
    def entry(value: Any) -> str:
        label = names.get(value) if isinstance(value, str) else None
        return f"{code(str(value))} ({label})" if label else code(str(value))

    old = change.old if isinstance(change.old, list) else []
    new = change.new if isinstance(change.new, list) else []
    added = [entry(v) for v in new if v not in old]
    removed = [entry(v) for v in old if v not in new]
    role = f"{ROLE_NAMES[change.field]} ({code(change.field)})"
    return [role, "<br>".join(added), "<br>".join(removed)]
