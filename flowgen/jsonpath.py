"""The JSONPath subset Globus flows use: ``$``, ``$.a.b``, ``$.a[0]``, ``$['a b']``.

One parser for the validator (is this path well formed?), the simulator
(read and write the run state) and finding locations (format a path back).
Wildcards, filters, slices and recursive descent are not part of what the
service documents, so they are rejected rather than half-supported.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

Token = str | int
"""A path step: a key into an object or an index into a list."""

_BRACKET = re.compile(r"""\[\s*(?:(-?\d+)|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*\]""")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class JSONPathError(ValueError):
    """A string is not a JSONPath of the supported subset."""


class PathNotFound(LookupError):
    """A well-formed path names nothing in the document."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def parse(path: str) -> tuple[Token, ...]:
    """Parse a JSONPath into its steps.

    >>> parse("$.input.source.path")
    ('input', 'source', 'path')
    >>> parse("$.ls.details.DATA[0].name")
    ('ls', 'details', 'DATA', 0, 'name')
    >>> parse("$")
    ()
    """
    if not isinstance(path, str) or not path.startswith("$"):
        raise JSONPathError(f"a JSONPath must start with '$', got {path!r}")
    return _parse_steps(path, 1)


def parse_dotted(ref: str) -> tuple[Token, ...]:
    """Parse the dotted form ``is_present``/``getattr`` take (``a.b[0]``, no ``$.``)."""
    if not ref or ref.startswith(("$", ".", "[")):
        raise JSONPathError(f"expected a dotted reference such as 'a.b[0]', got {ref!r}")
    return _parse_steps("." + ref, 0)


def _parse_steps(path: str, pos: int) -> tuple[Token, ...]:
    steps: list[Token] = []
    while pos < len(path):
        char = path[pos]
        if char == ".":
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
            pos = end
        elif char == "[":
            match = _BRACKET.match(path, pos)
            if not match:
                raise JSONPathError(
                    f"unsupported bracket at position {pos} in {path!r} "
                    "(use [n] or ['key']; wildcards, slices and filters are not supported)"
                )
            index, single, double = match.groups()
            if index is not None:
                steps.append(int(index))
            else:
                raw = single if single is not None else double
                steps.append(re.sub(r"\\(.)", r"\1", raw))
            pos = match.end()
        else:
            raise JSONPathError(f"unexpected {char!r} at position {pos} in {path!r}")
    return tuple(steps)


def is_valid(path: object) -> bool:
    """Whether ``path`` is a string in the supported JSONPath subset."""
    if not isinstance(path, str):
        return False
    try:
        parse(path)
    except JSONPathError:
        return False
    return True


def format_path(steps: Sequence[Token]) -> str:
    """Format steps back into a JSONPath (``$.States['Upload data'].Next``)."""
    out = ["$"]
    for step in steps:
        if isinstance(step, int):
            out.append(f"[{step}]")
        elif _IDENTIFIER.match(step):
            out.append(f".{step}")
        else:
            escaped = step.replace("\\", "\\\\").replace("'", "\\'")
            out.append(f"['{escaped}']")
    return "".join(out)


def get(document: Any, path: str | Sequence[Token]) -> Any:
    """The value at ``path`` in ``document``; :class:`PathNotFound` when absent."""
    steps = parse(path) if isinstance(path, str) else tuple(path)
    node = document
    for step in steps:
        try:
            if isinstance(step, int):
                if not isinstance(node, list):
                    raise PathNotFound(_text(path))
                node = node[step]
            else:
                if not isinstance(node, dict):
                    raise PathNotFound(_text(path))
                node = node[step]
        except (KeyError, IndexError):
            raise PathNotFound(_text(path)) from None
    return node


def exists(document: Any, path: str | Sequence[Token]) -> bool:
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
    object nor a list, raises :class:`PathNotFound`.
    """
    steps = parse(path) if isinstance(path, str) else tuple(path)
    if not steps:
        return copy.deepcopy(value)
    root = copy.deepcopy(document) if isinstance(document, dict | list) else {}
    node: Any = root
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        if isinstance(step, int):
            if not isinstance(node, list) or not -len(node) <= step < len(node):
                raise PathNotFound(_text(path))
            if last:
                node[step] = copy.deepcopy(value)
            else:
                if not isinstance(node[step], dict | list):
                    node[step] = {}
                node = node[step]
        else:
            if not isinstance(node, dict):
                raise PathNotFound(_text(path))
            if last:
                node[step] = copy.deepcopy(value)
            else:
                if not isinstance(node.get(step), dict | list):
                    node[step] = {}
                node = node[step]
    return root


def _text(path: str | Sequence[Token]) -> str:
    return path if isinstance(path, str) else format_path(path)
