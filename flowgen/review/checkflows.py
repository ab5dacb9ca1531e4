"""``make check-flows``: fail with a readable diff when committed flow JSON drifted.

Rebuilds every given instance config into a temporary directory and
compares the result byte for byte with the committed files under
``flows/build/<name>/``. Run as ``python -m flowgen.review.checkflows CONFIG...``.
"""

from __future__ import annotations

import difflib
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from flowgen.core.errors import FlowgenError
from flowgen.flowcron.build import build_checked, default_output_dir

REGENERATE = "make flows"


def check(configs: Sequence[Path]) -> list[str]:
    """Problems found (one readable block each); empty when everything matches."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for config in configs:
            try:
                built, _ = build_checked(config)
            except FlowgenError as exc:
                problems.append(exc.message)
                continue
            committed_dir = default_output_dir(built.config, config.parent)
            for fresh in built.write(Path(tmp) / built.config.name):
                committed = committed_dir / fresh.name
                new = fresh.read_text(encoding="utf-8")
                if not committed.exists():
                    problems.append(f"{committed}: missing (built from {config})")
                    continue
                old = committed.read_text(encoding="utf-8")
                if old != new:
                    diff = difflib.unified_diff(
                        old.splitlines(keepends=True),
                        new.splitlines(keepends=True),
                        fromfile=f"{committed} (committed)",
                        tofile=f"{committed} (built from {config})",
                    )
                    problems.append("".join(diff))
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; exits 1 when anything drifted."""
    configs = [Path(a) for a in (sys.argv[1:] if argv is None else argv)]
    if not configs:
        print("check-flows: no instance configs given", file=sys.stderr)
        return 2
    problems = check(configs)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(
            f"\nThe committed flow JSON does not match what the code builds. "
            f"If the change is intended, run '{REGENERATE}' and commit the result.",
            file=sys.stderr,
        )
        return 1
    print(f"check-flows: {len(configs)} config(s) match their committed JSON")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
