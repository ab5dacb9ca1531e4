"""Local directories standing in for Globus collections.

A collection UUID maps to a root directory; collection paths are absolute
POSIX paths inside that root, and ``/~/`` (or ``~/``, or a relative path)
is the collection's home directory. Mapping a collection to ``/`` makes
collection paths the real local paths (useful for an HPC agent instance).
No path may leave the root, neither with ``..`` nor through a symlink.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ENTITY_TYPE = "GCP_mapped_collection"
"""An unmanaged Globus Connect Personal collection, the most common laptop setup."""

SIMULATED_SUBSCRIPTION = "8e6f0b1c-5a2d-4c3e-9f7a-0b1c2d3e4f5a"
"""The subscription id ``collection_info`` reports for a managed simulated collection."""


@dataclass(frozen=True)
class CollectionKind:
    """What ``collection_info`` says a kind of collection is: entity type and subscription."""

    entity_type: str
    subscription_id: str | None


COLLECTION_KINDS: Mapping[str, CollectionKind] = {
    # Globus Connect Personal (a laptop), unmanaged: what every collection was before kinds.
    "personal": CollectionKind(DEFAULT_ENTITY_TYPE, None),
    # Globus Connect Server, on an endpoint without a subscription.
    "mapped": CollectionKind("GCSv5_mapped_collection", None),
    # Globus Connect Server on a subscription: the usual institutional storage.
    "managed": CollectionKind("GCSv5_mapped_collection", SIMULATED_SUBSCRIPTION),
    # A folder shared from a Globus Connect Personal collection.
    "guest": CollectionKind("GCP_guest_collection", None),
    # A Globus Connect Server guest collection; those exist only on subscribed endpoints.
    "managed-guest": CollectionKind("GCSv5_guest_collection", SIMULATED_SUBSCRIPTION),
}
"""The kinds ``--collection UUID=DIR:KIND`` names; ``personal`` is the default."""

DEFAULT_KIND = "personal"


class CollectionError(ValueError):
    """A collection is unknown or a path would leave its root."""


@dataclass(frozen=True)
class Collection:
    """One simulated collection.

    ``home`` is the collection path ``/~/`` stands for (default ``/``: the
    root itself, like a personal collection sharing a home directory).
    ``entity_type`` and ``subscription_id`` are what ``collection_info``
    reports, so flows that branch on a managed or guest collection can be
    exercised.
    """

    root: Path
    home: str = "/"
    display_name: str = ""
    entity_type: str = DEFAULT_ENTITY_TYPE
    subscription_id: str | None = None
    owner_string: str = "researcher@example.org"
    extra: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.home.startswith("/"):
            raise CollectionError(f"a collection home must be absolute, got {self.home!r}")

    @classmethod
    def of_kind(cls, root: Path, kind: str = DEFAULT_KIND) -> Collection:
        """A collection of one of :data:`COLLECTION_KINDS` rooted at ``root``."""
        if kind not in COLLECTION_KINDS:
            raise CollectionError(
                f"unknown collection kind {kind!r}; expected one of {', '.join(COLLECTION_KINDS)}"
            )
        spec = COLLECTION_KINDS[kind]
        return cls(root=root, entity_type=spec.entity_type, subscription_id=spec.subscription_id)


class CollectionMap:
    """Collections by UUID, and the one place collection paths become local paths."""

    def __init__(self, collections: Mapping[str, Path | Collection]) -> None:
        self._collections: dict[str, Collection] = {}
        self._real_roots: dict[str, str] = {}
        for uuid, value in collections.items():
            coll = value if isinstance(value, Collection) else Collection(root=Path(value))
            self._collections[uuid.lower()] = coll

    def __contains__(self, uuid: object) -> bool:
        return isinstance(uuid, str) and uuid.lower() in self._collections

    def ids(self) -> list[str]:
        """The collection UUIDs, sorted."""
        return sorted(self._collections)

    def get(self, uuid: object) -> Collection:
        """The collection for ``uuid``; :class:`CollectionError` when unknown."""
        if not isinstance(uuid, str) or uuid.lower() not in self._collections:
            known = ", ".join(self.ids()) or "none"
            raise CollectionError(
                f"collection {uuid!r} is not simulated (known collections: {known})"
            )
        return self._collections[uuid.lower()]

    def collection_path(self, uuid: str, path: object) -> str:
        """Normalise ``path`` to an absolute collection path (``/~/x`` -> ``<home>/x``)."""
        coll = self.get(uuid)
        if not isinstance(path, str) or not path:
            raise CollectionError(f"a path must be a non-empty string, got {path!r}")
        if path in ("~", "/~") or path.startswith(("~/", "/~/")):
            rest = path.split("~", 1)[1].lstrip("/")
            absolute = posixpath.join(coll.home, rest)
        elif path.startswith("/"):
            absolute = path
        else:
            absolute = posixpath.join(coll.home, path)
        # normpath would silently turn '/../x' into '/x'; check the parts first.
        depth = 0
        for part in absolute.split("/"):
            if part == "..":
                depth -= 1
                if depth < 0:
                    raise CollectionError(f"path {path!r} leaves the root of collection {uuid}")
            elif part not in ("", "."):
                depth += 1
        return posixpath.normpath(absolute).replace("//", "/")

    def local_path(self, uuid: str, path: object) -> Path:
        """The local file for a collection path; refuses paths that leave the root."""
        coll = self.get(uuid)
        absolute = self.collection_path(uuid, path)
        local = coll.root / absolute.lstrip("/")
        root_real = self._real_roots.get(uuid.lower())
        if root_real is None:
            root_real = self._real_roots[uuid.lower()] = os.path.realpath(coll.root)
        # Symlinks inside the tree could point outside it: compare real paths.
        real = os.path.realpath(local)
        if real != root_real and not real.startswith(root_real.rstrip(os.sep) + os.sep):
            raise CollectionError(f"path {path!r} leaves the root of collection {uuid}")
        return local
