"""What the command groups share: INSTANCE, ``-F/--format`` with ``--jmespath``, and help.

Every command that prints data takes ``-F/--format`` through
:func:`add_format_options` and prints through :func:`emit`, so the JSON,
the ``--jmespath`` filtering and the JSON error document (in
:func:`hpc_agent.cli.main`) are the same in every command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from hpc_agent.errors import AgentError
from hpc_agent.exitcodes import ExitCode


class HelpFormatter(argparse.HelpFormatter):
    """Wraps the prose of a description or epilog to the terminal; keeps indented lines as written.

    So the lines under ``Example:`` (and a line to copy into ~/.bashrc) stay
    whole, each on its own line, as argparse.RawDescriptionHelpFormatter
    would keep them, while the paragraphs still fit the terminal.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        blocks = []
        for paragraph in text.split("\n\n"):
            lines: list[str] = []
            prose: list[str] = []
            for line in [*paragraph.splitlines(), ""]:
                if line.startswith(" ") or not line:
                    if prose:
                        lines.append(
                            textwrap.fill(
                                " ".join(prose),
                                width,
                                initial_indent=indent,
                                subsequent_indent=indent,
                            )
                        )
                        prose = []
                    if line:
                        lines.append(indent + line)
                else:
                    prose.append(line.strip())
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)


FORMATTER = HelpFormatter
"""The help formatter of every hpc-agent parser."""


class CommandLineError(AgentError):
    """A value the parser accepted but the command cannot use (``--until`` before ``--since``)."""

    exit_code = ExitCode.USAGE


def example(*lines: str) -> str:
    """The epilog of a command's ``--help``: ``Example:`` and the command lines, one a line."""
    return "Example:\n" + "\n".join(f"  {line}" for line in lines)


def add_parser(sub: Any, name: str, *, help: str, description: str, epilog: str) -> Any:
    """A sub-command parser whose help keeps its layout (the example on its own line)."""
    return sub.add_parser(
        name, help=help, description=description, epilog=epilog, formatter_class=FORMATTER
    )


def add_instance_argument(parser: argparse.ArgumentParser) -> None:
    """The positional INSTANCE of tick, run, status, retry, cancel and finalize."""
    parser.add_argument(
        "instance", metavar="INSTANCE", help="the instance's base directory or registered name"
    )


def add_format_options(
    parser: argparse.ArgumentParser, choices: Sequence[str] = ("text", "json")
) -> None:
    """``-F/--format`` (text by default) and ``--jmespath EXPR``, which implies JSON."""
    parser.add_argument(
        "-F",
        "--format",
        choices=tuple(choices),
        default="text",
        help="how to print the result (default: text)",
    )
    parser.add_argument(
        "--jmespath",
        metavar="EXPR",
        help="print only what this JMESPath expression selects from the JSON (implies -F json)",
    )


def prepare_format(args: argparse.Namespace) -> None:
    """Compile ``--jmespath`` before the command does any work; it implies JSON.

    A bad expression, or no ``jmespath`` package, is a usage error
    (:class:`CommandLineError`), raised before anything is read or changed.
    """
    expression = getattr(args, "jmespath", None)
    args.jmespath_compiled = None
    if expression is None:
        return
    from hpc_agent.terminal import JmespathError, compile_jmespath

    args.format = "json"
    try:
        args.jmespath_compiled = compile_jmespath(expression)
    except JmespathError as exc:
        raise CommandLineError(str(exc)) from None


def wants_json(args: argparse.Namespace) -> bool:
    """Whether the command prints JSON (``-F json`` or ``--jmespath``), results and errors."""
    return getattr(args, "format", None) == "json" or getattr(args, "jmespath", None) is not None


def to_json(data: object, args: argparse.Namespace, *, lines: bool = False) -> str:
    """``data`` as JSON after ``--jmespath``; one compact line when ``lines`` (``logs``)."""
    import json  # only when JSON is printed: --help and text output start without it

    compiled = getattr(args, "jmespath_compiled", None)
    if compiled is not None:
        data = compiled.search(data)
    if lines:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def emit(
    data: object,
    args: argparse.Namespace,
    text: Callable[[], str],
    *,
    others: dict[str, Callable[[], str]] | None = None,
) -> None:
    """Print a command's result: JSON (after ``--jmespath``), else ``text()`` or another format.

    ``others`` renders formats besides text and JSON (``usage -F csv``).
    """
    fmt = "json" if wants_json(args) else getattr(args, "format", "text")
    if fmt == "json":
        sys.stdout.write(to_json(data, args))
    elif others and fmt in others:
        sys.stdout.write(others[fmt]())
    else:
        sys.stdout.write(text())


def colour(stream: Any = None) -> bool:
    """Whether to colour what goes to ``stream`` (stdout): a terminal, and no ``NO_COLOR``."""
    from hpc_agent.terminal import colour_enabled

    return colour_enabled(stream)
