"""``flowgen uow new`` and ``flowgen uow check`` through the real command line."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from flowgen.core.exitcodes import UOW_REFUSED, ExitCode
from flowgen.uow.new import create_uow
from hpc_agent import protocol
from hpc_agent.functions.catalog import to_catalog
from hpc_agent.functions.spec import load_library
from tests.agent.admission_cases import BAD_TYPES, install_functions

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    """The catalogue of an instance publishing ``count`` (every parameter type) and ``broken``."""
    functions = tmp_path / "instance" / "Functions"
    install_functions(functions)
    path = tmp_path / "proj.functions.json"
    path.write_text(json.dumps(to_catalog(load_library(functions), instance="proj")))
    return path


def _run(app: typer.Typer, runner: CliRunner, *argv: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(argv))
    return result.exit_code, result.stdout, result.stderr


# -- new ------------------------------------------------------------------------------


def test_new_with_a_function_writes_every_parameter(
    flowgen_app: typer.Typer, runner: CliRunner, tmp_path: Path, catalog: Path
) -> None:
    uow = tmp_path / "class3d"
    code, out, err = _run(
        flowgen_app,
        runner,
        "uow",
        "new",
        str(uow),
        "--function",
        "count",
        "--catalog",
        str(catalog),
    )
    assert code == ExitCode.OK, err
    assert "fill in input (required)" in out
    assert sorted(p.name for p in uow.iterdir()) == ["data", "job.toml"]
    text = (uow / "job.toml").read_text()
    job = tomllib.loads(text)
    # Defaults are written as values; the required path is there, commented out.
    assert job == {
        "function": "count",
        "params": {
            "extra": "*.txt",
            "label": "run",
            "threads": 2,
            "scale": 1.5,
            "verbose": False,
            "mode": "fast",
            "limit": "30",
        },
    }
    lines = text.splitlines()
    placeholder = next(n for n, line in enumerate(lines) if line.startswith("# input = "))
    assert lines[placeholder - 2] == "# The text file to count, relative to data/"
    assert lines[placeholder - 1] == (
        "# path, required: a path inside data/ whose file name matches '*.txt'."
    )
    assert lines[placeholder].startswith('# input = "input.txt"')
    assert "# int: a whole number from 1 to 8 (default 2)." in lines
    assert "# enum: one of 'fast', 'exact' (default \"fast\")." in lines
    assert '# duration: a Slurm time of at most 1-00:00:00 (default "30").' in lines
    assert "# Counts the lines of the input file." in lines
    # The check names the missing value, and only that (the default glob needs a file).
    (uow / "data" / "input.txt").write_text("a\n")
    code, out, _ = _run(flowgen_app, runner, "uow", "check", str(uow), "--catalog", str(catalog))
    assert code == UOW_REFUSED == 3
    assert "[params] 'input' is required: add `input = ...`" in out
    assert "(1 problem)" in out
    # Filled in, it is admitted.
    (uow / "job.toml").write_text(text.replace("# input = ", "input = ", 1))
    code, out, _ = _run(flowgen_app, runner, "uow", "check", str(uow), "--catalog", str(catalog))
    assert code == ExitCode.OK, out
    assert out.startswith("class3d: the agent would admit it (calls count).")


def test_new_without_a_function_writes_a_script_that_is_admitted(
    flowgen_app: typer.Typer, runner: CliRunner, tmp_path: Path
) -> None:
    uow = tmp_path / "analysis"
    code, out, _ = _run(flowgen_app, runner, "uow", "new", str(uow), "--format", "json")
    assert code == ExitCode.OK
    assert json.loads(out) == {
        "uow": str(uow),
        "kind": "script",
        "function": None,
        "files": ["data/", "scripts/", "scripts/submission_script.sh"],
        "required": [],
    }
    script = (uow / "scripts" / "submission_script.sh").read_text()
    assert script.startswith("#!/bin/bash\n")
    assert "#SBATCH --time=01:00:00" in script and "# #SBATCH --gpus=1" in script
    assert "~/" not in script
    assert os.access(uow / "scripts" / "submission_script.sh", os.X_OK)
    code, out, _ = _run(flowgen_app, runner, "uow", "check", str(uow))
    assert code == ExitCode.OK, out
    assert out == "analysis: the agent would admit it (runs scripts/submission_script.sh).\n"


@pytest.mark.parametrize("kind", ["function", "script"])
@pytest.mark.parametrize("existing", [False, True], ids=["new-folder", "empty-folder"])
def test_new_interrupted_while_writing_leaves_the_folder_as_it_was(
    kind: str, existing: bool, tmp_path: Path, catalog: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C once a file's bytes are written, before they are on disk: the
    # file is written whole (temporary file, then rename) or not at all, and
    # what uow new made goes again, so the same command can be run again.
    uow = tmp_path / "analysis"
    if existing:
        uow.mkdir()
    function, library = (
        ("count", load_library(tmp_path / "instance" / "Functions"))
        if kind == "function"
        else (None, None)
    )

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", interrupted)
        with pytest.raises(KeyboardInterrupt):
            create_uow(uow, function=function, library=library)
    assert sorted(tmp_path.iterdir()) == sorted(
        [tmp_path / "instance", tmp_path / "proj.functions.json", *([uow] if existing else [])]
    )
    if existing:
        assert list(uow.iterdir()) == []
    made = create_uow(uow, function=function, library=library)
    written = uow / made.files[-1]
    assert written.read_text(encoding="utf-8")
    assert [str(p.relative_to(uow)) for p in sorted(uow.rglob("*"))] == [
        f.rstrip("/") for f in made.files
    ]  # and no temporary file
    assert os.access(written, os.X_OK) is (kind == "script")


def test_new_accepts_an_empty_folder_and_refuses_a_non_empty_one(
    flowgen_app: typer.Typer, runner: CliRunner, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run(flowgen_app, runner, "uow", "new", str(empty))[0] == ExitCode.OK
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine")
    code, out, err = _run(flowgen_app, runner, "uow", "new", str(full))
    assert code == ExitCode.USAGE
    assert "is not empty" in err and out == ""
    assert [p.name for p in full.iterdir()] == ["notes.txt"]
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert _run(flowgen_app, runner, "uow", "new", str(afile))[0] == ExitCode.USAGE


def test_new_with_an_unknown_function_lists_the_catalogue(
    flowgen_app: typer.Typer, runner: CliRunner, tmp_path: Path, catalog: Path
) -> None:
    uow = tmp_path / "x"
    argv = ["uow", "new", str(uow), "--catalog", str(catalog), "--function"]
    code, _, err = _run(flowgen_app, runner, *argv, "cuont")
    assert code == ExitCode.USAGE
    assert err == (
        "Error: the catalogue has no function 'cuont' (did you mean 'count'?); its functions "
        "are: count\n"
    )
    assert not uow.exists()
    code, _, err = _run(flowgen_app, runner, *argv, "broken")
    assert code == ExitCode.USAGE and "is broken on the instance" in err
    code, _, err = _run(flowgen_app, runner, "uow", "new", str(uow), "--function", "count")
    assert code == ExitCode.USAGE and "--catalog" in err


def test_a_bad_catalogue_is_a_usage_error(
    flowgen_app: typer.Typer, runner: CliRunner, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "something-else/2", "functions": []}))
    code, _, err = _run(
        flowgen_app, runner, "uow", "new", str(tmp_path / "u"), "--catalog", str(bad)
    )
    assert code == ExitCode.USAGE
    assert "not a FlowCron functions catalogue" in err
    code, _, err = _run(
        flowgen_app, runner, "uow", "check", str(tmp_path), "--catalog", str(tmp_path / "none.json")
    )
    assert code == ExitCode.USAGE and "no such file" in err


# -- check ----------------------------------------------------------------------------


def _script_uow(root: Path, script: str = "#!/bin/bash\n#SBATCH -t 5\necho hi\n") -> Path:
    uow = root / "sample"
    (uow / "data").mkdir(parents=True)
    (uow / "scripts").mkdir()
    (uow / "scripts" / "submission_script.sh").write_text(script)
    return uow


def test_check_exit_codes_and_json_shape(
    flowgen_app: typer.Typer, runner: CliRunner, tmp_path: Path
) -> None:
    uow = _script_uow(tmp_path, "#!/bin/bash\n#SBATCH -o mine.out\ncd $HOME\n")
    code, out, _ = _run(flowgen_app, runner, "uow", "check", str(uow), "--format", "json")
    assert code == 3
    report = json.loads(out)
    assert list(report) == [
        "uow", "admitted", "kind", "function", "script", "problems", "notes", "instance", "hints"
    ]  # fmt: skip
    assert report["uow"] == str(uow)
    assert report["admitted"] is False
    assert report["kind"] == "script" and report["function"] is None
    assert report["script"] == "scripts/submission_script.sh"
    assert len(report["problems"]) == 1 and "uses $HOME or $USER (line 3)" in report["problems"][0]
    assert len(report["notes"]) == 1 and "Line 2 (#SBATCH -o mine.out)" in report["notes"][0]
    assert report["instance"] == {"name": "local-check", "run_policy": "both"}
    code, out, _ = _run(flowgen_app, runner, "uow", "check", str(uow))
    assert code == 3
    assert out.splitlines()[0] == "sample: the agent would refuse it (1 problem):"
    assert "Notes the report would carry:" in out
    (uow / "scripts" / "submission_script.sh").write_text("#!/bin/bash\n#SBATCH -t 5\necho hi\n")
    code, out, _ = _run(flowgen_app, runner, "uow", "check", str(uow), "-F", "json")
    assert code == 0
    assert json.loads(out)["admitted"] is True and json.loads(out)["problems"] == []


def test_check_never_reports_the_upload_state(
    flowgen_app: typer.Typer, runner: CliRunner, tmp_path: Path
) -> None:
    # No sentinels/, nothing changed for a year: an unfinished upload on the HPC,
    # an ordinary folder here.
    uow = _script_uow(tmp_path)
    old = time.time() - 365 * 86400
    for path in [uow, *uow.rglob("*")]:
        os.utime(path, (old, old))
    code, out, _ = _run(flowgen_app, runner, "uow", "check", str(uow), "-F", "json")
    assert code == ExitCode.OK, out
    assert "sentinels" not in out and "upload" not in out
    assert not (uow / "sentinels").exists()


def test_check_of_a_folder_that_does_not_exist(
    flowgen_app: typer.Typer, runner: CliRunner, tmp_path: Path
) -> None:
    code, _, err = _run(flowgen_app, runner, "uow", "check", str(tmp_path / "nope"))
    assert code == ExitCode.USAGE and "no such folder" in err


def test_a_function_uow_with_every_kind_of_parameter_problem(
    flowgen_app: typer.Typer, runner: CliRunner, tmp_path: Path, catalog: Path
) -> None:
    uow = tmp_path / "call"
    (uow / "data").mkdir(parents=True)
    (uow / "data" / "input.csv").write_text("x\n")
    job = (
        BAD_TYPES.replace("input = 7", 'input = "input.csv"')  # wrong file name
        + "threds = 3\n"  # not a parameter
    )
    (uow / "job.toml").write_text(job)
    code, out, _ = _run(
        flowgen_app, runner, "uow", "check", str(uow), "--catalog", str(catalog), "-F", "json"
    )
    assert code == 3
    report = json.loads(out)
    assert report["kind"] == "function" and report["function"] == "count"
    problems = "\n".join(report["problems"])
    for fragment in (
        "'threds' is not a parameter of this function (did you mean 'threads'?)",
        "input: 'input.csv' does not match '*.txt'",
        "extra: expected a path in quotes",
        "label: expected text in quotes, got 5",
        "threads: expected a whole number (no quotes), got '2'",
        "scale: expected a number (no quotes), got 'x'",
        "verbose: expected true or false (no quotes), got 'yes'",
        "mode: 'quick' is not allowed",
        'limit: expected a Slurm time such as "1:30:00"',
    ):
        assert fragment in problems, fragment
    assert len(report["problems"]) == 9
    # Out of range, against the pattern, too long, missing, outside data/.
    (uow / "job.toml").write_text(
        'function = "count"\n[params]\ninput = "../x.txt"\nlabel = "Run"\n'
        'threads = 0\nscale = 11.0\nlimit = "2-00"\nextra = "nothing/*.txt"\n'
    )
    code, out, _ = _run(flowgen_app, runner, "uow", "check", str(uow), "--catalog", str(catalog))
    assert code == 3
    for fragment in (
        "goes outside data/",
        "does not match the pattern '[a-z]+'",
        "0 is too small: use a whole number from 1 to 8",
        "11.0 is too large",
        "2-00 is too large",
        "matches nothing in data/",
    ):
        assert fragment in out, fragment
    # Without the catalogue the parameters cannot be checked: a usage error, not a verdict.
    code, _, err = _run(flowgen_app, runner, "uow", "check", str(uow))
    assert code == ExitCode.USAGE and "--catalog" in err


def test_instance_config_run_policy_functions_refuses_a_script_uow(
    flowgen_app: typer.Typer, runner: CliRunner, tmp_path: Path, catalog: Path
) -> None:
    uow = _script_uow(tmp_path)
    config = tmp_path / "flowcron.toml"
    config.write_text('name = "proj"\nrun_policy = "functions"\naccount = "acct"\n')
    argv = ["uow", "check", str(uow), "--instance-config", str(config)]
    code, out, _ = _run(flowgen_app, runner, *argv, "--catalog", str(catalog), "-F", "json")
    assert code == 3
    report = json.loads(out)
    assert report["instance"] == {"name": "proj", "run_policy": "functions"}
    assert len(report["problems"]) == 1
    assert "runs only its published functions" in report["problems"][0]
    assert "count (Counts the lines of text files)" in report["problems"][0]
    assert report["hints"] == []
    code, out, _ = _run(flowgen_app, runner, *argv)
    assert code == 3 and "No --catalog was given" in out
    # The same folder on an instance that runs both is admitted.
    config.write_text('name = "proj"\nrun_policy = "both"\n')
    assert _run(flowgen_app, runner, *argv)[0] == ExitCode.OK


def test_instance_config_from_setups_instance_file(
    flowgen_app: typer.Typer, runner: CliRunner, tmp_path: Path
) -> None:
    # flowcron-instance.toml gives the name and the base path: a cd into the
    # instance is fine, a cd elsewhere is warned about, as on the HPC.
    uow = _script_uow(tmp_path, "#!/bin/bash\n#SBATCH -t 5\ncd /project/proj/fc/x\ncd /scratch\n")
    instance = tmp_path / "flowcron-instance.toml"
    instance.write_text('name = "proj"\nbase_path = "/project/proj/fc"\n')
    argv = ["uow", "check", str(uow), "--instance-config", str(instance), "-F", "json"]
    code, out, _ = _run(flowgen_app, runner, *argv)
    assert code == ExitCode.OK
    report = json.loads(out)
    assert report["instance"]["name"] == "proj"
    assert [n for n in report["notes"] if "changes to" in n] == [
        next(n for n in report["notes"] if "'/scratch'" in n)
    ]
    instance.write_text('name = "proj"\nbase_path = "relative/path"\n')
    code, _, err = _run(flowgen_app, runner, *argv)
    assert code == ExitCode.USAGE and "base_path" in err
    bad = tmp_path / "flowcron.toml"
    bad.write_text('name = "proj"\nrun_policy = "everything"\n')
    code, _, err = _run(
        flowgen_app, runner, "uow", "check", str(uow), "--instance-config", str(bad)
    )
    assert code == ExitCode.USAGE and "run_policy" in err


def test_uow_is_a_command_group_with_help(flowgen_app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(flowgen_app, ["uow", "--help"])
    assert result.exit_code == 0
    assert "new" in result.stdout and "check" in result.stdout
    assert protocol.JOB_FILE in runner.invoke(flowgen_app, ["uow", "new", "--help"]).stdout
