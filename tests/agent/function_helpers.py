"""Helpers for tests of UoWs that call a published function: a small test function, and calls.

The tests publish their own function (``function.toml`` and ``template.sh``)
rather than depend on the built-in library.
"""

from __future__ import annotations

from pathlib import Path

from hpc_agent import protocol
from hpc_agent.config import toml_value

COUNT_LINES_TOML = """\
name = "count-lines"
version = "1.2.0"
description = "Count the lines of a text file, a few times over"
help = "Writes results/<label>.txt with the line count of the input."

[site]
greeting = "counted on the HPC"

[params.input]
type = "path"
match = "*.txt"
help = "The text file to count, relative to data/"

[params.repeat]
type = "int"
default = 1
min = 1
max = 5

[params.label]
type = "string"
default = "count"
pattern = "[a-z]+"

[params.mode]
type = "enum"
choices = ["lines", "words"]
default = "lines"

[resources]
time = "0:01:00"
memory = "50M"
cpus = 1
"""

COUNT_LINES_TEMPLATE = """\
#!/bin/bash
set -euo pipefail
mkdir -p results
flag=-l
if [ "$mode" = words ]; then flag=-w; fi
for _ in $(seq "$repeat"); do
    wc "$flag" < "$input"
done > "results/$label.txt"
echo "$greeting: $input"
"""


def publish(
    functions_dir: Path,
    name: str = "count-lines",
    *,
    toml: str = COUNT_LINES_TOML,
    template: str | None = COUNT_LINES_TEMPLATE,
) -> Path:
    """Put a function folder ``functions_dir/<name>/`` in place; returns it."""
    folder = functions_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "function.toml").write_text(toml.replace('"count-lines"', f'"{name}"', 1))
    if template is not None:
        (folder / "template.sh").write_text(template)
    return folder


def publish_broken(functions_dir: Path, name: str = "broken-fn") -> Path:
    """A function whose ``function.toml`` has a parameter of an unknown type."""
    toml = COUNT_LINES_TOML.replace('type = "int"', 'type = "integer"', 1)
    return publish(functions_dir, name, toml=toml)


def job_toml(function: str, params: dict[str, object]) -> str:
    """The text of a ``job.toml`` calling ``function`` with ``params``."""
    lines = [f"function = {toml_value(function)}", "", "[params]"]
    lines.extend(f"{key} = {toml_value(value)}" for key, value in params.items())
    return "\n".join(lines) + "\n"


def make_call_uow(
    parent: Path,
    name: str = "sample",
    *,
    function: str = "count-lines",
    params: dict[str, object] | None = None,
    scripts: bool = False,
    sentinels: bool = True,
    data: str = "one\ntwo\nthree\n",
) -> Path:
    """A UoW with ``data/input.txt`` and a ``job.toml`` calling ``function`` (no scripts/)."""
    uow = parent / name
    (uow / protocol.DATA_DIR).mkdir(parents=True)
    (uow / protocol.DATA_DIR / "input.txt").write_text(data)
    given: dict[str, object] = {"input": "input.txt"} if params is None else params
    (uow / protocol.JOB_FILE).write_text(job_toml(function, given))
    if scripts:
        (uow / protocol.SCRIPTS_DIR).mkdir()
        (uow / protocol.SCRIPTS_DIR / protocol.SUBMISSION_SCRIPT).write_text(
            "#!/bin/bash\n#SBATCH --time=00:01:00\necho 'scripts/ ran' > data/scripts-ran.txt\n"
        )
    if sentinels:
        (uow / protocol.SENTINELS_DIR).mkdir()
    return uow
