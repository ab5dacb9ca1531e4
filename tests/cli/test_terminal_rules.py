"""flowgen's use of the shared terminal rules (:mod:`hpc_agent.terminal`), in process.

Live progress follows :func:`hpc_agent.terminal.live_updates` and the stderr
of the call, not of the import; a finding's line has one format, coloured or
not; a closed pipe typer met is recognised without naming typer's classes.
"""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pytest

import flowgen.cli
from flowgen.cli.output import render_finding
from flowgen.cli.progress import LiveLine
from flowgen.cli.simulate import simulate
from flowgen.core.exitcodes import ExitCode
from flowgen.core.findings import Finding, Severity
from hpc_agent import terminal
from tests.cli.test_conventions import TRANSFER_FLOW, UUID_A, UUID_B

SGR = re.compile(r"\x1b\[[0-9;]*m")


class FakeTerminal(io.StringIO):
    """A text stream that says it is a terminal (and, closed, raises as a real one does)."""

    def isatty(self) -> bool:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        return True


# -- live progress --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "no_color", "live"),
    [("xterm", None, True), ("dumb", None, False), ("xterm", "1", True), (None, None, True)],
)
def test_a_live_line_needs_a_terminal_that_is_not_dumb(
    term: str | None, no_color: str | None, live: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in (("TERM", term), ("NO_COLOR", no_color)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    stream = FakeTerminal()
    line = LiveLine(stream)
    line.show("Upload: transferring ...")
    line.keep("Upload: transfer succeeded: 1 file, 6 B")
    assert line.enabled is live is terminal.live_updates(stream)
    expected = "\r\x1b[KUpload: transferring ...\r\x1b[KUpload: transfer succeeded: 1 file, 6 B\n"
    assert stream.getvalue() == (expected if live else "")


def test_live_updates_never_on_a_pipe_or_a_closed_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    closed = FakeTerminal()
    closed.close()
    assert not terminal.live_updates(io.StringIO())
    assert not terminal.live_updates(closed)  # isatty() on a closed stream raises ValueError


def test_simulate_shows_progress_on_the_stderr_of_the_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # flowgen.cli.simulate was imported with this module, under pytest's stderr;
    # the terminal the command meets is only there when it runs.
    (tmp_path / "laptop").mkdir()
    (tmp_path / "laptop" / "a.txt").write_text("hello\n")
    (tmp_path / "hpc").mkdir()
    (tmp_path / "flow.json").write_text(json.dumps(TRANSFER_FLOW))
    (tmp_path / "in.json").write_text("{}")
    monkeypatch.setenv("TERM", "xterm")
    shown = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", shown)
    simulate(
        definition=tmp_path / "flow.json",
        input_file=tmp_path / "in.json",
        collection=[f"{UUID_A}={tmp_path / 'laptop'}", f"{UUID_B}={tmp_path / 'hpc'}"],
    )
    assert "\r\x1b[KUpload: transfer succeeded: 1 file, 6 B\n" in shown.getvalue()
    assert "SUCCEEDED" in capsys.readouterr().out


# -- findings ---------------------------------------------------------------------------


@pytest.mark.parametrize("file", ["", "flows/build/x/definition.json"])
@pytest.mark.parametrize("severity", list(Severity))
def test_a_finding_has_one_format_coloured_or_not(file: str, severity: Severity) -> None:
    finding = Finding(file, "$.States.A.Next", "FG202", severity, "no state named 'Nowhere'")
    where = f"{file}: " if file else ""
    plain = f"{where}$.States.A.Next: {severity.value} FG202: no state named 'Nowhere'"
    assert str(finding) == finding.render() == render_finding(finding, enabled=False) == plain
    coloured = render_finding(finding, enabled=True)
    assert coloured == finding.render(colour=True) != plain
    assert SGR.sub("", coloured) == plain
    style = terminal.paint(f"{severity.value} FG202", severity.value, enabled=True)
    assert f": {style}: " in coloured


# -- a closed pipe typer met itself -------------------------------------------------------


class _StdoutWrapper:
    """Like the wrapper typer and click put on stdout after a closed pipe, by another name."""

    def __init__(self, wrapped: object) -> None:
        self.wrapped = wrapped

    def __getattr__(self, name: str) -> object:
        return getattr(self.wrapped, name)


def test_a_closed_pipe_typer_met_ends_141_whatever_its_wrapper(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def closed_by_typer() -> None:
        sys.stdout = _StdoutWrapper(sys.stdout)  # type: ignore[assignment]
        sys.exit(1)

    def plain_exit_1() -> None:
        sys.exit(1)

    # A command whose module is loaded already, so registering it adds nothing to ``app``.
    monkeypatch.setattr(sys, "argv", ["flowgen", "simulate"])
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # no file descriptor to silence
    monkeypatch.setattr(flowgen.cli, "app", closed_by_typer)
    assert flowgen.cli._main() == ExitCode.CLOSED_PIPE == 141
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setattr(flowgen.cli, "app", plain_exit_1)
    assert flowgen.cli._main() == ExitCode.DIFFERENT == 1
