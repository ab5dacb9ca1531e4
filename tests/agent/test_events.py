"""The event-name catalogue, docs/agent.md's table and the source agree, both ways."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpc_agent.loop.eventlog import LEVELS, EventLog
from hpc_agent.loop.events import EVENTS

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "hpc_agent"
DOC = ROOT / "docs" / "agent.md"


def test_catalogue_is_well_formed() -> None:
    for name, event in EVENTS.items():
        assert event.name == name
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", name), name
        assert event.levels and set(event.levels) <= set(LEVELS), name
        assert event.meaning and "|" not in event.meaning, name


def test_doc_table_matches_the_catalogue() -> None:
    section = DOC.read_text().split("\n## Event names\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| ([a-z, ]+) \| (.+) \|$", section, re.MULTILINE)
    expected = [(e.name, ", ".join(e.levels), e.meaning) for e in EVENTS.values()]
    assert rows == expected, (
        "docs/agent.md's 'Event names' table differs from hpc_agent/loop/events.py; "
        "its rows should be:\n"
        + "\n".join(f"| `{n}` | {levels} | {meaning} |" for n, levels, meaning in expected)
    )


def test_event_log_refuses_a_name_not_in_the_catalogue(tmp_path: Path) -> None:
    log = EventLog(tmp_path, "proj")
    with pytest.raises(ValueError, match="not an event name"):
        log.write("no-such-event", "m")
    assert list(tmp_path.iterdir()) == []
    log.write("submitted", "m")


# ---- what the source writes -------------------------------------------------------


def _is_event_log_write(call: ast.Call) -> bool:
    """``log.write(...)``, ``self.log.write(...)``, ``agent.log.write(...)``, ``EventLog(...).write(...)``."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "write"):
        return False
    receiver = func.value
    if isinstance(receiver, ast.Name):
        return receiver.id == "log"
    if isinstance(receiver, ast.Attribute):
        return receiver.attr == "log"
    if isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Name):
        return receiver.func.id == "EventLog"
    return False


def _literals(node: ast.expr) -> list[str] | None:
    """The string(s) an argument can be: a literal, or either branch of ``a if c else b``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        body, orelse = _literals(node.body), _literals(node.orelse)
        return None if body is None or orelse is None else body + orelse
    return None


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(SOURCE.rglob("*.py")):
        yield path, ast.parse(path.read_text(), str(path))


def _calls_passing(function: str, parameter: str) -> Iterator[tuple[Path, int, ast.expr]]:
    """The argument given for ``parameter`` in every call of a function named ``function``."""
    for path, tree in _modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef) or node.name != function:
                continue
            params = [a.arg for a in node.args.args]
            position = params.index(parameter) - (1 if params[:1] in (["self"], ["cls"]) else 0)
            for _, other in _modules():
                for call in ast.walk(other):
                    if not isinstance(call, ast.Call):
                        continue
                    callee = call.func
                    name = (
                        callee.attr
                        if isinstance(callee, ast.Attribute)
                        else getattr(callee, "id", None)
                    )
                    if name != function:
                        continue
                    given = [k.value for k in call.keywords if k.arg == parameter]
                    if not given and len(call.args) > position:
                        given = [call.args[position]]
                    for arg in given:
                        yield path, call.lineno, arg


def _written_events() -> tuple[dict[str, set[str]], list[str]]:
    """Event name -> levels written with it, and the calls whose name cannot be read."""
    found: dict[str, set[str]] = {}
    unreadable: list[str] = []

    def note(names: list[str] | None, level: ast.expr | None, where: str) -> None:
        if names is None:
            unreadable.append(where)
            return
        levels = ["info"] if level is None else _literals(level)
        for name in names:
            found.setdefault(name, set()).update(levels or ["?"])

    for path, tree in _modules():
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for call in ast.walk(tree):
            if not (isinstance(call, ast.Call) and _is_event_log_write(call) and call.args):
                continue
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            level = next((k.value for k in call.keywords if k.arg == "level"), None)
            first = call.args[0]
            if isinstance(first, ast.Name):
                # Passed through a helper (``_stop(exc, "scheduler-error", ...)``):
                # read the names from the helper's callers.
                function = call
                while not isinstance(function, ast.FunctionDef) and function in parents:
                    function = parents[function]
                if not isinstance(function, ast.FunctionDef):
                    unreadable.append(where)
                    continue
                callers = list(_calls_passing(function.name, first.id))
                if not callers:
                    unreadable.append(where)
                for caller_path, line, arg in callers:
                    note(_literals(arg), level, f"{caller_path.relative_to(ROOT)}:{line}")
            elif (
                isinstance(first, ast.IfExp)
                and isinstance(level, ast.IfExp)
                and ast.dump(first.test) == ast.dump(level.test)
            ):
                # ``"notify-failed" if error else "notified"`` with a level chosen the same way.
                note(_literals(first.body), level.body, where)
                note(_literals(first.orelse), level.orelse, where)
            else:
                note(_literals(first), level, where)
    return found, unreadable


def test_every_event_name_in_the_source_is_in_the_catalogue() -> None:
    found, unreadable = _written_events()
    assert not unreadable, f"write event names as string literals: {unreadable}"
    assert len(found) > 30, "the scan no longer finds the agent's log calls"
    unlisted = sorted(set(found) - set(EVENTS))
    assert not unlisted, f"add these to hpc_agent/loop/events.py and docs/agent.md: {unlisted}"
    unused = sorted(set(EVENTS) - set(found))
    assert not unused, f"listed in hpc_agent/loop/events.py but never written: {unused}"
    wrong = {
        name: sorted(levels)
        for name, levels in found.items()
        if not levels <= set(EVENTS[name].levels)
    }
    assert not wrong, f"written at a level the catalogue does not list: {wrong}"
