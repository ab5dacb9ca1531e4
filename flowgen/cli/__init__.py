"""The ``flowgen`` command line: thin commands over the flowgen library.

Each command group lives in its own module and is mounted here. Commands
parse arguments, call one library function and print through
:mod:`flowgen.cli.output`; errors are mapped to exit codes only in
:mod:`flowgen.cli.errors`. Offline commands never import globus_sdk.
"""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    name="flowgen",
    help=(
        "Build, check, deploy and simulate Globus flows, and the FlowCron flow.\n\n"
        "\b\nExample: flowgen build flows/mycluster.toml"
    ),
    no_args_is_help=True,
    # --install-completion/--show-completion cost nothing at start-up: typer
    # imports its completion code anyway and detects the shell only when asked.
    add_completion=True,
    pretty_exceptions_enable=False,
    # Plain (click) help and usage errors: rich and markdown-it, which typer's
    # rich help loads, would double the start-up time of every command
    # (tests/test_import_graph.py keeps them out).
    rich_markup_mode=None,
)


def _show_version(value: bool) -> None:
    if value:
        from flowgen import __version__

        typer.echo(f"flowgen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Show flowgen's version and exit.",
            callback=_show_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
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
    "checkbuilt",
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

COMMAND_OWNERS: dict[str, str] = {"logout": "login", "whoami": "login", "check-built": "checkbuilt"}
"""Commands whose module is named differently (every other command's module is its name)."""


def main() -> None:
    """Console-script entry point: exit 130 on Ctrl-C, 141 quietly when stdout is closed."""
    import sys

    from hpc_agent.terminal import run_guarded

    sys.exit(run_guarded(_main, on_interrupt=_interrupted))


def _main() -> int:
    import sys

    _register(sys.argv[1] if len(sys.argv) > 1 else None)
    stdout = sys.stdout
    try:
        app()
    except SystemExit as exc:
        if sys.stdout is not stdout:
            # typer met a closed pipe outside a command (--help | head): it
            # replaces sys.stdout with a wrapper that ignores the final flush
            # and exits 1, which means DIFFERENT here. That stdout was replaced
            # is the sign, not the wrapper's class: typer 0.28 has its own copy
            # of click (typer._click), so click.utils' class is another one.
            from hpc_agent.terminal import closed_pipe

            return closed_pipe()
        # typer ends every command with sys.exit; returning instead lets
        # run_guarded flush stdout, where a closed pipe (| head) shows up.
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return 0


def _interrupted() -> None:
    # Ctrl-C inside a command is handled by flowgen.cli.errors; this is Ctrl-C
    # while flowgen starts.
    from flowgen.cli.errors import INTERRUPTED_MESSAGE

    typer.echo(f"Error: {INTERRUPTED_MESSAGE}", err=True)
