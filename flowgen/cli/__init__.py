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
    # Plain (click) help and usage errors: rich and markdown-it, which typer's
    # rich help loads, would double the start-up time of every command
    # (tests/test_import_graph.py keeps them out).
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """Build, check, deploy and simulate Globus flows, and the FlowCron flow."""
    # A callback keeps flowgen a command group even when main() registers a
    # single command, so 'flowgen build ...' never collapses to 'flowgen ...'.


def _register(only: str | None = None) -> None:
    """Import command modules, which add their commands to ``app``.

    ``only`` names the command about to run: just its module is imported,
    because typer converts every registered command at start-up, and the
    offline commands must start fast (issue target: build and validate in
    0.5 s). Anything else (``--help``, an unknown word) registers them all.
    """
    import importlib

    module = COMMAND_OWNERS.get(only or "", only) if only else None
    names = [module] if module in COMMAND_MODULES else COMMAND_MODULES
    for name in names:
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
    "uow",
]
"""Command modules, in the order their commands appear in --help."""

COMMAND_OWNERS: dict[str, str] = {"logout": "login", "whoami": "login"}
"""Commands whose module is named differently (every other command's module is its name)."""


def main() -> None:
    """Console-script entry point."""
    import sys

    _register(sys.argv[1] if len(sys.argv) > 1 else None)
    app()
