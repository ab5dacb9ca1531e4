"""What several command groups share: the INSTANCE argument of the operating commands."""

from __future__ import annotations

import argparse


def add_instance_argument(parser: argparse.ArgumentParser) -> None:
    """The positional INSTANCE of tick, run, status, retry, cancel and finalize."""
    parser.add_argument("instance", help="the instance's base directory or registered name")
