"""Simulated action providers: the plugin API and the local Transfer actions."""

from __future__ import annotations

from flowgen.simulate.providers.base import (
    ActionContext,
    ActionStatus,
    ActionUnableToRun,
    Provider,
    ProviderLike,
    as_provider,
)
from flowgen.simulate.providers.endpoint import collection_info, manage_permission
from flowgen.simulate.providers.listing import ls, mkdir, stat
from flowgen.simulate.providers.transfer import DeleteProvider, TransferProvider

TRANSFER_BASE = "https://transfer.actions.globus.org/"

__all__ = [
    "TRANSFER_BASE",
    "ActionContext",
    "ActionStatus",
    "ActionUnableToRun",
    "Provider",
    "ProviderLike",
    "as_provider",
    "transfer_providers",
]


def transfer_providers() -> dict[str, Provider]:
    """Fresh local providers for every ``https://transfer.actions.globus.org/<op>``."""
    functions = {
        "stat": stat,
        "ls": ls,
        "mkdir": mkdir,
        "collection_info": collection_info,
        "manage_permission": manage_permission,
    }
    providers: dict[str, Provider] = {
        TRANSFER_BASE + name: as_provider(fn) for name, fn in functions.items()
    }
    providers[TRANSFER_BASE + "transfer"] = TransferProvider()
    providers[TRANSFER_BASE + "delete"] = DeleteProvider()
    return providers
