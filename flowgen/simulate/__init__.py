"""Run any Globus flow locally: ``simulate()`` and the :class:`Simulator` behind it.

Collections are local directories, the Transfer action providers are
simulated on them, time is virtual by default, and hooks let outside actors
(the HPC agent, a test) act as time passes::

    from flowgen.simulate import simulate
    result = simulate(definition, {"src": "/~/data/"}, collections={SRC: tmp / "laptop"})
    assert result.status == "SUCCEEDED"
    print(result.to_json())
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flowgen.simulate.clock import Hook, PeriodicHook, RealClock, VirtualClock
from flowgen.simulate.collections import Collection, CollectionMap
from flowgen.simulate.engine import Simulator
from flowgen.simulate.errors import DefinitionError, FlowInputError, WebInputError
from flowgen.simulate.options import SimulatorOptions
from flowgen.simulate.providers import TRANSFER_BASE
from flowgen.simulate.providers.base import (
    ActionContext,
    ActionStatus,
    ActionUnableToRun,
    Provider,
    ProviderLike,
)
from flowgen.simulate.rundoc import LogEntry, RunResult, RunStats

__all__ = [
    "TRANSFER_BASE",
    "ActionContext",
    "ActionStatus",
    "ActionUnableToRun",
    "Collection",
    "CollectionMap",
    "DefinitionError",
    "FlowInputError",
    "Hook",
    "LogEntry",
    "PeriodicHook",
    "Provider",
    "ProviderLike",
    "RealClock",
    "RunResult",
    "RunStats",
    "Simulator",
    "SimulatorOptions",
    "VirtualClock",
    "WebInputError",
    "simulate",
]


def simulate(
    definition: dict[str, Any],
    run_input: dict[str, Any],
    *,
    collections: Mapping[str, Path | Collection],
    input_schema: dict[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    options: SimulatorOptions | None = None,
    hooks: Sequence[Hook] = (),
    providers: Mapping[str, ProviderLike] | None = None,
    web_inputs: Mapping[str, Sequence[Any]] | None = None,
) -> RunResult:
    """Run ``definition`` once with ``run_input`` and return the result.

    ``web_inputs`` maps each ``AwaitWebInput`` state to its answers, one per
    visit (``{"AwaitResponse": ["approve"]}``).

    Raises :class:`DefinitionError` when the definition cannot run,
    :class:`FlowInputError` when ``run_input`` fails ``input_schema`` and
    :class:`WebInputError` when a web-input answer does not fit the flow; a
    flow that fails at run time is not an exception but a FAILED result.
    """
    simulator = Simulator(
        definition,
        collections=collections,
        input_schema=input_schema,
        context=context,
        options=options,
        hooks=hooks,
        providers=providers,
        web_inputs=web_inputs,
    )
    return simulator.run(run_input)
