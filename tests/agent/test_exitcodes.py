"""The hpc-agent exit-code table in docs/exit-codes.md matches hpc_agent/exitcodes.py."""

from __future__ import annotations

import re
from pathlib import Path

from hpc_agent.exitcodes import (
    EXIT_CODES,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_SCHEDULER_DOWN,
    EXIT_USAGE,
    ExitCode,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "exit-codes.md"


def test_the_documented_table_lists_every_code() -> None:
    section = DOC.read_text().split("## hpc-agent", 1)[1]
    rows = dict(re.findall(r"^\| (\d+) \| `([A-Z_]+)` \|", section, re.MULTILINE))
    assert rows == {str(code): name for name, code in EXIT_CODES.items()}


def test_codes_are_distinct() -> None:
    assert len(set(EXIT_CODES.values())) == len(EXIT_CODES)


def test_the_old_names_are_the_enum_members() -> None:
    assert (EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SCHEDULER_DOWN) == (
        ExitCode.OK,
        ExitCode.FAILED,
        ExitCode.USAGE,
        ExitCode.SCHEDULER_DOWN,
    )
    assert {code.name: int(code) for code in ExitCode} == EXIT_CODES


def test_the_terminal_codes_are_the_enum_members() -> None:
    # hpc_agent.terminal (shared with flowgen) returns these for Ctrl-C and a closed pipe.
    from hpc_agent.terminal import CLOSED_PIPE_EXIT, INTERRUPTED_EXIT

    assert INTERRUPTED_EXIT == ExitCode.INTERRUPTED == 130
    assert CLOSED_PIPE_EXIT == ExitCode.CLOSED_PIPE == 141
