"""Before a run with the HPC agent: can the flow's transfers reach the agent's instance at all?

``flowgen simulate --hpc-agent DIR`` ticks the agent over instance DIR while
the flow's Transfer actions work on the local directories the collections
map. When no mapping leads the flow's paths into DIR, the flow uploads where
the agent never looks and polls until its deadline (seven days of flow time,
thousands of states) without a hint. :func:`check_reach` says so at once.

"Reaches" means, in order:

1. the instance's base directory is inside (or is) the root of one of the
   collections;
2. when the flow names collections literally in its Transfer parameters (the
   FlowCron flow names its HPC collection so), one of *those* is such a
   collection;
3. when the flow names one base path (the directory it puts
   ``UploadedFiles/`` under, as the FlowCron flow's expressions do), that
   path on that collection is the instance's base directory.

Each failed condition is a :class:`~flowgen.core.errors.UsageError` saying which
``--collection`` would fix it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from flowgen.core.errors import UsageError
from flowgen.simulate.collections import Collection
from hpc_agent import protocol

COLLECTION_KEYS = frozenset({"endpoint_id", "endpoint", "source_endpoint", "destination_endpoint"})
"""The Transfer action parameters that name a collection."""

_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
# An absolute path right after a quote (an expression's string literal) or at
# the start of a value, followed by the upload directory: the base path.
_UPLOAD_DIR = re.compile(rf"""(?:^|['"])(/[^'"]*?)/{protocol.UPLOADED}/""")


@dataclass(frozen=True)
class FlowTargets:
    """What a definition says about where it writes.

    ``collections``: collection UUIDs written literally in Transfer
    parameters (lower case); ``base_paths``: collection paths it puts
    ``UploadedFiles/`` under.
    """

    collections: frozenset[str]
    base_paths: frozenset[str]


def flow_targets(definition: Mapping[str, Any]) -> FlowTargets:
    """Collect the literal collection ids and base paths of ``definition``."""
    collections: set[str] = set()
    base_paths: set[str] = set()
    for key, value in _items(definition.get("States", {})):
        if not isinstance(value, str):
            continue
        if key in COLLECTION_KEYS and _UUID.match(value):
            collections.add(value.lower())
        base_paths.update(match.group(1) for match in _UPLOAD_DIR.finditer(value))
    return FlowTargets(frozenset(collections), frozenset(base_paths))


def _items(node: Any) -> Iterator[tuple[str | None, Any]]:
    """Every ``(key, value)`` in a JSON tree; list items have the key None."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _items(value)
    elif isinstance(node, list):
        for value in node:
            yield None, value
            yield from _items(value)


def check_reach(
    instance_dir: Path, collections: Mapping[str, Collection], definition: Mapping[str, Any]
) -> None:
    """Raise :class:`UsageError` unless the flow's transfers can reach ``instance_dir``."""
    instance = Path(os.path.realpath(instance_dir))
    targets = flow_targets(definition)
    holding = {
        uuid.lower(): root
        for uuid, coll in collections.items()
        if _inside(instance, root := Path(os.path.realpath(coll.root)))
    }
    base = next(iter(targets.base_paths)) if len(targets.base_paths) == 1 else None
    hpc = ", ".join(sorted(targets.collections)) or "UUID"
    fix = _advice(instance, base, hpc if len(targets.collections) == 1 else "UUID")
    if not holding:
        raise UsageError(
            f"--hpc-agent {instance}: no --collection directory holds this agent instance, so "
            "the flow's uploads can never reach the agent (the run would poll until its "
            f"deadline). Map the flow's HPC collection ({hpc}) to the instance's directory "
            f"or one above it: {fix}"
        )
    if targets.collections:
        holding = {uuid: root for uuid, root in holding.items() if uuid in targets.collections}
        if not holding:
            raise UsageError(
                f"--hpc-agent {instance}: the flow's Transfer actions use collection {hpc}, but "
                "the --collection that holds the agent instance is another one, so the flow "
                f"uploads elsewhere. Map {hpc} to the instance's directory or one above it: {fix}"
            )
    if base is not None:
        _check_base_path(instance, base, holding)


def _check_base_path(instance: Path, base: str, holding: Mapping[str, Path]) -> None:
    seen = {uuid: _collection_path(instance, root) for uuid, root in holding.items()}
    if base.rstrip("/") in seen.values():
        return
    # The base path may lead there through a symlink (macOS's /tmp, a link in
    # the collection), which the simulated collection follows too.
    real = os.path.realpath(instance)
    if any(os.path.realpath(root / base.lstrip("/")) == real for root in holding.values()):
        return
    uuid, root = sorted(holding.items())[0]
    lands = root / base.lstrip("/")
    raise UsageError(
        f"--hpc-agent {instance}: the flow uploads into {base}/{protocol.UPLOADED}/ on "
        f"collection {uuid}, which is {lands} here, not the agent instance; "
        f"{_advice(instance, base, uuid)}"
    )


def _advice(instance: Path, base: str | None, uuid: str) -> str:
    """Which ``--collection`` (or which base path) makes the flow's base path the instance."""
    if base is None:
        return f"e.g. --collection {uuid}={instance.parent}"
    root = _root_for(instance, base)
    if root is not None:
        return f"use --collection {uuid}={root} so that {base} is the instance"
    return (
        f"no collection root turns {base} into {instance}: build the flow with the instance's "
        f"path as its collection sees it as base_path (e.g. {instance} with --collection "
        f"{uuid}=/)"
    )


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _collection_path(instance: Path, root: Path) -> str:
    """The instance's directory as the collection rooted at ``root`` names it."""
    relative = instance.relative_to(root).as_posix()
    return "/" if relative == "." else "/" + relative


def _root_for(instance: Path, base: str) -> str | None:
    """The collection root under which ``base`` is the instance (None when there is none)."""
    parts = PurePosixPath(base).parts[1:]
    if not parts:
        return str(instance)
    if len(parts) >= len(instance.parts) or instance.parts[-len(parts) :] != parts:
        return None
    return str(Path(*instance.parts[: -len(parts)]))
