"""Build ``hpc-agent.pyz``: the HPC agent as one file, run as ``python3 hpc-agent.pyz ...``.

Usage: ``python scripts/build_zipapp.py [OUTPUT]`` (``make zipapp`` writes
``dist/hpc-agent.pyz``). Run it with an interpreter that has ``tomli`` and
``jmespath`` installed (the dev venv: ``make install``).

The archive is made with the standard :mod:`zipapp` module from a staging
directory holding:

- the ``hpc_agent`` package from this checkout, without ``__pycache__``;
- a ``__main__.py`` that checks the Python version and runs the agent;
- ``tomli`` (the agent reads TOML with it on Python 3.10 only; 3.11 has
  ``tomllib``) and ``jmespath`` (``--jmespath``), their pure-Python sources
  and licences only: an installed copy may be compiled (tomli's wheels are
  built with mypyc) and a compiled module neither loads from a zip nor
  fits another Python version.

Login nodes often have only the system Python and no internet access, so the
archive needs nothing else: copy it there and run it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import sys
import tempfile
import zipapp
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "dist" / "hpc-agent.pyz"
INTERPRETER = "/usr/bin/env python3"
VENDORED = ("tomli", "jmespath")
"""Distributions bundled beside hpc_agent, each providing the package of the same name."""

MAIN = '''\
"""hpc-agent.pyz: FlowCron's HPC agent in one file (scripts/build_zipapp.py made it)."""

import sys

# Kept to syntax every Python 3 parses, so an old interpreter gets this message.
if sys.version_info < (3, 10):
    sys.stderr.write(
        "hpc-agent needs Python 3.10 or newer; this is Python %d.%d (%s). "
        "Run it with a newer python3, e.g. `module load python` first.\\n"
        % (sys.version_info[0], sys.version_info[1], sys.executable)
    )
    sys.exit(2)

from hpc_agent.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
'''


class BuildError(Exception):
    """The archive cannot be built; the message says what to do."""


def vendor(name: str, staging: Path) -> list[str]:
    """Copy distribution ``name``'s Python sources and licence into ``staging``; the files copied."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        raise BuildError(
            f"{name} is not installed in {sys.executable}; run `make install` "
            f"(or `pip install {name}`) first"
        ) from None
    copied = []
    for file in dist.files or ():
        parts = file.parts
        is_source = parts[0] == name and (file.suffix == ".py" or file.name == "py.typed")
        is_licence = file.name.upper().startswith(("LICENSE", "LICENCE", "COPYING"))
        if not (is_source or is_licence):
            continue
        target = staging / file if is_source else staging / name / file.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(str(file.locate())), target)
        copied.append(str(target.relative_to(staging)))
    if not (staging / name / "__init__.py").is_file():
        raise BuildError(f"{name} {dist.version} has no Python sources to bundle")
    return sorted(copied)


def stage(staging: Path) -> None:
    """Fill ``staging`` with everything the archive holds."""
    shutil.copytree(
        REPO / "hpc_agent",
        staging / "hpc_agent",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    (staging / "__main__.py").write_text(MAIN, encoding="utf-8")
    for name in VENDORED:
        vendor(name, staging)


def build(output: Path) -> Path:
    """Build the archive at ``output`` (replacing it); its path."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hpc-agent-pyz-") as tmp:
        staging = Path(tmp) / "app"
        staging.mkdir()
        stage(staging)
        partial = output.with_name(output.name + ".tmp")
        zipapp.create_archive(staging, partial, interpreter=INTERPRETER, compressed=True)
        partial.replace(output)  # never a half-written archive under the real name
    return output


def main(argv: list[str] | None = None) -> int:
    """Build the archive; print its path."""
    parser = argparse.ArgumentParser(description="Build hpc-agent.pyz, the agent as one file.")
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    try:
        path = build(args.output.resolve())
    except BuildError as exc:
        print(f"build_zipapp: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
