"""``flowgen validate``: check flow definitions and input schemas offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from flowgen.cli import app
from flowgen.cli.errors import handle_errors
from flowgen.cli.output import (
    FormatOption,
    JmespathOption,
    OutputFormat,
    colour,
    display,
    render_finding,
)
from flowgen.core.exitcodes import ExitCode
from flowgen.core.findings import Finding, Severity, has_errors


@app.command()
@handle_errors
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Flow definitions, input schemas, flowgen build directories or instance configs.",
            metavar="FILE...",
            show_default=False,
        ),
    ],
    input_schema: Annotated[
        Path | None,
        typer.Option("--input-schema", help="Input schema to check together with the definitions."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail on warnings too, not only on errors.")
    ] = False,
    fmt: FormatOption = OutputFormat.TEXT,
    jmespath: JmespathOption = None,
) -> ExitCode:
    """Check flow definitions and input schemas without contacting Globus.

    Each FILE is a flow definition, an input schema (a JSON file with "type"
    or "properties" and no "States"), a directory written by flowgen build,
    or an instance config, which is built first. Every problem found is
    printed with its file, JSONPath location, severity and code. The command
    exits with 0 when there is no error (warnings are printed but allowed),
    3 when there is one (or a warning, with --strict), and 2 when a file
    cannot be read or is not valid JSON.

    \b
    Example: flowgen validate flows/build/mycluster --strict

    \b
    Example: flowgen validate definition.json --input-schema schema.json --format json
    """
    from flowgen.review.files import check_files

    findings = check_files(files, input_schema=input_schema)
    failed = has_errors(findings, strict=strict)
    report = _report(files, findings, ok=not failed)
    display(report, fmt, lambda _: _text(findings, len(files), strict=strict), jmespath=jmespath)
    return ExitCode.INVALID if failed else ExitCode.OK


def _report(files: list[Path], findings: list[Finding], *, ok: bool) -> dict[str, Any]:
    return {
        "ok": ok,
        "files": [str(f) for f in files],
        "errors": sum(f.severity is Severity.ERROR for f in findings),
        "warnings": sum(f.severity is Severity.WARNING for f in findings),
        "findings": [f.to_json() for f in findings],
    }


def _text(findings: list[Finding], file_count: int, *, strict: bool) -> str:
    errors = sum(f.severity is Severity.ERROR for f in findings)
    warnings = len(findings) - errors
    files = "1 file" if file_count == 1 else f"{file_count} files"
    summary = f"{files} checked: {_count(errors, 'error')}, {_count(warnings, 'warning')}"
    if warnings and strict:
        summary += " (warnings fail with --strict)"
    painted = colour()
    return "\n".join([*(render_finding(f, enabled=painted) for f in findings), summary])


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
