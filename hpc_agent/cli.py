"""The ``hpc-agent`` command line (argparse: standard library only)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every hpc-agent command."""
    parser = argparse.ArgumentParser(prog="hpc-agent", description=__doc__)
    parser.add_subparsers(dest="command", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run hpc-agent; returns the process exit code."""
    parser = build_parser()
    parser.parse_args(argv)
    return 0
