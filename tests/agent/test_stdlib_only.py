"""hpc_agent runs on a bare login node: importing it loads only the standard library."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import hpc_agent

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import importlib, json, pkgutil, sys
import hpc_agent
before = set(sys.modules)
for info in pkgutil.walk_packages(hpc_agent.__path__, "hpc_agent."):
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)
allowed = set(sys.stdlib_module_names) | {"hpc_agent"}
if sys.version_info < (3, 11):
    allowed.add("tomli")
outside = sorted(
    name for name in sys.modules
    if name.split(".")[0] not in allowed and not name.startswith("_")
)
print(json.dumps(outside))
"""


def test_every_module_imports_only_the_standard_library() -> None:
    modules = {m.name for m in pkgutil.walk_packages(hpc_agent.__path__, "hpc_agent.")}
    expected = {"uow.admission", "config", "loop.eventlog", "uow.report", "site.setup", "cli"}
    assert {f"hpc_agent.{name}" for name in expected} <= modules
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(REPO)!r})\n{PROBE}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
