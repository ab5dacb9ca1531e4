"""The JSONPath subset Globus flows use: ``$``, ``$.a.b``, ``$.a[0]``, ``$['a b']``, ``$.a[1:]``.

One parser for the validator (is this path well formed?), the simulator
(read and write the run state) and finding locations (format a path back).

A parsed path is a tuple of steps (:data:`Step`): a key (``str``), a list
index (``int``, negative counts from the end) or a :class:`Slice`.

Slices (``[start:end]``, ``[start:]``, ``[:end]``, ``[:]``, negative
bounds, and a step ``[start:end:step]``) follow Python's slicing rules,
which JSONPath (RFC 9535) and the Python JSONPath libraries share. Globus's
own example flows read slices (``"rest.$": "$.input.Hellos[1:]"``) and ASL
allows them wherever a path is *read*; the step is not shown in any Globus
source but is part of every JSONPath slice grammar, so it is accepted too
(a step of 0 is refused). Reading through a slice gives a list: the slice of
the list, and any steps after it apply to each element, elements they do not
match being left out (JSONPath's node-list rule: ``$.jobs[1:].id`` is the
ids of every job but the first).

A slice names several values, so it cannot be written to: a ResultPath must
be a *reference path* (keys and indexes only; :func:`parse_reference`).
Wildcards, filters and recursive descent are not part of what the service
documents, so they are rejected rather than half-supported.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_INT = r"\s*(-?\d+)?\s*"
_BRACKET = re.compile(r"""\[\s*(?:(-?\d+)|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*\]""")
_SLICE = re.compile(rf"\[{_INT}:{_INT}(?::{_INT})?\]")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Slice:
    """A slice step, ``[start:end:step]``; None is an omitted bound.

    >>> Slice(1).select([1, 2, 3])
    [2, 3]
    >>> str(Slice(None, -1))
    '[:-1]'
    """

    start: int | None = None
    end: int | None = None
    step: int | None = None

    def __post_init__(self) -> None:
        if self.step == 0:
            raise JSONPathError("a slice step cannot be 0")

    def select(self, items: list[Any]) -> list[Any]:
        """The elements of ``items`` this slice selects (Python's rules)."""
        return items[self.start : self.end : self.step]

    def __str__(self) -> str:
        bounds = ("" if b is None else str(b) for b in (self.start, self.end))
        text = ":".join(bounds)
        return f"[{text}{'' if self.step is None else f':{self.step}'}]"


Token = str | int
"""A location step: a key into an object or an index into a list.

Every place in a JSON document is a sequence of tokens; finding locations
and ResultPaths use only these.
"""

Step = str | int | Slice
"""A step of a parsed JSONPath: a :data:`Token` or a :class:`Slice`."""


class JSONPathError(ValueError):
    """A string is not a JSONPath of the supported subset."""


class PathNotFound(LookupError):
    """A well-formed path names nothing in the document."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def parse(path: str) -> tuple[Step, ...]:
    """Parse a JSONPath into its steps.

    >>> parse("$.input.source.path")
    ('input', 'source', 'path')
    >>> parse("$.ls.details.DATA[0].name")
    ('ls', 'details', 'DATA', 0, 'name')
    >>> parse("$.input.Hellos[1:]")
    ('input', 'Hellos', Slice(start=1, end=None, step=None))
    >>> parse("$")
    ()
    """
    if not isinstance(path, str) or not path.startswith("$"):
        raise JSONPathError(f"a JSONPath must start with '$', got {path!r}")
    return _parse_steps(path, 1)


def parse_reference(path: str) -> tuple[Token, ...]:
    """Parse a path that must name exactly one place (a ResultPath): no slices.

    >>> parse_reference("$.Result.items[0]")
    ('Result', 'items', 0)
    >>> parse_reference("$.items[1:]")
    Traceback (most recent call last):
    ...
    flowgen.core.jsonpath.JSONPathError: '$.items[1:]' contains the slice [1:], ...
    """
    return reference_steps(parse(path), path)


def reference_steps(steps: Sequence[Step], path: str | None = None) -> tuple[Token, ...]:
    """``steps`` as location tokens; :class:`JSONPathError` when one is a slice."""
    for step in steps:
        if isinstance(step, Slice):
            shown = path if path is not None else format_path(steps)
            raise JSONPathError(
                f"{shown!r} contains the slice {step}, which selects several values and "
                "so names no single place to write; give a path to one place, such as "
                f"{format_path(_without_slices(steps))!r}"
            )
    return tuple(step for step in steps if not isinstance(step, Slice))


def parse_dotted(ref: str) -> tuple[Step, ...]:
    """Parse the dotted form ``is_present``/``getattr`` take (``a.b[0]``, no ``$.``)."""
    if not ref or ref.startswith(("$", ".", "[")):
        raise JSONPathError(f"expected a dotted reference such as 'a.b[0]', got {ref!r}")
    return _parse_steps("." + ref, 0)


def _parse_steps(path: str, pos: int) -> tuple[Step, ...]:
    steps: list[Step] = []
    while pos < len(path):
        char = path[pos]
        if char == ".":
            pos = _parse_key(path, pos, steps)
        elif char == "[":
            pos = _parse_bracket(path, pos, steps)
        else:
            raise JSONPathError(f"unexpected {char!r} at position {pos} in {path!r}")
    return tuple(steps)


def _parse_key(path: str, pos: int, steps: list[Step]) -> int:
    end = pos + 1
    while end < len(path) and path[end] not in ".[":
        end += 1
    key = path[pos + 1 : end]
    if not key:
        raise JSONPathError(f"empty key at position {pos + 1} in {path!r}")
    if any(c.isspace() or c in "'\"()]" for c in key):
        raise JSONPathError(
            f"key {key!r} in {path!r} needs the bracket form ['...'] "
            "(spaces, quotes and brackets cannot follow a dot)"
        )
    if key in ("*", "..") or "*" in key or "?" in key:
        raise JSONPathError(f"wildcards are not supported in {path!r}")
    steps.append(key)
    return end


def _parse_bracket(path: str, pos: int, steps: list[Step]) -> int:
    match = _BRACKET.match(path, pos)
    if match:
        index, single, double = match.groups()
        if index is not None:
            steps.append(int(index))
        else:
            raw = single if single is not None else double
            steps.append(re.sub(r"\\(.)", r"\1", raw))
        return match.end()
    sliced = _SLICE.match(path, pos)
    if sliced:
        start, end, step = (None if g is None else int(g) for g in sliced.groups())
        if step == 0:
            raise JSONPathError(f"the slice at position {pos} in {path!r} has a step of 0")
        steps.append(Slice(start, end, step))
        return sliced.end()
    raise JSONPathError(
        f"unsupported bracket at position {pos} in {path!r} "
        "(use [n], ['key'] or a slice such as [1:]; wildcards and filters are not supported)"
    )


def is_valid(path: object, *, reference: bool = False) -> bool:
    """Whether ``path`` is a string in the supported JSONPath subset.

    ``reference=True`` also refuses slices, as a ResultPath must.
    """
    if not isinstance(path, str):
        return False
    try:
        parse_reference(path) if reference else parse(path)
    except JSONPathError:
        return False
    return True


def format_path(steps: Sequence[Step]) -> str:
    """Format steps back into a JSONPath (``$.States['Upload data'].Next``)."""
    out = ["$"]
    for step in steps:
        if isinstance(step, int | Slice):
            out.append(f"[{step}]" if isinstance(step, int) else str(step))
        elif _IDENTIFIER.match(step):
            out.append(f".{step}")
        else:
            escaped = step.replace("\\", "\\\\").replace("'", "\\'")
            out.append(f"['{escaped}']")
    return "".join(out)


_MISSING = object()


def _child(node: Any, step: Token) -> Any:
    """``node[step]`` when it exists, else ``_MISSING`` (keys of objects, indexes of lists)."""
    if isinstance(step, int):
        if isinstance(node, list) and -len(node) <= step < len(node):
            return node[step]
        return _MISSING
    if isinstance(node, dict):
        return node.get(step, _MISSING)
    return _MISSING


def get(document: Any, path: str | Sequence[Step]) -> Any:
    """The value at ``path`` in ``document``; :class:`PathNotFound` when absent.

    A path through a slice gives a list (see the module docstring); it is
    absent only when the value the first slice applies to is not a list.
    """
    steps = parse(path) if isinstance(path, str) else path
    node = document
    for i, step in enumerate(steps):
        if isinstance(step, Slice):
            if not isinstance(node, list):
                raise PathNotFound(_text(path))
            return _select_all(step.select(node), steps[i + 1 :])
        node = _child(node, step)
        if node is _MISSING:
            raise PathNotFound(_text(path))
    return node


def _select_all(nodes: list[Any], steps: Sequence[Step]) -> list[Any]:
    for step in steps:
        selected: list[Any] = []
        for node in nodes:
            if isinstance(step, Slice):
                if isinstance(node, list):
                    selected.extend(step.select(node))
                continue
            child = _child(node, step)
            if child is not _MISSING:
                selected.append(child)
        nodes = selected
    return nodes


def exists(document: Any, path: str | Sequence[Step]) -> bool:
    """Whether ``path`` names a value in ``document``."""
    try:
        get(document, path)
    except PathNotFound:
        return False
    return True


def put(document: Any, path: str | Sequence[Token], value: Any) -> Any:
    """Return a copy of ``document`` with ``value`` written at ``path``.

    Intermediate objects are created as needed and whatever was at the
    location is replaced; ``$`` replaces the whole document. Writing through
    a list index that does not exist, or through a value that is neither an
    object nor a list, raises :class:`PathNotFound`; a path with a slice
    raises :class:`JSONPathError` (it names no single place).
    """
    steps = parse_reference(path) if isinstance(path, str) else reference_steps(path)
    if not steps:
        return copy.deepcopy(value)
    root = copy.deepcopy(document) if isinstance(document, dict | list) else {}
    node: Any = root
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        if isinstance(step, int):
            if not isinstance(node, list) or not -len(node) <= step < len(node):
                raise PathNotFound(_text(path))
        elif not isinstance(node, dict):
            raise PathNotFound(_text(path))
        if last:
            node[step] = copy.deepcopy(value)
        else:
            child = node[step] if isinstance(step, int) else node.get(step)
            if not isinstance(child, dict | list):
                node[step] = {}
            node = node[step]
    return root


def _without_slices(steps: Sequence[Step]) -> list[Step]:
    return [step for step in steps if not isinstance(step, Slice)]


def _text(path: str | Sequence[Step]) -> str:
    return path if isinstance(path, str) else format_path(path)
