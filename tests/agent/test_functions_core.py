"""Published functions: parameter checks, function folders, rendering and the catalogue."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hpc_agent.functions.call import prepare_call
from hpc_agent.functions.catalog import library_from_catalog, to_catalog
from hpc_agent.functions.params import Param, check_value, check_values
from hpc_agent.functions.spec import FunctionError, load_function, load_library

FUNCTION_TOML = """\
name = "demo"
version = "1.2.0"
description = "A demonstration function"
help = "Counts the lines of a file."

[site]
tool = "wc"

[params.input]
type = "path"
match = "*.txt"
help = "The text file to count"

[params.label]
type = "string"
pattern = "[a-z]+"
default = "run"

[params.threads]
type = "int"
default = 2
min = 1
max = 8

[params.scale]
type = "float"
default = 1.5
min = 0.0

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

TEMPLATE = '#!/bin/bash\nset -euo pipefail\n"$tool" -l "$input" > "counted-$label.txt"\n'


def make_function(root: Path, toml: str = FUNCTION_TOML, template: str = TEMPLATE) -> Path:
    folder = root / "Functions" / "demo"
    folder.mkdir(parents=True)
    (folder / "function.toml").write_text(toml)
    (folder / "template.sh").write_text(template)
    return folder


def make_call(root: Path, job: str, files: dict[str, str] | None = None) -> Path:
    uow = root / "uow"
    (uow / "data").mkdir(parents=True)
    for name, text in (files or {"in.txt": "a\nb\n"}).items():
        (uow / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        (uow / "data" / name).write_text(text)
    (uow / "job.toml").write_text(job)
    return uow


# -- parameters ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "raw", "value"),
    [
        (Param("n", "int", minimum=1, maximum=3), 3, 3),
        (Param("x", "float"), 2, 2.0),
        (Param("b", "bool"), True, True),
        (Param("e", "enum", choices=("a", "b")), "b", "b"),
        (Param("d", "duration"), "1:30:00", "1:30:00"),
        (Param("d", "duration"), 90, "1:30:00"),
        (Param("d", "duration"), "2-00", "2-00:00:00"),
        (Param("s", "string", pattern="[A-Z][0-9]*"), "C12", "C12"),
    ],
)
def test_good_values_are_kept_in_the_form_the_script_gets(
    param: Param, raw: object, value: object
) -> None:
    assert check_value(param, raw, None) == (value, None)


@pytest.mark.parametrize(
    ("param", "raw", "fragment"),
    [
        (Param("n", "int", minimum=1, maximum=3), 4, "too large: use a whole number from 1 to 3"),
        (Param("n", "int"), True, "expected a whole number"),
        (Param("n", "int"), "3", "expected a whole number (no quotes)"),
        (Param("x", "float"), float("nan"), "finite"),
        (Param("b", "bool"), "yes", "expected true or false"),
        (Param("e", "enum", choices=("fast", "exact")), "fats", "did you mean 'fast'?"),
        (Param("d", "duration"), "soon", "Slurm time"),
        (Param("d", "duration"), "UNLIMITED", "Slurm time"),
        (Param("s", "string"), "two\nlines", "control character"),
        (Param("s", "string"), "nul\0", "control character"),
        (Param("s", "string", max_length=4), "12345", "at most 4"),
        (Param("s", "string", pattern="[a-z]+"), "ABC", "does not match the pattern"),
        (Param("p", "path"), "/etc/passwd", "is absolute"),
        (Param("p", "path"), "~/x", "is absolute"),
        (Param("p", "path"), "../x", "goes outside data/"),
        (Param("p", "path"), "data/x", "relative to data/ already"),
        (Param("p", "path", match="*.star"), "a.txt", "does not match '*.star'"),
    ],
)
def test_bad_values_say_what_to_write_instead(param: Param, raw: object, fragment: str) -> None:
    value, problem = check_value(param, raw, None)
    assert value is None and problem is not None and fragment in problem


def test_paths_must_exist_inside_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "ok.txt").write_text("x")
    (tmp_path / "secret.txt").write_text("x")
    (data / "out.txt").symlink_to(tmp_path / "secret.txt")
    param = Param("p", "path")
    assert check_value(param, "ok.txt", data) == ("data/ok.txt", None)
    assert "does not exist" in str(check_value(param, "missing.txt", data)[1])
    assert "outside data/" in str(check_value(param, "out.txt", data)[1])
    glob = Param("p", "path", glob=True, match="*.txt")
    assert check_value(glob, "*.txt", data) == ("data/*.txt", None)
    assert "matches nothing" in str(check_value(glob, "*.mrc", data)[1])


def test_every_problem_of_a_params_table_at_once() -> None:
    params = [Param("threads", "int", minimum=1), Param("label", "string", default="x")]
    checked = check_values(params, {"thread": 2, "label": 5}, None)
    assert checked.values == {}
    assert len(checked.problems) == 3
    assert "'thread' is not a parameter" in checked.problems[0]
    assert "did you mean 'threads'?" in checked.problems[0]
    assert "'threads' is required" in checked.problems[1]
    assert checked.problems[2].startswith("[params] label: expected text")


# -- function folders ------------------------------------------------------------


def test_a_good_function_loads_with_its_declared_order(tmp_path: Path) -> None:
    function = load_function(make_function(tmp_path))
    assert (function.name, function.version) == ("demo", "1.2.0")
    assert [p.name for p in function.params] == [
        "input",
        "label",
        "threads",
        "scale",
        "verbose",
        "mode",
        "limit",
    ]
    assert function.site == {"tool": "wc"}
    assert len(function.sha256) == 64


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (('version = "1.2.0"', 'version = "1 2"'), "function.toml, line 2: version '1 2'"),
        (('type = "int"', 'type = "integer"'), "line 20: type 'integer'"),
        (('time = "{limit}"', 'time = "{limt}"'), "'{limt}' names no parameter"),
        (('memory = "1G"', 'memory = "lots"'), "memory 'lots'"),
        (("default = 2\n", "default = 20\n"), "the default: 20 is too large"),
        (('[site]\ntool = "wc"', '[site]\nthreads = "wc"'), "both a site setting and a parameter"),
        (('name = "demo"', 'name = "other"'), "is not the folder's name"),
        (("[resources]", "colour = 1\n[resources]"), "unknown key 'colour'"),
    ],
)
def test_a_broken_function_names_the_line_to_fix(
    tmp_path: Path, change: tuple[str, str], fragment: str
) -> None:
    folder = make_function(tmp_path, FUNCTION_TOML.replace(*change, 1))
    with pytest.raises(FunctionError) as caught:
        load_function(folder)
    assert any(fragment in problem for problem in caught.value.problems), caught.value.problems


def test_templates_may_not_carry_sbatch_lines(tmp_path: Path) -> None:
    folder = make_function(tmp_path, template="#!/bin/bash\n#SBATCH --time=99\necho\n")
    with pytest.raises(FunctionError, match=r"template\.sh, line 2: #SBATCH lines do not belong"):
        load_function(folder)


def test_extra_options_may_not_redirect_output(tmp_path: Path) -> None:
    toml = FUNCTION_TOML.replace('memory = "1G"', 'memory = "1G"\nextra = ["--output=/tmp/x"]')
    with pytest.raises(FunctionError, match="not one #SBATCH option FlowCron lets"):
        load_function(make_function(tmp_path, toml))


def test_a_broken_function_does_not_hide_the_others(tmp_path: Path) -> None:
    make_function(tmp_path)
    broken = tmp_path / "Functions" / "broken"
    broken.mkdir()
    (broken / "function.toml").write_text("name = [")
    library = load_library(tmp_path / "Functions")
    assert list(library.functions) == ["demo"]
    assert list(library.broken) == ["broken"] and "not valid TOML" in library.broken["broken"][0]
    assert library.names() == ["broken", "demo"]


# -- calls and rendering ---------------------------------------------------------


def test_a_call_renders_the_same_bytes_every_time(tmp_path: Path) -> None:
    make_function(tmp_path)
    uow = make_call(tmp_path, 'function = "demo"\n[params]\ninput = "in.txt"\nthreads = 4\n')
    library = load_library(tmp_path / "Functions")
    first, problems = prepare_call(uow, library)
    assert problems == [] and first is not None and first.rendered is not None
    again, _ = prepare_call(uow, load_library(tmp_path / "Functions"))
    assert again is not None and again.rendered == first.rendered
    script = first.rendered.script
    assert script.startswith("#!/bin/bash\n")
    assert "#SBATCH --time=0:30:00\n#SBATCH --cpus-per-task=4\n#SBATCH --mem=1G\n" in script
    assert "input=data/in.txt\n" in script and "verbose=false\n" in script
    assert first.describe()["params"]["threads"] == 4
    assert first.describe()["resources"] == {"time": "0:30:00", "cpus": 4, "memory": "1G"}


def test_the_rendered_script_runs_the_template_with_the_values_intact(tmp_path: Path) -> None:
    make_function(tmp_path, template='#!/bin/bash\nprintf "%s\\n" "$label" "$input"\n')
    toml_label = "'; touch pwned; echo '"  # a TOML literal string: no escapes needed
    job = f'function = "demo"\n[params]\ninput = "in.txt"\nlabel = "{toml_label}"\n'
    toml = FUNCTION_TOML.replace('pattern = "[a-z]+"\n', "")
    (tmp_path / "Functions" / "demo" / "function.toml").write_text(toml)
    uow = make_call(tmp_path, job)
    call, problems = prepare_call(uow, load_library(tmp_path / "Functions"))
    assert problems == [] and call is not None and call.rendered is not None
    (uow / "job.sh").write_text(call.rendered.script)
    out = subprocess.run(
        ["bash", "job.sh"], cwd=uow, capture_output=True, text=True, check=True, timeout=30
    )
    assert out.stdout == f"{toml_label}\ndata/in.txt\n"
    assert not (uow / "pwned").exists()


def test_calls_report_unknown_and_broken_functions(tmp_path: Path) -> None:
    make_function(tmp_path)
    (tmp_path / "Functions" / "broken").mkdir()
    uow = make_call(tmp_path, 'function = "dem"\n')
    library = load_library(tmp_path / "Functions")
    _, problems = prepare_call(uow, library)
    assert "no function 'dem'" in problems[0] and "did you mean 'demo'?" in problems[0]
    assert "Its functions are: broken, demo." in problems[0]
    (uow / "job.toml").write_text('function = "broken"\n')
    _, problems = prepare_call(uow, library)
    assert "'broken' is broken on this instance" in problems[0]
    (uow / "job.toml").write_text('functoin = "demo"\n[params]\nx = 1\n')
    _, problems = prepare_call(uow, library)
    assert any("did you mean 'function'?" in p for p in problems)
    assert any('add function = "NAME"' in p for p in problems)


def test_a_value_that_cannot_be_a_resource_names_the_parameter(tmp_path: Path) -> None:
    toml = FUNCTION_TOML.replace("min = 1\nmax = 8", "min = 0\nmax = 8")
    make_function(tmp_path, toml)
    uow = make_call(tmp_path, 'function = "demo"\n[params]\ninput = "in.txt"\nthreads = 0\n')
    _, problems = prepare_call(uow, load_library(tmp_path / "Functions"))
    assert problems == [
        "[params] threads: cannot be the job's cpus 0: use a whole number of at least 1"
    ]


# -- the catalogue ---------------------------------------------------------------


def test_the_catalogue_checks_calls_as_the_instance_does(tmp_path: Path) -> None:
    make_function(tmp_path)
    library = load_library(tmp_path / "Functions")
    document = json.loads(json.dumps(to_catalog(library, instance="lab")))
    entry = document["functions"][0]
    # The template and the site settings stay on the HPC.
    assert not {"template", "site"} & set(entry) and '"tool"' not in json.dumps(document)
    schema = entry["params_schema"]
    assert schema["required"] == ["input"]
    assert schema["properties"]["threads"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 8,
        "default": 2,
    }
    from_catalog = library_from_catalog(document)
    for job in (
        'function = "demo"\n[params]\ninput = "in.txt"\nthreads = 9\nlimit = "2-00"\n',
        'function = "demo"\n[params]\ninput = "in.txt"\n',
    ):
        uow = make_call(tmp_path / str(len(job)), job)
        here = prepare_call(uow, library)
        there = prepare_call(uow, from_catalog)
        assert here[1] == there[1]
        if here[0] is not None:
            assert there[0] is not None and there[0].describe() == here[0].describe()
            assert there[0].rendered is None
