"""The flowgen error hierarchy: one root, mapped to exit codes in one place."""

from __future__ import annotations

from flowgen.core.exitcodes import ExitCode


class FlowgenError(Exception):
    """Root of every error flowgen raises on purpose.

    ``exit_code`` says how the CLI ends when this escapes a command; the
    message is shown to the user as it is, so it must say what to fix.
    """

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(FlowgenError):
    """The command was called wrongly (a bad option value, a missing file)."""


class InputFileError(FlowgenError):
    """An input file cannot be read or parsed; the message names file, line and column."""


class ConfigError(FlowgenError):
    """An instance config is missing a field or has a bad value; names the field and file."""


class InvalidFlowError(FlowgenError):
    """A flow has error-level findings and the command refuses to go on."""

    exit_code = ExitCode.INVALID
