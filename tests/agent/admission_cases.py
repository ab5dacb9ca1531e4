"""The admission corpus as one shared list: every case the agent's admission is tested on.

``tests/agent/test_admission.py`` holds the malformed uploads (``CASES``);
this module takes them as they are (imported, not copied), adds the valid
variants and the calls of published functions (``job.toml``), and gives each
case its expected verdict. ``tests/uow/test_check_parity.py`` runs every case
through both ``flowgen uow check`` and the agent's admission of the uploaded
copy and asserts the same verdict, problem for problem.

A builder takes ``(parent, make_uow)`` and returns the UoW's path; it builds
the folder as the *researcher* has it when ``make_uow`` makes no
``sentinels/`` (the parity test's does not; the agent's tests' does).
Function cases run on an instance whose ``Functions/`` holds
:data:`FUNCTIONS` (:func:`install_functions`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from tests.agent.helpers import MakeUow
from tests.agent.test_admission import CASES as MALFORMED_CASES

Builder = Callable[[Path, MakeUow], Path]


@dataclass(frozen=True)
class AdmissionCase:
    """One folder and what the agent decides about it."""

    id: str
    build: Builder
    admitted: bool
    phrase: str | None = None
    """A phrase one of the problems holds (refused) or one of the notes holds (admitted)."""
    changes: Mapping[str, object] = field(default_factory=dict)
    """Changes to the instance's settings (``InstanceConfig`` fields)."""
    functions: bool = False
    """The instance needs :data:`FUNCTIONS` published (and the check their catalogue)."""
    upload_state: bool = False
    """The verdict is about the upload's progress (no ``sentinels/`` yet, for too long):
    the flow's business, so ``flowgen uow check`` (``upload_complete=True``) does not
    judge it. A ``sentinels`` that is a file or a link is the folder's own problem,
    and both sides report it."""


UPLOAD_STATE_CASES: Final = frozenset({"upload-stale"})

# -- published functions ------------------------------------------------------------

COUNT_TOML: Final = """\
name = "count"
version = "1.0.0"
description = "Counts the lines of text files"
help = "Counts the lines of the input file.\\nThe result is written next to it."

[site]
tool = "wc"

[params.input]
type = "path"
match = "*.txt"
help = "The text file to count, relative to data/"

[params.extra]
type = "path"
glob = true
match = "*.txt"
default = "*.txt"
help = "More files to count"

[params.label]
type = "string"
pattern = "[a-z]+"
max_length = 12
default = "run"
help = "A label for the output file"

[params.threads]
type = "int"
default = 2
min = 1
max = 8

[params.scale]
type = "float"
default = 1.5
min = 0.0
max = 10.0

[params.verbose]
type = "bool"
default = false

[params.mode]
type = "enum"
choices = ["fast", "exact"]
default = "fast"

[params.limit]
type = "duration"
default = "30"
max = "1-00"

[resources]
time = "{limit}"
cpus = "{threads}"
memory = "1G"
"""
COUNT_TEMPLATE: Final = '#!/bin/bash\nset -euo pipefail\n"$tool" -l "$input" > "data/$label.out"\n'
BROKEN_TOML: Final = (
    'name = "broken"\nversion = "1"\ndescription = "broken"\n[params.x]\ntype = "list"\n'
)

FUNCTIONS: Final = {"count": (COUNT_TOML, COUNT_TEMPLATE), "broken": (BROKEN_TOML, "#!/bin/bash\n")}
"""Function folders of the instance: name -> (function.toml, template.sh)."""


def install_functions(functions_dir: Path) -> None:
    """Publish :data:`FUNCTIONS` into ``functions_dir`` (``<base>/Functions``)."""
    for name, (toml, template) in FUNCTIONS.items():
        folder = functions_dir / name
        folder.mkdir(parents=True)
        (folder / "function.toml").write_text(toml)
        (folder / "template.sh").write_text(template)


def call(
    job: str | bytes, *, scripts: bool = False, files: Mapping[str, str] | None = None
) -> Builder:
    """A builder of a UoW that calls a function with ``job`` as its ``job.toml``."""

    def build(parent: Path, mk: MakeUow) -> Path:
        uow = mk(parent, script="#!/bin/bash\n#SBATCH -t 1\necho mine\n" if scripts else None)
        if not scripts:
            (uow / "scripts").rmdir()
        for name, text in (files or {}).items():
            (uow / "data" / name).parent.mkdir(parents=True, exist_ok=True)
            (uow / "data" / name).write_text(text)
        target = uow / "job.toml"
        target.write_bytes(job if isinstance(job, bytes) else job.encode("utf-8"))
        return uow

    return build


def _linked_input(parent: Path, mk: MakeUow) -> Path:
    uow = call('function = "count"\n[params]\ninput = "hosts.txt"\n')(parent, mk)
    (uow / "data" / "hosts.txt").symlink_to("/etc/hostname")
    return uow


def _plain(parent: Path, mk: MakeUow) -> Path:
    return mk(parent)


def _crlf(parent: Path, mk: MakeUow) -> Path:
    return mk(parent, script=b"#!/bin/bash\r\n#SBATCH --time=1\r\necho hi\r\n")


def _bom(parent: Path, mk: MakeUow) -> Path:
    return mk(parent, script="\ufeff#!/bin/bash\n#SBATCH -t 1\necho hi\n", script_name="job.sh")


def _overrides(parent: Path, mk: MakeUow) -> Path:
    script = (
        "#!/bin/bash\n#SBATCH --output=my.out\n#SBATCH -D/somewhere\n#SBATCH -A other\necho hi\n"
    )
    return mk(parent, script=script)


def _inner_links(parent: Path, mk: MakeUow) -> Path:
    uow = mk(parent)
    (uow / "data" / "alias.txt").symlink_to("input.txt")
    (uow / "results").symlink_to("data")
    return uow


def _risky(parent: Path, mk: MakeUow) -> Path:
    return mk(parent, script="#!/bin/bash\n#SBATCH -t 1\nconda activate env\ncp ~/x data/\n")


def _home_comment(parent: Path, mk: MakeUow) -> Path:
    return mk(parent, script="#!/bin/bash\n#SBATCH -t 1\n# not $HOME\necho $HOMEDIR\n")


def _user_report(parent: Path, mk: MakeUow) -> Path:
    uow = mk(parent)
    (uow / "flowcron-report.json").write_text("{}")
    return uow


def _backslash_name(parent: Path, mk: MakeUow) -> Path:
    return mk(parent, name="back\\slash")


GOOD_CALL: Final = 'function = "count"\n\n[params]\ninput = "input.txt"\n'
ALL_VALUES: Final = """\
function = "count"

[params]
input = "input.txt"
extra = "more/*.txt"
label = "abc"
threads = 8
scale = 10
verbose = true
mode = "exact"
limit = "1-00"
"""
BAD_TYPES: Final = """\
function = "count"

[params]
input = 7
extra = false
label = 5
threads = "2"
scale = "x"
verbose = "yes"
mode = "quick"
limit = "forever"
"""
BAD_VALUES: Final = """\
function = "count"

[params]
input = "input.csv"
label = "Run 1"
threads = 99
scale = -1.0
limit = "2-00"
"""

VALID_CASES: Final = [
    AdmissionCase("plain", _plain, True),
    AdmissionCase("crlf", _crlf, True, "CRLF"),
    AdmissionCase("byte-order-mark", _bom, True, "byte-order mark"),
    AdmissionCase("overrides-noted", _overrides, True, "is overridden"),
    AdmissionCase("links-inside", _inner_links, True),
    AdmissionCase("risky-lines-warned", _risky, True, "Warning: "),
    AdmissionCase("home-in-comment", _home_comment, True),
]
MORE_REFUSED: Final = [
    AdmissionCase(
        "risky-lines-refused",
        _risky,
        False,
        "refuses such scripts",
        changes={"risky_script_policy": "reject"},
    ),
    AdmissionCase("user-report-file", _user_report, False, "is the name of the report"),
    AdmissionCase("backslash-name", _backslash_name, False, "contains '\\'"),
]
_CALLS: Final = [
    AdmissionCase("call", call(GOOD_CALL), True, "called the function 'count'"),
    AdmissionCase(
        "call-every-value",
        call(ALL_VALUES, files={"more/a.txt": "x\n"}),
        True,
        "called the function 'count'",
    ),
    AdmissionCase("call-and-scripts", call(GOOD_CALL, scripts=True), True, "has both"),
    AdmissionCase(
        "call-missing-required", call('function = "count"\n[params]\n'), False, "is required"
    ),
    AdmissionCase(
        "call-unknown-param",
        call(GOOD_CALL + "thread = 4\n"),
        False,
        "did you mean 'threads'",
    ),
    AdmissionCase("call-bad-types", call(BAD_TYPES), False, "expected a whole number"),
    AdmissionCase(
        "call-bad-values", call(BAD_VALUES, files={"input.csv": "x\n"}), False, "too large"
    ),
    AdmissionCase(
        "call-control-char",
        call(GOOD_CALL + 'label = "ab\\u0007"\n'),
        False,
        "control character",
    ),
    AdmissionCase(
        "call-too-long", call(GOOD_CALL + 'label = "abcdefghijklmnop"\n'), False, "at most 12"
    ),
    AdmissionCase(
        "call-missing-file",
        call('function = "count"\n[params]\ninput = "nope.txt"\n'),
        False,
        "does not exist",
    ),
    AdmissionCase(
        "call-absolute-path",
        call('function = "count"\n[params]\ninput = "/etc/hosts.txt"\n'),
        False,
        "is absolute",
    ),
    AdmissionCase(
        "call-outside-path",
        call('function = "count"\n[params]\ninput = "../x.txt"\n'),
        False,
        "goes outside data/",
    ),
    AdmissionCase(
        "call-data-prefix",
        call('function = "count"\n[params]\ninput = "data/input.txt"\n'),
        False,
        "starts with 'data/'",
    ),
    AdmissionCase("call-linked-outside", _linked_input, False, "outside data/"),
    AdmissionCase(
        "call-glob-nothing",
        call(GOOD_CALL + 'extra = "none/*.txt"\n'),
        False,
        "matches nothing",
    ),
    AdmissionCase(
        "call-unknown-function",
        call('function = "cuont"\n[params]\n'),
        False,
        "did you mean 'count'",
    ),
    AdmissionCase(
        "call-broken-function", call('function = "broken"\n[params]\n'), False, "is broken"
    ),
    AdmissionCase(
        "call-no-function", call('[params]\ninput = "input.txt"\n'), False, 'function = "NAME"'
    ),
    AdmissionCase("call-not-toml", call("function = \n"), False, "is not valid TOML"),
    AdmissionCase("call-not-utf8", call(b'function = "caf\xe9"\n'), False, "is not UTF-8 text"),
    AdmissionCase(
        "call-unknown-key",
        call(GOOD_CALL.replace("[params]", "[parms]")),
        False,
        "unknown key 'parms'",
    ),
    AdmissionCase(
        "policy-scripts-refuses-call",
        call(GOOD_CALL),
        False,
        "runs only job scripts",
        changes={"run_policy": "scripts"},
    ),
    AdmissionCase(
        "policy-functions-refuses-script",
        _plain,
        False,
        "runs only its published functions",
        changes={"run_policy": "functions"},
    ),
    AdmissionCase(
        "policy-functions-admits-call",
        call(GOOD_CALL),
        True,
        "called the function 'count'",
        changes={"run_policy": "functions"},
    ),
]
FUNCTION_CASES: Final = [replace(case, functions=True) for case in _CALLS]

CASES: Final = [
    *(
        AdmissionCase(
            case_id,
            builder,
            False,
            phrase,
            changes,
            upload_state=case_id in UPLOAD_STATE_CASES,
        )
        for case_id, builder, changes, phrase in MALFORMED_CASES
    ),
    *VALID_CASES,
    *MORE_REFUSED,
    *FUNCTION_CASES,
]
"""Every admission case: the malformed uploads of test_admission.py, then the rest."""
