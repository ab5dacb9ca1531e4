"""Web inputs: ``CreateWebInput`` asks people a question, ``AwaitWebInput`` waits for the answer.

What the service documents and its examples show (globus-flows.md §1.10,
``globus-flows-examples/web_input_examples``): ``CreateWebInput`` takes
Parameters describing a form (``InputType: "Selection"``, ``Context``,
``Options`` of ``{"Value", "Label", "Description"}``, ``RespondentUrns``)
and stores ``{"web_input_id": ...}`` at its ResultPath; ``AwaitWebInput``
takes ``{"web_input_id.$": ...}``, blocks until someone answers and stores
``{"response": <the chosen option's Value>, ...}``; an input nobody answers
ends in ``Flows.WebInputExpired``, which a Catch may route.

Nobody answers in a simulation, so the answers are given up front, per
AwaitWebInput state, in the order its visits use them
(:class:`WebInputAnswers`; ``flowgen simulate --web-input STATE=JSON``).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from flowgen.simulate.errors import WebInputError, runtime_failure

CREATE = "CreateWebInput"
AWAIT = "AwaitWebInput"
SELECTION = "selection"
RECORD = "web_inputs"
"""Key of ``RunResult.records`` listing every web input a run created."""

OPEN, ANSWERED, EXPIRED = "open", "answered", "expired"


@dataclass
class WebInput:
    """One web input: the question a ``CreateWebInput`` state asked, and what became of it.

    ``options`` holds the Values a Selection offers (None for other input
    types, whose answer may be any JSON value); ``parameters`` are the
    state's Parameters as the log shows them (private ones redacted).
    """

    web_input_id: str
    state_name: str
    input_type: str | None
    options: list[Any] | None
    parameters: Any
    created: str
    status: str = OPEN
    response: Any = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)

    def answer(self, value: Any, await_state: str) -> None:
        """Record ``value`` as the answer; :class:`WebInputError` when it is not an option."""
        if self.options is not None and not any(_same(value, o) for o in self.options):
            offered = ", ".join(_show(o) for o in self.options)
            raise WebInputError(
                f"the answer {_show(value)} for AwaitWebInput state {await_state!r} is not an "
                f"option of the web input that state {self.state_name!r} created; give one of "
                f"{offered} (for example --web-input {await_state}={_cli(self.options[0])})"
            )
        self.status, self.response = ANSWERED, value

    def result(self) -> dict[str, Any]:
        """What ``AwaitWebInput`` stores at its ResultPath once answered."""
        return {"web_input_id": self.web_input_id, "response": self.response}


def create(body: Any, shown: Any, state_name: str, web_input_id: str, now: str) -> WebInput:
    """The web input ``CreateWebInput`` state ``state_name`` makes from its evaluated Parameters.

    A Selection needs Options with a Value each, since an answer must be one
    of them; a state failure (``States.Runtime``) says what is missing.
    """
    if not isinstance(body, dict):
        raise runtime_failure(
            f"The Parameters of {CREATE} state '{state_name}' must give an object "
            f"(InputType, Context, Options, RespondentUrns), got {_show(body)}."
        )
    input_type = body.get("InputType")
    if input_type is not None and not isinstance(input_type, str):
        raise runtime_failure(
            f"InputType of {CREATE} state '{state_name}' must be a string such as 'Selection'."
        )
    options = None
    if isinstance(input_type, str) and input_type.lower() == SELECTION:
        options = _option_values(body.get("Options"), state_name)
    return WebInput(web_input_id, state_name, input_type, options, shown, now)


def _option_values(options: Any, state_name: str) -> list[Any]:
    if (
        not isinstance(options, list)
        or not options
        or not all(isinstance(o, dict) and "Value" in o for o in options)
    ):
        raise runtime_failure(
            f"The Selection of {CREATE} state '{state_name}' needs Options: a non-empty list "
            'of objects with a Value each, e.g. [{"Value": "approve", "Label": "Approve"}].'
        )
    return [o["Value"] for o in options]


def awaited_id(body: Any, state_name: str) -> str:
    """The ``web_input_id`` an ``AwaitWebInput`` state's evaluated Parameters name."""
    web_input_id = body.get("web_input_id") if isinstance(body, dict) else None
    if not isinstance(web_input_id, str):
        raise runtime_failure(
            f"{AWAIT} state '{state_name}' needs Parameters with a web_input_id, e.g. "
            '{"web_input_id.$": "$.web_input_info.web_input_id"} where the '
            f"{CREATE} state stored its result."
        )
    return web_input_id


class WebInputAnswers:
    """The answers given for each ``AwaitWebInput`` state, used in order, one per visit.

    ``answers`` maps a state name to its answers; every name must be an
    AwaitWebInput state of ``states`` (a definition's ``States``), so a typo
    is reported before the run instead of ending it in an expiry.
    """

    def __init__(
        self, answers: Mapping[str, Sequence[Any]] | None, states: Mapping[str, Any]
    ) -> None:
        awaiting = sorted(
            name
            for name, state in states.items()
            if isinstance(state, dict) and state.get("Type") == AWAIT
        )
        for name, values in (answers or {}).items():
            if isinstance(values, str | bytes) or not isinstance(values, Sequence):
                raise WebInputError(
                    f"web-input answers for {name!r} must be a list, one answer per visit "
                    f"(e.g. {{{name!r}: [{_show(values)}]}}), got {_show(values)}"
                )
            if name not in awaiting:
                known = (
                    f"its {AWAIT} states are {', '.join(map(repr, awaiting))}"
                    if awaiting
                    else f"it has no {AWAIT} state"
                )
                raise WebInputError(
                    f"web-input answer for {name!r}: the flow has no {AWAIT} state of that "
                    f"name ({known}); name the {AWAIT} state whose answer it is"
                )
        self._answers = {name: list(values) for name, values in (answers or {}).items()}

    def for_run(self) -> _RunAnswers:
        """A fresh queue of the answers for one run."""
        return _RunAnswers({name: deque(values) for name, values in self._answers.items()})


@dataclass
class _RunAnswers:
    queues: dict[str, deque[Any]]

    def take(self, state_name: str) -> tuple[bool, Any]:
        """``(True, answer)`` for the next unused answer of ``state_name``, else ``(False, None)``."""
        queue = self.queues.get(state_name)
        if not queue:
            return False, None
        return True, queue.popleft()


def _same(a: Any, b: Any) -> bool:
    # JSON equality: true is not 1, though Python says it is.
    return bool(a == b) and isinstance(a, bool) == isinstance(b, bool)


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _cli(value: Any) -> str:
    """How ``value`` is written after ``--web-input STATE=``: a word as it is, else JSON."""
    if isinstance(value, str) and value.isidentifier() and value not in ("true", "false", "null"):
        return value
    return f"'{_show(value)}'"
