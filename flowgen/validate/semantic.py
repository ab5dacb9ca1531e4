"""Stage 2: every semantic check on a definition, run in one place.

Each check tolerates any malformed input (stage 1 has reported the shape
problems), so all of them always run and a broken definition still gets
every useful finding at once.
"""

from __future__ import annotations

from collections.abc import Callable

from flowgen.validate.choice import check_choices
from flowgen.validate.graph import check_graph
from flowgen.validate.loops import check_polling_loops
from flowgen.validate.parameters import check_parameters
from flowgen.validate.paths import check_paths
from flowgen.validate.placeholders import check_placeholders
from flowgen.validate.principals import check_role_keys
from flowgen.validate.rules import Reporter
from flowgen.validate.states import check_states
from flowgen.validate.transfer import check_transfer

CHECKS: tuple[Callable[[object, Reporter], None], ...] = (
    check_graph,
    check_polling_loops,
    check_states,
    check_choices,
    check_paths,
    check_parameters,
    check_transfer,
    check_placeholders,
    check_role_keys,
)
"""The stage-2 checks, each ``check(definition, report)``."""


def check_semantics(definition: object, report: Reporter) -> None:
    """Run every stage-2 check on ``definition``."""
    for check in CHECKS:
        check(definition, report)
