"""``flowgen check-built``: the committed flow JSON matches what the instance configs build."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flowgen.cli import app
from flowgen.cli.errors import handle_errors
from flowgen.cli.output import (
    FormatOption,
    JmespathOption,
    OutputFormat,
    display,
    effective_format,
    note,
)
from flowgen.core.errors import InputFileError
from flowgen.core.exitcodes import ExitCode

DEFAULT_CONFIGS = Path("flows")
"""Where instance configs live when none are named (``flowgen init`` writes them there)."""


@app.command("check-built")
@handle_errors
def check_built(
    configs: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Instance configs, or directories whose *.toml files are instance configs "
            "[default: flows/].",
            metavar="[CONFIG|DIR]...",
            show_default=False,
        ),
    ] = None,
    fmt: FormatOption = OutputFormat.TEXT,
    jmespath: JmespathOption = None,
) -> ExitCode:
    """Check that the committed flow JSON is what each instance config builds now.

    Each config is built in memory and compared byte for byte with the files
    committed next to it, under build/<name>/ in the config's directory (where
    'flowgen build flows/<name>.toml' writes them). A directory stands for
    every *.toml file directly in it; with no argument that is flows/. A
    file that differs is shown as a unified diff, with the command that
    rebuilds it. The command exits with 0 when every file matches, 1 when
    one differs or is missing or a config does not build, and 2 when an
    argument names no config. It is what the pre-commit hook
    flowgen-check-built runs.

    Example: flowgen check-built flows/mycluster.toml
    """
    from flowgen.review.checkflows import check

    fmt = effective_format(fmt, jmespath)
    paths = _configs(configs or [DEFAULT_CONFIGS])
    drifted: dict[str, list[str]] = {}
    for config in paths:
        problems = check([config])
        if problems:
            drifted[str(config)] = problems
    data = {
        "ok": not drifted,
        "configs": [str(p) for p in paths],
        "drifted": [{"config": c, "problems": p} for c, p in drifted.items()],
    }
    display(data, fmt, "\n".join(p.rstrip("\n") for ps in drifted.values() for p in ps), jmespath)
    if fmt is OutputFormat.TEXT:
        if drifted:
            commands = "\n".join(f"  {_rebuild(Path(c))}" for c in drifted)
            note(
                "The committed flow JSON does not match what the configs build. If the change "
                f"is intended, rebuild and commit the result:\n{commands}"
            )
        else:
            note(f"{_matches(len(paths))} committed JSON.")
    return ExitCode.DIFFERENT if drifted else ExitCode.OK


def _configs(paths: list[Path]) -> list[Path]:
    """The configs the arguments name: files as given, directories expanded to their *.toml."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.glob("*.toml"))
        elif path.is_file():
            found.append(path)
        else:
            raise InputFileError(f"{path}: no such instance config or directory")
    if not found:
        raise InputFileError(
            f"no instance configs (*.toml) in {', '.join(str(p) for p in paths)}; "
            "name them: flowgen check-built flows/<name>.toml"
        )
    return found


def _rebuild(config: Path) -> str:
    """The flowgen build command that rewrites the files check-built compares with."""
    import shlex

    from flowgen.core.errors import FlowgenError
    from flowgen.flowcron.build import default_output_dir
    from flowgen.flowcron.config import load_config

    command = f"flowgen build {shlex.quote(str(config))}"
    try:
        cfg = load_config(config)
    except FlowgenError:
        return command  # it does not build: the message above says why
    committed = default_output_dir(cfg, config.parent)
    # build writes to flows/build/<name>/ from where it runs; check-built reads
    # build/<name>/ next to the config.
    if committed == default_output_dir(cfg):
        return command
    return f"{command} -o {shlex.quote(str(committed))}"


def _matches(n: int) -> str:
    return "1 config matches its" if n == 1 else f"{n} configs match their"
