"""One error hierarchy for hpc_agent: every exception derives from AgentError, and
``hpc_agent.cli.classify`` gives each the exit code the command line has always used."""

from __future__ import annotations

import errno
import importlib
import inspect
import pkgutil

import pytest

import hpc_agent
from hpc_agent.cli import classify, error_message
from hpc_agent.cli.common import CommandLineError
from hpc_agent.cli.ops import NotMovedYet
from hpc_agent.config import ConfigError
from hpc_agent.errors import AgentError
from hpc_agent.executors.base import ExecutorError, SchedulerUnavailable, SubmitRejected
from hpc_agent.exitcodes import ExitCode
from hpc_agent.fs.treewalk import TreeChanged
from hpc_agent.loop.lock import LeaseLost
from hpc_agent.site.schedule import ScheduleError
from hpc_agent.site.setup import SetupError
from hpc_agent.terminal import JmespathError
from hpc_agent.uow.operations import OperationError

NOT_AGENT_ERRORS = {TreeChanged, JmespathError}
"""Exceptions that stay outside AgentError on purpose: TreeChanged is caught as an OSError;
JmespathError is shared with flowgen and becomes a CommandLineError before a command runs."""

EXPECTED = {
    ConfigError: ExitCode.USAGE,
    SetupError: ExitCode.USAGE,
    ScheduleError: ExitCode.FAILED,
    OperationError: ExitCode.FAILED,
    ExecutorError: ExitCode.FAILED,
    SubmitRejected: ExitCode.FAILED,
    SchedulerUnavailable: ExitCode.SCHEDULER_DOWN,
    LeaseLost: ExitCode.FAILED,
    CommandLineError: ExitCode.USAGE,
    NotMovedYet: ExitCode.FAILED,
}


def _agent_exceptions() -> set[type[BaseException]]:
    """Every exception class defined in a module of hpc_agent (``__main__`` would run the CLI)."""
    found: set[type[BaseException]] = set()
    for info in pkgutil.walk_packages(hpc_agent.__path__, "hpc_agent."):
        if info.name.endswith(".__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                found.add(cls)
    return found


def test_every_agent_exception_derives_from_agent_error() -> None:
    found = _agent_exceptions()
    assert set(EXPECTED) | NOT_AGENT_ERRORS | {AgentError} <= found
    outside = {
        cls.__qualname__ for cls in found - NOT_AGENT_ERRORS if not issubclass(cls, AgentError)
    }
    assert not outside, f"derive these from hpc_agent.errors.AgentError: {sorted(outside)}"
    assert issubclass(TreeChanged, OSError)


def test_classify_gives_every_agent_exception_its_exit_code() -> None:
    for cls in _agent_exceptions() - NOT_AGENT_ERRORS:
        assert isinstance(cls.exit_code, ExitCode), cls  # type: ignore[attr-defined]
        exc = cls.__new__(cls, "a message")
        assert classify(exc) is cls.exit_code, cls  # type: ignore[attr-defined]


@pytest.mark.parametrize(("cls", "code"), EXPECTED.items(), ids=lambda v: getattr(v, "__name__", v))
def test_each_error_keeps_the_exit_code_the_cli_has_always_used(
    cls: type[AgentError], code: ExitCode
) -> None:
    assert cls.exit_code is code
    assert classify(cls("a message")) is code


def test_file_system_errors_and_interrupts() -> None:
    full = OSError(errno.ENOSPC, "No space left on device", "/project/Logs")
    assert classify(full) is ExitCode.FAILED
    assert error_message(full, "tick") == (
        "hpc-agent tick: /project/Logs: No space left on device; "
        "free some space on that file system (the agent moved nothing)"
    )
    assert classify(TreeChanged(errno.ESTALE, "moved")) is ExitCode.FAILED
    assert classify(KeyboardInterrupt()) is ExitCode.INTERRUPTED
    assert error_message(KeyboardInterrupt(), "logs") == "hpc-agent logs: interrupted"
    with pytest.raises(TypeError):
        classify(ValueError("a bug"))


def test_messages_name_the_command_as_they_always_did() -> None:
    # The operating commands show a configuration error without their name.
    for command in ("tick", "run", "status", "retry", "cancel", "finalize"):
        assert error_message(ConfigError("bad"), command) == "hpc-agent: bad"
    for command in ("setup", "schedule", "doctor", "logs", "uninstall"):
        assert error_message(ConfigError("bad"), command) == f"hpc-agent {command}: bad"
    assert error_message(OperationError("busy"), "retry") == "hpc-agent retry: busy"
    assert (
        error_message(ScheduleError("no crontab"), "schedule") == "hpc-agent schedule: no crontab"
    )
