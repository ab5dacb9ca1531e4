"""The ``flowgen`` command line: thin commands over the flowgen library.

Each command group lives in its own module and is mounted here. Commands
parse arguments, call one library function and print through
:mod:`flowgen.cli.output`; errors are mapped to exit codes only in
:mod:`flowgen.cli.errors`. Offline commands never import globus_sdk.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="flowgen",
    help="Build, check, deploy and simulate Globus flows, and the FlowCron flow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Imported for their side effect of adding commands to ``app``; kept in a
    # function so importing flowgen.cli stays cheap for tests.
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"flowgen.cli.{name}")


COMMAND_MODULES: list[str] = [
    "init",
    "build",
    "validate",
    "diff",
    "graph",
    "simulate",
    "deploy",
    "login",
    "group",
    "run",
]
"""Command modules, in the order their commands appear in --help."""


def main() -> None:
    """Console-script entry point."""
    _register()
    app()
