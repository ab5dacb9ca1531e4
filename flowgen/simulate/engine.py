"""The flow engine: runs a definition state by state against simulated providers.

One :class:`Simulator` holds the collections, providers, clock and hooks; each
:meth:`Simulator.run` is one flow run. Failures inside states are
:class:`~flowgen.simulate.errors.StateFailure` objects named as the service
names them; an Action's ``Catch`` may route them, anything else ends the run
FAILED with the state name, the exception and the cause in the log.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from flowgen.core import jsonpath
from flowgen.core.definition import CATCHING_TYPES
from flowgen.simulate import choice, webinput
from flowgen.simulate.clock import Clock, Hook, RealClock, VirtualClock
from flowgen.simulate.collections import Collection, CollectionMap
from flowgen.simulate.errors import (
    ACTION_FAILED,
    ACTION_TIMEOUT,
    ACTION_UNABLE_TO_RUN,
    RUNTIME,
    STATE_LIMIT,
    WEB_INPUT_EXPIRED,
    StateFailure,
    WebInputError,
    runtime_failure,
)
from flowgen.simulate.evaluate import Scope, evaluate_parameters, parsed_path, redact_state
from flowgen.simulate.options import SimulatorOptions
from flowgen.simulate.providers import transfer_providers
from flowgen.simulate.providers.base import (
    ActionContext,
    ActionStatus,
    ActionUnableToRun,
    Provider,
    ProviderLike,
    as_provider,
    coerce_status,
    new_id,
    poll_of,
)
from flowgen.simulate.rundoc import FAILED, SUCCEEDED, LogEntry, RunResult, RunStats, timestamp
from flowgen.simulate.runinput import build_context, check_definition, validate_input

LogListener = Callable[[LogEntry], None]


class _End(Exception):
    """Internal: the run reached a terminal state."""

    def __init__(self, failure: StateFailure | None = None, state_name: str | None = None) -> None:
        super().__init__()
        self.failure = failure
        self.state_name = state_name


class Simulator:
    """Runs flow definitions locally.

    ``collections`` maps collection UUIDs to local roots (or
    :class:`~flowgen.simulate.collections.Collection` objects); ``providers``
    adds or replaces action providers by ActionUrl on top of the local
    Transfer ones; ``hooks`` are called as simulated time advances;
    ``on_log`` sees every log entry as it is written (for progress output);
    ``web_inputs`` gives the answers of each ``AwaitWebInput`` state, in the
    order its visits use them (:mod:`flowgen.simulate.webinput`).
    """

    def __init__(
        self,
        definition: dict[str, Any],
        *,
        collections: Mapping[str, Path | Collection] | CollectionMap,
        input_schema: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        options: SimulatorOptions | None = None,
        hooks: Sequence[Hook] = (),
        providers: Mapping[str, ProviderLike] | None = None,
        clock: Clock | None = None,
        on_log: LogListener | None = None,
        web_inputs: Mapping[str, Sequence[Any]] | None = None,
    ) -> None:
        check_definition(definition)
        self.answers = webinput.WebInputAnswers(web_inputs, definition["States"])
        self.definition = definition
        self.input_schema = input_schema
        self.options = options or SimulatorOptions()
        self.collections = (
            collections if isinstance(collections, CollectionMap) else CollectionMap(collections)
        )
        self.clock: Clock = clock or (
            RealClock(self.options.real_time_speed, self.options.start_time)
            if self.options.real_time_speed
            else VirtualClock(self.options.start_time)
        )
        for hook in hooks:
            self.clock.add_hook(hook)
        self.providers: dict[str, Provider] = transfer_providers()
        for url, provider in (providers or {}).items():
            self.providers[url] = as_provider(provider)
        self.context_overrides = dict(context or {})
        self.on_log = on_log
        self.records: dict[str, Any] = {}
        """What providers recorded across runs (``records["acl_rules"]``, ...)."""

    def run(self, run_input: Any) -> RunResult:
        """Validate ``run_input`` against the input schema, then run the flow to its end."""
        validate_input(self.input_schema, run_input)
        return _Run(self, run_input).execute()


class _Run:
    """The state of one run."""

    def __init__(self, sim: Simulator, run_input: Any) -> None:
        self.sim = sim
        self.opts = sim.options
        self.clock = sim.clock
        self.states: dict[str, dict[str, Any]] = sim.definition["States"]
        self.context = build_context(sim.context_overrides, self.clock.now())
        self.state: Any = copy.deepcopy(run_input)
        self.log: list[LogEntry] = []
        self.stats = RunStats()
        self._extra: dict[str, Any] = {}
        self.last_state: str | None = None
        self.answers = sim.answers.for_run()
        self.web_inputs: dict[str, webinput.WebInput] = {}

    def _log(self, code: str, description: str, details: dict[str, Any]) -> None:
        entry = LogEntry(self.clock.now(), code, description, details)
        self.log.append(entry)
        if self.sim.on_log is not None:
            self.sim.on_log(entry)

    def _scope(self, state: Any = None) -> Scope:
        return Scope(
            self.state if state is None else state,
            self.context,
            self.opts.missing_backtick_is_error,
        )

    def execute(self) -> RunResult:
        start, start_elapsed, wall = self.clock.now(), self.clock.elapsed(), time.perf_counter()
        self._log(
            "FlowStarted",
            "The Flow Instance started execution",
            {"input": redact_state(self.state)},
        )
        name: str = self.sim.definition["StartAt"]
        outcome: _End
        while True:
            if self.stats.states_executed >= self.opts.max_states:
                outcome = _End(
                    StateFailure(
                        STATE_LIMIT,
                        f"The run executed {self.opts.max_states} states without ending, so the "
                        "flow probably loops forever; raise the limit (--max-states) if it is "
                        "meant to run longer.",
                    ),
                    name,
                )
                break
            self.stats.states_executed += 1
            try:
                name = self._step(name)
            except _End as end:
                outcome = end
                break
        self.stats.elapsed_seconds = self.clock.elapsed() - start_elapsed
        self.stats.wall_seconds = time.perf_counter() - wall
        failure = outcome.failure
        if failure is None:
            self._log(
                "FlowSucceeded",
                "The Flow Instance completed successfully",
                {"output": redact_state(self.state)},
            )
        else:
            self._log(
                "FlowFailed",
                "The Flow Instance failed",
                {
                    "state_name": outcome.state_name,
                    "state_type": self.states.get(outcome.state_name or "", {}).get("Type"),
                    "exception": failure.error,
                    "cause": failure.cause,
                    "output": redact_state(self.state),
                },
            )
        return RunResult(
            run_id=self.context["run_id"],
            flow_id=self.context["flow_id"],
            status=SUCCEEDED if failure is None else FAILED,
            output=self.state,
            log=self.log,
            stats=self.stats,
            start_time=start,
            completion_time=self.clock.now(),
            error=failure.error if failure else None,
            cause=failure.cause if failure else None,
            failed_state=outcome.state_name if failure else None,
            last_state=self.last_state,
            records=self.sim.records,
        )

    def _step(self, name: str) -> str:
        """Run state ``name``; return the next state's name or raise _End."""
        definition = self.states[name]
        kind = definition["Type"]
        self.last_state = name
        base = {"state_name": name, "state_type": kind}
        self._log(
            f"{kind}Started",
            f"State {name} of type {kind} started",
            {**base, "input": redact_state(self.state)},
        )
        self._extra = {}
        try:
            handler: Callable[[str, dict[str, Any]], str | None] = getattr(self, f"_do_{kind}")
            next_name = handler(name, definition)
        except StateFailure as failure:
            catcher = self._catcher(definition, failure)
            if catcher is None:
                raise _End(failure, name) from None
            try:
                self.state = self._write(
                    self.state,
                    catcher.get("ResultPath", "$"),
                    self._catch_payload(failure),
                    "Catch.ResultPath",
                    name,
                )
            except StateFailure as unwritable:
                # A catcher that cannot store the error ends the run like any
                # failure of the state (it must not escape the engine).
                raise _End(unwritable, name) from None
            self._log(
                f"{kind}Completed",
                f"State {name} caught {failure.error}",
                {
                    **base,
                    **self._extra,
                    "output": redact_state(self.state),
                    "caught": {"exception": failure.error, "cause": failure.cause},
                },
            )
            return str(catcher["Next"])
        self._log(
            f"{kind}Completed",
            f"State {name} of type {kind} completed",
            {**base, **self._extra, "output": redact_state(self.state)},
        )
        if next_name is None:
            raise _End()
        return next_name

    @staticmethod
    def _transition(definition: dict[str, Any]) -> str | None:
        return None if definition.get("End") is True else str(definition["Next"])

    def _catcher(self, definition: dict[str, Any], failure: StateFailure) -> dict[str, Any] | None:
        if failure.error == STATE_LIMIT:
            return None
        if failure.error == RUNTIME and not self.opts.runtime_errors_catchable:
            return None
        catchers = definition.get("Catch", []) if definition["Type"] in CATCHING_TYPES else []
        for catcher in catchers:
            names = catcher.get("ErrorEquals", [])
            if failure.error in names or (self.opts.states_all_catches and "States.ALL" in names):
                return dict(catcher)
        return None

    def _catch_payload(self, failure: StateFailure) -> dict[str, Any]:
        asl = {"Error": failure.error, "Cause": failure.cause}
        if self.opts.catch_payload == "asl" or failure.payload is None:
            return asl
        if self.opts.catch_payload == "status":
            return failure.payload
        return {**failure.payload, **asl}

    def _write(self, state: Any, path: Any, value: Any, field: str, name: str) -> Any:
        if path is None:  # ASL: a null ResultPath discards the result.
            return state
        if not isinstance(path, str):
            raise runtime_failure(f"The field '{field}' of state '{name}' must be a JSONPath.")
        steps = parsed_path(path, field)
        if steps[:1] == ("_context",):
            raise runtime_failure(f"The {field} '{path}' may not write under $._context.")
        try:
            place = jsonpath.reference_steps(steps, path)
        except jsonpath.JSONPathError as exc:
            raise runtime_failure(f"The {field} cannot be written: {exc}.") from None
        try:
            return _assoc(state, place, value)
        except jsonpath.PathNotFound:
            raise runtime_failure(
                f"The {field} '{path}' cannot be written: a value on the way is not an object."
            ) from None

    # --- state types -------------------------------------------------------

    def _do_Pass(self, name: str, d: dict[str, Any]) -> str | None:
        selected = (
            self._scope().get(d["InputPath"], "InputPath") if "InputPath" in d else self.state
        )
        if "Result" in d:
            output = d["Result"]
        elif "Parameters" in d:
            # ASL: a Pass state's Parameters see the InputPath-selected input.
            output, _ = evaluate_parameters(d["Parameters"], self._scope(selected))
        else:
            output = selected
        if "ResultPath" in d:
            new_state = self._write(self.state, d["ResultPath"], output, "ResultPath", name)
            if self.opts.pass_semantics == "move" and "InputPath" in d:
                new_state = _remove_path(new_state, d["InputPath"])
            self.state = new_state
        else:
            self.state = copy.deepcopy(output)
        return self._transition(d)

    def _do_ExpressionEval(self, name: str, d: dict[str, Any]) -> str | None:
        value, _ = evaluate_parameters(d.get("Parameters", {}), self._scope())
        self.state = self._write(self.state, d.get("ResultPath", "$"), value, "ResultPath", name)
        return self._transition(d)

    def _do_Choice(self, name: str, d: dict[str, Any]) -> str | None:
        return choice.choose(d, self._scope())

    def _do_Wait(self, name: str, d: dict[str, Any]) -> str | None:
        scope = self._scope()
        if "Seconds" in d or "SecondsPath" in d:
            field = "Seconds" if "Seconds" in d else "SecondsPath"
            seconds = d["Seconds"] if field == "Seconds" else scope.get(d["SecondsPath"], field)
            if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
                raise runtime_failure(
                    f"The field '{field}' must give a non-negative number of seconds, got {seconds!r}."
                )
        elif "Timestamp" in d or "TimestampPath" in d:
            field = "Timestamp" if "Timestamp" in d else "TimestampPath"
            raw = d["Timestamp"] if field == "Timestamp" else scope.get(d["TimestampPath"], field)
            moment = choice.parse_timestamp(raw)
            if moment is None:
                raise runtime_failure(
                    f"The field '{field}' must give an RFC 3339 timestamp, got {raw!r}."
                )
            seconds = max(0.0, (moment - self.clock.now()).total_seconds())
        else:
            raise runtime_failure(
                "A Wait state needs Seconds, Timestamp, SecondsPath or TimestampPath."
            )
        self.clock.advance(float(seconds))
        return self._transition(d)

    def _do_Fail(self, name: str, d: dict[str, Any]) -> str | None:
        scope = self._scope()
        error = scope.get(d["ErrorPath"], "ErrorPath") if "ErrorPath" in d else d.get("Error")
        cause = scope.get(d["CausePath"], "CausePath") if "CausePath" in d else d.get("Cause")
        raise _End(
            StateFailure(
                str(error) if error is not None else "States.Fail",
                str(cause) if cause is not None else "",
            ),
            name,
        )

    def _state_input(self, d: dict[str, Any]) -> tuple[Any, Any]:
        """What an Action or web-input state sends: ``(value, value as the log shows it)``."""
        scope = self._scope()
        if "Parameters" in d:
            return evaluate_parameters(d["Parameters"], scope)
        if "InputPath" in d:
            selected = scope.get(d["InputPath"], "InputPath")
            return selected, selected
        return {}, {}

    def _do_Action(self, name: str, d: dict[str, Any]) -> str | None:
        body, shown = self._state_input(d)
        url = _action_url(d)
        self._extra = {"action_url": url, "parameters": shown}
        if not isinstance(body, dict):
            # An action's body is a JSON object; an InputPath may select anything
            # (a slice selects a list), which the action provider would refuse.
            raise StateFailure(
                ACTION_UNABLE_TO_RUN,
                f"The input of the action at '{url}' must be a JSON object, but "
                f"{'InputPath' if 'InputPath' in d else 'Parameters'} gave a "
                f"{type(body).__name__}.",
                {"code": "BadRequest", "action_url": url},
            )
        document = self._call(name, d, url, body)
        self.state = self._write(self.state, d.get("ResultPath", "$"), document, "ResultPath", name)
        return self._transition(d)

    def _do_CreateWebInput(self, name: str, d: dict[str, Any]) -> str | None:
        body, shown = self._state_input(d)
        created = webinput.create(body, shown, name, new_id(), timestamp(self.clock.now()))
        self.web_inputs[created.web_input_id] = created
        self.sim.records.setdefault(webinput.RECORD, []).append(created)
        self._extra = {"parameters": shown, "web_input_id": created.web_input_id}
        result = {"web_input_id": created.web_input_id}
        self.state = self._write(self.state, d.get("ResultPath", "$"), result, "ResultPath", name)
        return self._transition(d)

    def _do_AwaitWebInput(self, name: str, d: dict[str, Any]) -> str | None:
        body, _ = self._state_input(d)
        web_input_id = webinput.awaited_id(body, name)
        awaited = self.web_inputs.get(web_input_id)
        if awaited is None:
            raise runtime_failure(
                f"{webinput.AWAIT} state '{name}' awaits web input '{web_input_id}', which no "
                f"{webinput.CREATE} state of this run created."
            )
        self._extra = {"web_input_id": web_input_id}
        if awaited.status == webinput.OPEN:
            self._answer(name, awaited)
        if awaited.status == webinput.EXPIRED:
            raise StateFailure(
                WEB_INPUT_EXPIRED,
                f"Nobody answered web input '{web_input_id}' (created by state "
                f"'{awaited.state_name}') before it expired. In the simulator, give the answer "
                f"with --web-input {name}=VALUE (or web_inputs={{'{name}': [VALUE]}}).",
                {"web_input_id": web_input_id},
            )
        self._extra["response"] = awaited.response
        result = awaited.result()
        self.state = self._write(self.state, d.get("ResultPath", "$"), result, "ResultPath", name)
        return self._transition(d)

    def _answer(self, name: str, awaited: webinput.WebInput) -> None:
        """Answer an open web input from the given answers, or let it expire."""
        given, answer = self.answers.take(name)
        if given:
            awaited.answer(answer, name)
            return
        if self.opts.unanswered_web_input == "error":
            raise WebInputError(
                f"{webinput.AWAIT} state {name!r} waits for an answer to the web input that "
                f"state {awaited.state_name!r} created, and none is left; give one with "
                f"--web-input {name}=VALUE (or web_inputs={{{name!r}: [VALUE]}})"
            )
        # The run waits, as the service's would, until the web input expires.
        self.clock.advance(self.opts.web_input_expiry_seconds)
        awaited.status = webinput.EXPIRED

    def _call(self, name: str, d: dict[str, Any], url: str, body: Any) -> dict[str, Any]:
        """Run one action to completion, polling with the service's doubling back-off."""
        self.stats.action_calls[url] += 1
        provider = self.sim.providers.get(url)
        if provider is None:
            raise StateFailure(
                ACTION_UNABLE_TO_RUN,
                (
                    f"No action provider is simulated for the ActionUrl '{url}'; register one with "
                    "the providers= argument of simulate()/Simulator."
                ),
                {"code": "ActionProviderNotFound", "action_url": url},
            )
        wait_time = d.get("WaitTime", 300)
        on_failure = d.get("ExceptionOnActionFailure", self.opts.exception_on_action_failure)
        ctx = ActionContext(
            now=self.clock.now,
            collections=self.sim.collections,
            options=self.opts,
            run_context=self.context,
            action_id=new_id(),
            state_name=name,
            action_url=url,
            records=self.sim.records,
        )
        started = self.clock.now()
        deadline = self.clock.elapsed() + float(wait_time)
        status = self._invoke(lambda: provider.run(copy.deepcopy(body), ctx), url)
        if not status.action_id:
            status = ActionStatus(status.status, status.details, ctx.action_id, status.label)
        poll = poll_of(provider)
        interval = self.opts.poll_initial_seconds
        while not status.is_terminal:
            remaining = deadline - self.clock.elapsed()
            if remaining <= 0:
                raise StateFailure(
                    ACTION_TIMEOUT,
                    (
                        f"The action did not complete within the WaitTime of {wait_time} seconds "
                        f"(last status {status.status})."
                    ),
                    self._document(status, name, started),
                )
            self.clock.advance(min(interval, remaining))
            interval = min(interval * 2, self.opts.poll_max_seconds)
            if poll is not None:
                self.stats.polls[url] += 1
                status = self._invoke(partial(poll, status, ctx), url)
        document = self._document(status, name, started)
        if status.status == "FAILED" and on_failure:
            raise StateFailure(ACTION_FAILED, _failure_cause(url, status), document)
        return document

    @staticmethod
    def _invoke(call: Callable[[], Any], url: str) -> ActionStatus:
        try:
            return coerce_status(call())
        except ActionUnableToRun as exc:
            raise StateFailure(ACTION_UNABLE_TO_RUN, exc.message, exc.details) from None
        except (TypeError, ValueError, OSError, KeyError) as exc:
            # A provider crashing looks to the flow like an action provider error.
            raise StateFailure(
                ACTION_UNABLE_TO_RUN,
                f"The action provider for '{url}' failed: {type(exc).__name__}: {exc}",
                {"code": "ActionProviderError", "message": str(exc)},
            ) from None

    def _document(self, status: ActionStatus, name: str, started: Any) -> dict[str, Any]:
        return {
            "action_id": status.action_id,
            "status": status.status,
            "display_status": status.status,
            "details": copy.deepcopy(status.details),
            "creator_id": self.context["user_id"],
            "label": status.label,
            "manage_by": [],
            "monitor_by": [],
            "release_after": status.release_after,
            "start_time": timestamp(started),
            "completion_time": timestamp(self.clock.now()) if status.is_terminal else None,
            "state_name": name,
        }


def _action_url(d: dict[str, Any]) -> str:
    if "ActionUrl" in d:
        return str(d["ActionUrl"])
    handler = d.get("Handler")
    if isinstance(handler, dict) and "Url" in handler:
        return str(handler["Url"])
    return str(handler)


def _failure_cause(url: str, status: ActionStatus) -> str:
    details = status.details
    reason = ""
    if isinstance(details, dict):
        fatal = details.get("fatal_error")
        if isinstance(fatal, dict):
            reason = f"{fatal.get('code')}: {fatal.get('description')}"
        elif "code" in details:
            reason = str(details["code"])
            if details.get("message"):
                reason += f": {str(details['message']).strip().splitlines()[0]}"
    return f"The action at '{url}' ended FAILED" + (f" ({reason})" if reason else "") + "."


def _remove_path(state: Any, path: str) -> Any:
    try:
        steps = jsonpath.parse_reference(path)
    except jsonpath.JSONPathError:
        return state  # a slice selects several values: there is no one key to move
    if not steps or not jsonpath.exists(state, steps):
        return state
    parent = jsonpath.get(state, steps[:-1])
    if isinstance(parent, dict):
        trimmed = {k: v for k, v in parent.items() if k != steps[-1]}
        return jsonpath.put(state, steps[:-1], trimmed) if steps[:-1] else trimmed
    return state


def _assoc(document: Any, steps: tuple[jsonpath.Token, ...], value: Any) -> Any:
    """``jsonpath.put`` without deep copies: only the containers on the path are copied.

    The run never changes a state in place, so the new state may share
    every untouched branch (and ``value``) with the old one; this keeps
    long polling loops cheap.
    """
    if not steps:
        return value
    step, rest = steps[0], steps[1:]
    if isinstance(step, int):
        if not isinstance(document, list) or not -len(document) <= step < len(document):
            raise jsonpath.PathNotFound(jsonpath.format_path(steps))
        copied_list = list(document)
        child = copied_list[step]
        copied_list[step] = _assoc(child if isinstance(child, dict | list) else {}, rest, value)
        return copied_list
    if isinstance(document, list):
        raise jsonpath.PathNotFound(jsonpath.format_path(steps))
    if not isinstance(document, dict):
        document = {}
    copied = dict(document)
    child = copied.get(step)
    copied[step] = (
        _assoc(child if isinstance(child, dict | list) else {}, rest, value) if rest else value
    )
    return copied
