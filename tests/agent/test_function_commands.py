"""``hpc-agent function ...``: list, show, new, check, render, test and catalog, through main()."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from hpc_agent import protocol
from hpc_agent.cli import main
from hpc_agent.config import InstanceConfig, save_instance
from hpc_agent.executors import slurm
from hpc_agent.functions import admin, builtin
from hpc_agent.functions.catalog import to_catalog
from hpc_agent.functions.render import Rendered
from hpc_agent.functions.spec import load_function, load_library
from tests.slurmbed import SlurmCluster

SPEC = """\
name = "{name}"
version = "1.2.0"
description = "Count the lines of a file"
help = "Counts lines.\\nWrites data/count.txt."

[site]
tool = "wc"

[params.input]
type = "path"
match = "*.txt"
help = "The file to count"

[params.mode]
type = "enum"
choices = ["lines", "words"]
default = "lines"

[params.time]
type = "duration"
default = "0:05:00"
max = "1:00:00"

[resources]
time = "{{time}}"
cpus = 1
memory = "100M"
"""

TEMPLATE = """\
#!/bin/bash
set -euo pipefail
if [ "$mode" = lines ]; then
    "$tool" -l "$input" > data/count.txt
fi
"""

JOB = 'function = "count"\n\n[params]\ninput = "in.txt"\n'


@pytest.fixture
def inst(cfg: InstanceConfig) -> InstanceConfig:
    """A saved instance (its base directory is the INSTANCE argument) with a Functions/ folder."""
    cfg = dataclasses.replace(cfg, executor="local")
    save_instance(cfg)
    cfg.path(protocol.FUNCTIONS).mkdir()
    return cfg


def write_function(
    cfg: InstanceConfig, name: str = "count", spec: str = SPEC, template: str = TEMPLATE
) -> Path:
    folder = cfg.path(protocol.FUNCTIONS) / name
    folder.mkdir()
    (folder / "function.toml").write_text(spec.format(name=name))
    (folder / "template.sh").write_text(template)
    return folder


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["function", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def call_file(tmp_path: Path, text: str = JOB, *, data: bool = True) -> Path:
    uow = tmp_path / "uow"
    uow.mkdir()
    if data:
        (uow / "data").mkdir()
        (uow / "data" / "in.txt").write_text("a\nb\n")
    job = uow / "job.toml"
    job.write_text(text)
    return job


# -- list -------------------------------------------------------------------------


def test_list_without_functions(inst: InstanceConfig, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", str(inst.base_dir))
    assert code == 0
    assert out == f"no functions in {inst.path(protocol.FUNCTIONS)}\n"


def test_list_shows_versions_and_marks_broken_ones(
    inst: InstanceConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    write_function(inst)
    write_function(
        inst, "bad", spec=SPEC.replace('version = "1.2.0"', 'version = "1.2.0"\ncolour = 1')
    )
    code, out, _ = run(capsys, "list", str(inst.base_dir))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("bad    BROKEN: function.toml, line 3: unknown key 'colour'")
    assert lines[1] == "count  1.2.0  Count the lines of a file"
    code, out, _ = run(capsys, "list", str(inst.base_dir), "--format", "json")
    entries = {e["name"]: e for e in json.loads(out)}
    assert entries["count"] == {
        "name": "count",
        "version": "1.2.0",
        "description": "Count the lines of a file",
        "broken": False,
        "problems": [],
    }
    assert entries["bad"]["broken"] is True
    assert entries["bad"]["problems"][0].startswith("function.toml, line 3")


def test_list_notes_a_run_policy_that_does_not_fit(
    inst: InstanceConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    save_instance(dataclasses.replace(inst, run_policy="functions"))
    _, _, err = run(capsys, "list", str(inst.base_dir))
    assert 'run_policy = "functions"' in err
    assert "refuses every UoW" in err
    write_function(inst)
    save_instance(dataclasses.replace(inst, run_policy="scripts"))
    code, _, err = run(capsys, "list", str(inst.base_dir))
    assert code == 0
    assert 'run_policy = "scripts"' in err
    save_instance(dataclasses.replace(inst, run_policy="both"))
    assert run(capsys, "list", str(inst.base_dir))[2] == ""


def test_list_of_an_unknown_instance_is_a_usage_error(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "list", str(tmp_path / "nowhere"))
    assert code == 2
    assert err.startswith("hpc-agent function list: ")


# -- show -------------------------------------------------------------------------


def test_show_describes_every_part(
    inst: InstanceConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_function(inst)
    code, out, _ = run(capsys, "show", str(inst.base_dir), "count")
    assert code == 0
    function = load_function(folder)
    assert out.splitlines()[0] == "count 1.2.0: Count the lines of a file"
    assert "  Counts lines.\n  Writes data/count.txt.\n" in out
    assert (
        "  input (path, required): a path inside data/ whose file name matches '*.txt'\n"
        "      The file to count\n"
    ) in out
    assert "  mode (enum, default \"lines\"): one of 'lines', 'words'\n" in out
    assert '  time = "{time}"\n' in out
    assert 'site settings:\n  tool = "wc"\n' in out
    assert function.sha256 in out
    hashes = admin.file_hashes(folder)
    assert f"  template.sh    {hashes['template.sh']}" in out
    code, out, _ = run(capsys, "show", str(inst.base_dir), "count", "--format", "json")
    info = json.loads(out)
    assert info["params"][2] == {
        "name": "time",
        "type": "duration",
        "required": False,
        "default": "0:05:00",
        "rule": "a Slurm time of at most 1:00:00",
        "help": "",
    }
    assert info["files"] == hashes
    assert info["site"] == {"tool": "wc"}


def test_show_unknown_name_suggests_the_closest(
    inst: InstanceConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    write_function(inst)
    code, out, err = run(capsys, "show", str(inst.base_dir), "cuont")
    assert code == 2
    assert out == ""
    assert "there is no function 'cuont'" in err
    assert "(did you mean 'count'?)" in err
    assert "its functions: count" in err


def test_show_broken_function_is_exit_1_with_its_first_problem(
    inst: InstanceConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    write_function(inst, template="#!/bin/bash\n#SBATCH --time=5\necho\n")
    code, _, err = run(capsys, "show", str(inst.base_dir), "count")
    assert code == 1
    assert "the function 'count' is broken" in err
    assert "template.sh, line 2: #SBATCH lines do not belong in the template" in err
    assert "hpc-agent function check" in err


# -- new --------------------------------------------------------------------------


def test_new_skeleton_passes_the_check(
    inst: InstanceConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    inst.path(protocol.FUNCTIONS).rmdir()  # created when missing
    code, out, _ = run(capsys, "new", str(inst.base_dir), "my-fn")
    assert code == 0
    folder = inst.path(protocol.FUNCTIONS) / "my-fn"
    assert sorted(p.name for p in folder.iterdir()) == ["function.toml", "template.sh"]
    assert f"created {folder}/" in out
    assert "does not pass" not in out
    assert f"hpc-agent function check {inst.name} my-fn" in out
    assert load_function(folder).name == "my-fn"
    assert run(capsys, "check", str(inst.base_dir), "my-fn")[0] == 0


def test_new_never_overwrites_an_existing_folder(
    inst: InstanceConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_function(inst)
    before = (folder / "function.toml").read_text()
    code, _, err = run(capsys, "new", str(inst.base_dir), "count")
    assert code == 1
    assert "already exists and is never overwritten" in err
    assert (folder / "function.toml").read_text() == before
    assert sorted(p.name for p in folder.iterdir()) == ["function.toml", "template.sh"]


def test_new_refuses_a_bad_name_with_the_rule(
    inst: InstanceConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "new", str(inst.base_dir), "My_Fn")
    assert code == 2
    assert "'My_Fn' is not a function name: use 1 to 40 lower-case letters" in err
    assert not (inst.path(protocol.FUNCTIONS) / "My_Fn").exists()


@pytest.fixture
def builtins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A built-in library of one function, ``counter``, with an example call."""
    library = tmp_path / "library"
    folder = library / "counter"
    folder.mkdir(parents=True)
    (folder / "function.toml").write_text("# the built-in\n" + SPEC.format(name="counter"))
    (folder / "template.sh").write_text(TEMPLATE)
    (folder / "example.toml").write_text('function = "counter"\n\n[params]\ninput = "in.txt"\n')
    (library / "not-a-function").mkdir()
    monkeypatch.setattr(builtin, "BUILTIN_DIR", library)
    return library


def test_new_from_a_builtin_copies_it_renamed(
    inst: InstanceConfig, builtins: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert builtin.builtin_names() == ["counter"]
    code, out, _ = run(capsys, "new", str(inst.base_dir), "tally", "--from", "counter")
    assert code == 0, out
    folder = inst.path(protocol.FUNCTIONS) / "tally"
    assert "a copy of the built-in 'counter'" in out
    spec = (folder / "function.toml").read_text()
    assert spec.startswith('# the built-in\nname = "tally"\n')
    assert (folder / "template.sh").read_text() == TEMPLATE
    assert (folder / "example.toml").read_text().startswith('function = "tally"\n')
    assert load_function(folder).name == "tally"
    # The copied example renders as it is.
    (folder / "data").mkdir()
    (folder / "data" / "in.txt").write_text("x\n")
    code, out, _ = run(
        capsys, "render", str(inst.base_dir), "tally", "--params", str(folder / "example.toml")
    )
    assert code == 0
    assert "input=data/in.txt\n" in out


def test_new_from_an_unknown_builtin_lists_the_builtins(
    inst: InstanceConfig, builtins: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "new", str(inst.base_dir), "tally", "--from", "countr")
    assert code == 2
    assert "there is no built-in function 'countr' (did you mean 'counter'?)" in err
    assert "the built-ins: counter" in err
    assert not (inst.path(protocol.FUNCTIONS) / "tally").exists()


@pytest.mark.parametrize("name", builtin.builtin_names())
def test_every_shipped_builtin_copies_and_passes_the_check(
    inst: InstanceConfig, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "new", str(inst.base_dir), f"my-{name}", "--from", name)
    assert code == 0
    assert "does not pass" not in out, out
    code, out, _ = run(capsys, "check", str(inst.base_dir), f"my-{name}")
    assert code == 0, out
    example = inst.path(protocol.FUNCTIONS) / f"my-{name}" / builtin.EXAMPLE_FILE
    if example.is_file():  # its example call renders (path parameters: form only)
        code, out, err = run(
            capsys, "render", str(inst.base_dir), f"my-{name}", "--params", str(example)
        )
        assert code == 0, err
        assert out.startswith("#!/bin/bash\n")


def test_renamed_spec_keeps_layout_and_adds_a_missing_name() -> None:
    text = '# c\nname = "a"   # the folder\r\nversion = "1"\n[params.x]\nname = "y"\n'
    assert builtin.renamed_spec(text, "b") == text.replace('"a"', '"b"')
    assert builtin.renamed_spec('version = "1"\n', "b") == 'name = "b"\nversion = "1"\n'
    assert builtin.renamed_spec("[params]\n", "f", "function") == 'function = "f"\n[params]\n'


# -- check ------------------------------------------------------------------------


def test_check_all_fine_is_exit_0(inst: InstanceConfig, capsys: pytest.CaptureFixture[str]) -> None:
    write_function(inst)
    write_function(inst, "other")
    code, out, _ = run(capsys, "check", str(inst.base_dir))
    assert code == 0
    assert out == "count 1.2.0: ok\nother 1.2.0: ok\n"


def test_check_reports_line_precise_problems_and_exits_1(
    inst: InstanceConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    write_function(inst)
    write_function(inst, "bad", spec=SPEC.replace('default = "lines"', 'default = "chars"'))
    code, out, _ = run(capsys, "check", str(inst.base_dir))
    assert code == 1
    assert "bad: 1 problem(s)\n  function.toml, line 17: the default: 'chars' is not allowed" in out
    assert "count 1.2.0: ok" in out
    code, out, _ = run(capsys, "check", str(inst.base_dir), "count")
    assert (code, out) == (0, "count 1.2.0: ok\n")
    code, out, _ = run(capsys, "check", str(inst.base_dir), "--format", "json")
    assert [r["ok"] for r in json.loads(out)] == [False, True]


def test_check_runs_bash_n_and_names_the_template_line(
    inst: InstanceConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    write_function(inst, template=TEMPLATE.replace("fi\n", "done\n"))
    code, out, _ = run(capsys, "check", str(inst.base_dir), "count")
    assert code == 1
    assert out.startswith(
        "count 1.2.0: 1 problem(s)\n"
        "  template.sh, line 5: bash -n: syntax error near unexpected token `done' "
        "(the line: `done')\n"
    )


def test_check_without_bash_only_notes_it(
    inst: InstanceConfig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_function(inst, template=TEMPLATE.replace("fi\n", ""))
    monkeypatch.setattr("hpc_agent.functions.admin.shutil.which", lambda _name: None)
    code, out, _ = run(capsys, "check", str(inst.base_dir))
    assert code == 0
    assert "note: bash is not on PATH: the template's syntax was not checked" in out


def test_check_notes_a_parameter_without_an_example_value(
    inst: InstanceConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = SPEC + '\n[params.tag]\ntype = "string"\npattern = "[A-Z]{{3}}"\n'
    write_function(inst, spec=spec, template=TEMPLATE.replace("fi\n", ""))
    code, out, _ = run(capsys, "check", str(inst.base_dir))
    assert code == 0
    assert "note: the template's syntax was not checked: no example value for 'tag'" in out


def test_check_unknown_name_is_a_usage_error(
    inst: InstanceConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    write_function(inst)
    code, _, err = run(capsys, "check", str(inst.base_dir), "counts")
    assert code == 2
    assert "(did you mean 'count'?)" in err


def test_check_of_no_functions(inst: InstanceConfig, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", str(inst.base_dir))
    assert (code, out) == (0, f"no functions in {inst.path(protocol.FUNCTIONS)}\n")


def test_example_values_respect_the_rules(inst: InstanceConfig) -> None:
    spec = SPEC + (
        '\n[params.n]\ntype = "int"\nmin = 5\n'
        '\n[params.x]\ntype = "float"\nmax = 0.5\n'
        '\n[params.flag]\ntype = "bool"\n'
        '\n[params.files]\ntype = "path"\nglob = true\nmatch = "*.mrc"\n'
        '\n[params.wait]\ntype = "duration"\nmax = "10"\n'
    )
    function = load_function(write_function(inst, spec=spec))
    values, why = admin.example_values(function)
    assert why is None
    assert values == {
        "input": "data/example.txt",
        "mode": "lines",
        "time": "0:05:00",
        "n": 5,
        "x": 0.5,
        "flag": True,
        "files": "data/*.mrc",
        "wait": "0:10:00",
    }


# -- render -----------------------------------------------------------------------


def test_render_prints_the_script(
    inst: InstanceConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_function(inst)
    job = call_file(tmp_path)
    code, out, err = run(capsys, "render", str(inst.base_dir), "count", "--params", str(job))
    assert code == 0
    assert out.startswith("#!/bin/bash\n")
    assert "#SBATCH --time=0:05:00\n" in out
    lines = out.splitlines()
    for assignment in ("tool=wc", "input=data/in.txt", "mode=lines", "time=0:05:00"):
        assert assignment in lines
    assert out.endswith(TEMPLATE.split("\n", 1)[1])
    assert f"checked against {job.parent / 'data'}" in err


def test_render_reports_every_problem_on_stderr(
    inst: InstanceConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_function(inst)
    job = call_file(tmp_path, '[params]\ninput = "missing.txt"\nmode = "chars"\nextra = 1\n')
    code, out, err = run(capsys, "render", str(inst.base_dir), "count", "--params", str(job))
    assert code == 1
    assert out == ""
    assert "data/missing.txt does not exist" in err
    assert "'chars' is not allowed" in err
    assert "'extra' is not a parameter of this function" in err


def test_render_without_data_checks_the_form_only_and_says_so(
    inst: InstanceConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_function(inst)
    job = call_file(tmp_path, data=False)
    code, out, err = run(capsys, "render", str(inst.base_dir), "count", "--params", str(job))
    assert code == 0
    assert "input=data/in.txt\n" in out
    assert "path parameters are checked for their form only" in err
    other = tmp_path / "elsewhere"
    other.mkdir()
    argv = ["render", str(inst.base_dir), "count", "--params", str(job), "--data", str(other)]
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert "data/in.txt does not exist" in err


def test_render_takes_a_file_of_params_only(
    inst: InstanceConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_function(inst)
    job = call_file(tmp_path, '[params]\ninput = "in.txt"\nmode = "words"\n')
    code, out, _ = run(capsys, "render", str(inst.base_dir), "count", "--params", str(job))
    assert code == 0
    assert "mode=words\n" in out


def test_render_of_another_function_s_call_is_a_problem(
    inst: InstanceConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_function(inst)
    job = call_file(tmp_path, JOB.replace('"count"', '"relion"'))
    code, _, err = run(capsys, "render", str(inst.base_dir), "count", "--params", str(job))
    assert code == 1
    assert "calls the function 'relion', not 'count'" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[params\n", "not valid TOML"),
        ('colour = "red"\n', "unknown key(s) colour"),
        ("params = 3\n", "params must be a table"),
        ("function = 3\n", "function must be text"),
    ],
)
def test_render_bad_params_file_is_a_usage_error(
    inst: InstanceConfig,
    tmp_path: Path,
    text: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_function(inst)
    job = call_file(tmp_path, text)
    code, out, err = run(capsys, "render", str(inst.base_dir), "count", "--params", str(job))
    assert code == 2
    assert out == ""
    assert err.startswith("hpc-agent function render: --params ")
    assert message in err


def test_render_missing_params_file_or_data_folder_is_a_usage_error(
    inst: InstanceConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_function(inst)
    missing = tmp_path / "nope.toml"
    code, _, err = run(capsys, "render", str(inst.base_dir), "count", "--params", str(missing))
    assert code == 2
    assert "no such file" in err
    job = call_file(tmp_path)
    argv = ["render", str(inst.base_dir), "count", "--params", str(job), "--data", str(missing)]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "--data" in err


def test_render_unknown_function_is_a_usage_error(
    inst: InstanceConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = call_file(tmp_path)
    code, _, err = run(capsys, "render", str(inst.base_dir), "count", "--params", str(job))
    assert code == 2
    assert "its functions: none yet" in err


# -- test -------------------------------------------------------------------------


def test_test_needs_a_slurm_instance(
    inst: InstanceConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_function(inst)
    job = call_file(tmp_path)
    code, _, err = run(capsys, "test", str(inst.base_dir), "count", "--params", str(job))
    assert code == 2
    assert "needs sbatch" in err


def test_test_argv_is_the_agent_s_with_test_only(cfg: InstanceConfig, tmp_path: Path) -> None:
    argv = admin.sbatch_test_argv(cfg, tmp_path / "job.sh", tmp_path, "count")
    assert argv[:2] == ["sbatch", "--test-only"]
    assert argv[argv.index("--account") + 1] == "acct"
    assert argv[argv.index("--qos") + 1] == "normal"
    assert argv[argv.index("--chdir") + 1] == str(tmp_path)
    assert argv[-2:] == [str(tmp_path / "job.sh"), str(tmp_path)]


def test_test_prints_slurm_s_refusal(
    cfg: InstanceConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    save_instance(cfg)
    cfg.path(protocol.FUNCTIONS).mkdir()
    write_function(cfg)
    job = call_file(tmp_path)
    seen: list[list[str]] = []

    def fake_run(argv: list[str], timeout: float) -> object:
        seen.append(argv)
        assert Path(argv[-2]).read_text().startswith("#!/bin/bash\n")
        return type(
            "R", (), {"returncode": 1, "stdout": "", "stderr": "sbatch: error: Invalid qos\n"}
        )()

    monkeypatch.setattr(slurm, "_run", fake_run)
    code, out, err = run(capsys, "test", str(cfg.base_dir), "count", "--params", str(job))
    assert code == 1
    assert "Slurm: sbatch: error: Invalid qos" in out
    assert "Slurm would refuse the job" in err
    assert seen[0][1] == "--test-only"
    assert seen[0][seen[0].index("--chdir") + 1] == str(job.parent.resolve())


@pytest.mark.slurm
def test_test_asks_the_real_slurm(
    slurm_env: SlurmCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.agent.slurm_helpers import instance

    cfg = instance(slurm_env, tmp_path / "inst")
    cfg.path(protocol.FUNCTIONS).mkdir(exist_ok=True)
    write_function(cfg)
    write_function(cfg, "nowhere", spec=SPEC.replace('memory = "100M"', 'partition = "nosuch"'))
    job = call_file(tmp_path)
    code, out, err = run(capsys, "test", str(cfg.base_dir), "count", "--params", str(job))
    assert code == 0, out + err
    assert "resources: time=0:05:00, cpus=1, memory=100M" in out
    assert "Slurm: " in out
    assert "to start at" in out
    assert "Slurm would take the job" in out
    job.write_text(JOB.replace('"count"', '"nowhere"'))
    code, out, err = run(capsys, "test", str(cfg.base_dir), "nowhere", "--params", str(job))
    assert code == 1
    assert "partition" in out.lower()
    assert "Slurm would refuse the job" in err
    queued = slurm_env.run(["squeue", "-h", "-o", "%j"]).stdout
    assert "function-test" not in queued, "--test-only queues nothing"


# -- catalog ----------------------------------------------------------------------


def test_catalog_to_stdout_and_to_a_file(
    inst: InstanceConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_function(inst)
    write_function(inst, "bad", template="#SBATCH --mem=1G\n")
    code, out, err = run(capsys, "catalog", str(inst.base_dir))
    assert code == 0
    expected = to_catalog(load_library(inst.path(protocol.FUNCTIONS)), instance=inst.name)
    assert json.loads(out) == expected
    assert out == json.dumps(expected, sort_keys=True, indent=2) + "\n"
    assert "left out the broken function 'bad'" in err
    target = tmp_path / "p.functions.json"
    code, out, err = run(capsys, "catalog", str(inst.base_dir), "-o", str(target))
    assert code == 0
    assert out == ""
    assert target.read_text() == json.dumps(expected, sort_keys=True, indent=2) + "\n"
    assert f"commit it as flows/{inst.name}.functions.json" in err


def test_function_is_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["function", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("list", "show", "new", "check", "render", "test", "catalog"):
        assert command in out


def test_rendered_is_what_the_agent_renders(inst: InstanceConfig, tmp_path: Path) -> None:
    from hpc_agent.functions.call import prepare_call

    write_function(inst)
    job = call_file(tmp_path)
    library = load_library(inst.path(protocol.FUNCTIONS))
    call, problems = prepare_call(job.parent, library)
    assert problems == [] and call is not None
    params = admin.read_params_file(job)
    rendered, _ = admin.render_call(library.functions["count"], params, job.parent / "data")
    assert isinstance(rendered, Rendered)
    assert rendered == call.rendered
