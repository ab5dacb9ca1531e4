"""Errors of the online commands; each says what to do next."""

from __future__ import annotations

from flowgen.core.errors import FlowgenError
from flowgen.core.exitcodes import ExitCode


class NotLoggedInError(FlowgenError):
    """No usable Globus login: the user must run ``flowgen login`` (or set CI credentials)."""

    exit_code = ExitCode.AUTH


class DeployedFlowGoneError(FlowgenError):
    """The lock file names a flow the service no longer has."""

    exit_code = ExitCode.NOT_FOUND


class AdoptionRefusedError(FlowgenError):
    """A flow with the same title exists and the user did not agree to adopt it."""


class RemoteValidationError(FlowgenError):
    """The service's own validation found problems in the flow."""

    exit_code = ExitCode.INVALID
