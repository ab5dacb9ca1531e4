"""The built-in starter library (hpc_agent/functions/library/): load, render, lint, run.

Every built-in must load without problems, render its ``example.toml`` into a
script that passes ``shellcheck -s bash`` (no finding at all) and ``bash -n``,
and be accepted by ``sbatch --test-only`` on the test cluster. ``shell``,
``python`` and ``gpu-python`` also run end to end on the real Slurm test bed,
with stand-ins for what the cluster lacks (``module``, ``nvidia-smi``).

The test cluster has no GPUs: sbatch refuses ``--gpus`` there, so the GPU
functions are tested with their ``#SBATCH --gpus`` line taken out and the
test cluster's partition for the ``gpu`` partition the built-ins name; for
``--test-only`` the CPUs and memory are also cut down to what the one small
test node has. Everything else is as rendered.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from hpc_agent.executors.base import JobSpec
from hpc_agent.executors.slurm import SlurmExecutor
from hpc_agent.functions.params import Value, check_values
from hpc_agent.functions.render import Rendered, render
from hpc_agent.functions.spec import Function, load_function, resolve_resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

LIBRARY = Path(__file__).resolve().parents[2] / "hpc_agent" / "functions" / "library"
BUILTINS = ("aretomo", "gpu-python", "python", "relion-class3d", "relion-preprocess", "shell")
GPU_FUNCTIONS = ("aretomo", "gpu-python")
"""The built-ins whose resources name a GPU partition and always ask for GPUs."""

STANDIN_NAMES = (
    "module",
    "nvidia-smi",
    "python3",
    "bash",
    "mpirun",
    "relion_refine",
    "relion_refine_mpi",
    "relion_import",
    "relion_run_motioncorr",
    "relion_run_motioncorr_mpi",
    "relion_run_ctffind",
    "relion_run_ctffind_mpi",
    "AreTomo2",
)
STANDIN = """#!/bin/bash
# Test stand-in: records its name and arguments (NUL-separated) and succeeds.
printf '%s\\0' "${0##*/}" "$#" "$@" >> "$FLOWCRON_STANDIN_LOG"
if [ "${0##*/}" = nvidia-smi ]; then
    echo "GPU 0: FlowCron stand-in GPU (UUID: GPU-00000000)"
fi
"""

needs_shellcheck = pytest.mark.skipif(shutil.which("shellcheck") is None, reason="no shellcheck")


# -- helpers (test_render_injection.py uses them too) -----------------------------


def builtin(name: str) -> Function:
    """The built-in ``name``, loaded from the library folder."""
    return load_function(LIBRARY / name)


def example_params(name: str) -> dict[str, Any]:
    """The ``[params]`` table of the built-in's ``example.toml``."""
    data = tomllib.loads((LIBRARY / name / "example.toml").read_text(encoding="utf-8"))
    assert data["function"] == name
    params = data["params"]
    assert isinstance(params, dict)
    return params


def render_call(
    function: Function, given: Mapping[str, object], data_dir: Path | None = None
) -> tuple[dict[str, Value], dict[str, Any], Rendered | None, list[str]]:
    """Check, resolve and render like :func:`hpc_agent.functions.call.prepare_call` does."""
    checked = check_values(function.params, given, data_dir)
    problems = list(checked.problems)
    resources, resource_problems = resolve_resources(function, checked.values)
    problems.extend(resource_problems)
    if problems:
        return checked.values, resources, None, problems
    return checked.values, resources, render(function, checked.values, resources), []


def render_example(name: str, **site: str) -> tuple[Function, dict[str, Value], Rendered]:
    """The built-in ``name`` rendered with its example (and ``site`` settings replaced)."""
    function = builtin(name)
    if site:
        unknown = set(site) - set(function.site)
        assert not unknown, f"{name} has no site settings {unknown}"
        function = dataclasses.replace(function, site={**function.site, **site})
    values, _, rendered, problems = render_call(function, example_params(name))
    assert not problems, problems
    assert rendered is not None
    return function, values, rendered


def make_standins(folder: Path, names: tuple[str, ...] = STANDIN_NAMES) -> Path:
    """A folder of recording stand-ins for ``names``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        tool = folder / name
        tool.write_text(STANDIN)
        tool.chmod(0o755)
    return folder


def read_calls(log: Path) -> list[list[str]]:
    """The stand-in calls recorded in ``log``: [name, arg1, arg2, ...] each, in order."""
    if not log.exists():
        return []
    fields = log.read_bytes().decode("utf-8", "surrogateescape").split("\0")
    assert fields[-1] == "", "a record was cut short"
    fields.pop()
    calls = []
    index = 0
    while index < len(fields):
        name, count = fields[index], int(fields[index + 1])
        calls.append([name, *fields[index + 2 : index + 2 + count]])
        index += 2 + count
    return calls


def fit_to_node(script: str, cpus: int) -> str:
    """``script`` asking for at most ``cpus`` CPUs and 100M: the test node is small."""
    lines = []
    for line in script.split("\n"):
        if line.startswith("#SBATCH --cpus-per-task="):
            wanted = int(line.split("=", 1)[1])
            line = f"#SBATCH --cpus-per-task={min(wanted, cpus)}"
        elif line.startswith("#SBATCH --mem="):
            line = "#SBATCH --mem=100M"
        lines.append(line)
    return "\n".join(lines)


def without_gpu_lines(script: str, partition: str) -> str:
    """``script`` without ``#SBATCH --gpus`` and with ``partition`` for the GPU partition."""
    lines = []
    for line in script.split("\n"):
        if line.startswith("#SBATCH --gpus="):
            continue
        if line.startswith("#SBATCH --partition="):
            line = f"#SBATCH --partition={partition}"
        lines.append(line)
    return "\n".join(lines)


# -- every built-in: loads, renders, lints ----------------------------------------


def test_the_library_holds_exactly_the_builtins() -> None:
    folders = sorted(p.name for p in LIBRARY.iterdir() if p.is_dir() and p.name[0] != "_")
    assert folders == sorted(BUILTINS)


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_loads_without_problems(name: str) -> None:
    function = builtin(name)
    assert function.name == name
    assert function.version == "1.0.0"
    assert function.description and function.help.strip()
    for param in function.params:
        assert param.help, f"{name}: parameter {param.name} has no help"
    assert (LIBRARY / name / "example.toml").is_file()
    # Resources that depend on parameters name real parameters (load_function checks it)
    # and every function sets a time limit.
    assert function.resources.time is not None


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_template_cites_no_snippets_and_has_strict_mode(name: str) -> None:
    template = (LIBRARY / name / "template.sh").read_text(encoding="utf-8")
    assert "set -euo pipefail" in template
    assert not re.search(r"\beval\b", template)
    for value in builtin(name).site.values():
        assert "$" not in value and "`" not in value, "site settings are names and paths"


@needs_shellcheck
@pytest.mark.parametrize("name", BUILTINS)
def test_rendered_example_passes_shellcheck_and_bash_n(name: str, tmp_path: Path) -> None:
    _, _, rendered = render_example(name)
    script = tmp_path / "flowcron-job.sh"
    script.write_text(rendered.script, encoding="utf-8")
    lint = subprocess.run(
        ["shellcheck", "-s", "bash", "-f", "gcc", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0 and lint.stdout == "", lint.stdout + lint.stderr
    syntax = subprocess.run(
        ["bash", "-n", str(script)], capture_output=True, text=True, check=False
    )
    assert syntax.returncode == 0, syntax.stderr


@needs_shellcheck
@pytest.mark.parametrize("name", BUILTINS)
def test_template_alone_is_shellcheck_clean(name: str, tmp_path: Path) -> None:
    """The template without the renderer's file-wide silencing (only SC2034) is clean too."""
    function = builtin(name)
    names = [*function.site, *(p.name for p in function.params)]
    body = function.template.split("\n", 1)[1]
    script = tmp_path / "template.sh"
    script.write_text(
        "#!/bin/bash\n# shellcheck disable=SC2034\n" + "".join(f"{n}=x\n" for n in names) + body,
        encoding="utf-8",
    )
    lint = subprocess.run(
        ["shellcheck", "-s", "bash", "-f", "gcc", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0 and lint.stdout == "", lint.stdout + lint.stderr


@pytest.mark.parametrize("name", BUILTINS)
def test_example_renders_the_resources_it_declares(name: str) -> None:
    _, values, rendered = render_example(name)
    directives = [line for line in rendered.script.split("\n") if line.startswith("#SBATCH")]
    assert f"#SBATCH --time={rendered.resources['time']}" in directives
    if name in GPU_FUNCTIONS:
        assert "#SBATCH --partition=gpu" in directives
        assert f"#SBATCH --gpus={values['gpus']}" in directives
    assert rendered.script == render_example(name)[2].script, "rendering is deterministic"


def test_shell_help_warns_the_admin() -> None:
    help_text = builtin("shell").help
    assert "trust" in help_text and "code" in help_text


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ("", []),
        ("--lr 0.01", ["--lr", "0.01"]),
        ("  a   b  ", ["a", "b"]),
        ("'quoted arg' $HOME *.py", ["'quoted", "arg'", "$HOME", "*.py"]),
    ],
)
def test_python_args_are_split_at_spaces_only(args: str, words: list[str], tmp_path: Path) -> None:
    calls = run_with_standins("python", {"args": args}, tmp_path)
    assert calls == [["python3", "./analyse.py", *words]]


def run_with_standins(
    name: str, changes: Mapping[str, object], tmp_path: Path, **site: str
) -> list[list[str]]:
    """Render ``name``'s example with ``changes``, run it with bash and stand-ins: the calls."""
    function = builtin(name)
    if site:
        function = dataclasses.replace(function, site={**function.site, **site})
    _, _, rendered, problems = render_call(function, {**example_params(name), **changes})
    assert not problems and rendered is not None, problems
    bindir = make_standins(tmp_path / "bin")
    uow = tmp_path / "uow"
    (uow / "data").mkdir(parents=True)
    (uow / "job.sh").write_text(rendered.script, encoding="utf-8")
    log = tmp_path / "calls.log"
    result = subprocess.run(
        ["/bin/bash", "job.sh"],
        cwd=uow,
        env={"PATH": f"{bindir}:/usr/bin:/bin", "FLOWCRON_STANDIN_LOG": str(log)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return read_calls(log)


def test_relion_class3d_command_line(tmp_path: Path) -> None:
    calls = run_with_standins("relion-class3d", {"mpi": 3, "cpus": 12}, tmp_path)
    assert calls[0] == ["module", "load", "relion"]
    launcher, refine = calls[1][:5], calls[1][5:]
    assert launcher == ["mpirun", "-n", "3", "--oversubscribe", "relion_refine_mpi"]
    assert refine[:6] == [
        "--o",
        "Class3D/job016/run",
        "--i",
        "Extract/job012/particles.star",
        "--ref",
        "InitialModel/job015/initial_model.mrc",
    ]
    pairs = dict(itertools.pairwise(refine))
    assert pairs["--K"] == "4" and pairs["--j"] == "4" and pairs["--tau2_fudge"] == "4.0"
    assert pairs["--sym"] == "C1" and pairs["--gpu"] == ""
    assert "--ctf" in refine and "--firstiter_cc" in refine
    assert (tmp_path / "uow" / "data" / "Class3D" / "job016").is_dir()


def test_relion_class3d_without_mpi_or_gpu(tmp_path: Path) -> None:
    calls = run_with_standins(
        "relion-class3d", {"mpi": 1, "gpus": 0, "ctf": False}, tmp_path, module=""
    )
    assert len(calls) == 1 and calls[0][0] == "relion_refine"
    assert "--gpu" not in calls[0] and "--ctf" not in calls[0]


def test_relion_preprocess_command_lines(tmp_path: Path) -> None:
    calls = run_with_standins("relion-preprocess", {}, tmp_path, ctffind_exe="/opt/ctffind")
    assert [c[0] for c in calls] == ["module", "relion_import", "mpirun", "mpirun"]
    assert calls[1][calls[1].index("--i") + 1] == "Movies/*.tiff"
    assert calls[2][:5] == ["mpirun", "-n", "2", "--oversubscribe", "relion_run_motioncorr_mpi"]
    assert "--use_own" in calls[2]
    assert calls[3][4] == "relion_run_ctffind_mpi"
    assert calls[3][calls[3].index("--ctffind_exe") + 1] == "/opt/ctffind"
    assert calls[3][calls[3].index("--i") + 1] == "MotionCorr/job001/corrected_micrographs.star"


def test_aretomo_command_line(tmp_path: Path) -> None:
    calls = run_with_standins("aretomo", {"gpus": 2, "wbp": True}, tmp_path)
    assert [c[0] for c in calls] == ["module", "nvidia-smi", "AreTomo2"]
    aretomo = calls[2]
    assert aretomo[1:5] == ["-InMrc", "./TS_01/TS_01.mrc", "-OutMrc", "AreTomo/TS_01_rec.mrc"]
    assert aretomo[-3:] == ["-Gpu", "0", "1"]
    assert aretomo[aretomo.index("-Wbp") + 1] == "1"


# -- the Slurm test bed -----------------------------------------------------------


def submit_and_wait(
    cluster: Any, uow: Path, script_text: str, timeout: float = 90
) -> tuple[str, str]:
    """Submit ``script_text`` as the UoW's job, wait until it ends: (state, slurm output)."""
    script = uow / protocol.RENDERED_SCRIPT
    script.write_text(script_text, encoding="utf-8")
    executor = SlurmExecutor()
    job_id = executor.submit(
        JobSpec(
            name=f"fcbuiltin-{uuid.uuid4().hex[:8]}",
            script=script,
            workdir=uow,
            stdout="slurm-%j.out",
            stderr="slurm-%j.out",
            account=cluster.account,
            qos=cluster.qos,
            args=(str(uow),),
        )
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = executor.query([job_id]).get(job_id)
        if info is not None and info.finished:
            output = (uow / f"slurm-{job_id}.out").read_text(encoding="utf-8", errors="replace")
            return info.state, output
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish within {timeout} s")


@pytest.fixture
def slurm_uow(
    slurm_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Path, Path]:
    """(cluster, a UoW folder with data/, the stand-in call log), stand-ins first on PATH."""
    bindir = make_standins(tmp_path / "standins", ("module", "nvidia-smi"))
    log = tmp_path / "calls.log"
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setenv("FLOWCRON_STANDIN_LOG", str(log))
    uow = tmp_path / "UoW-builtin"
    (uow / protocol.DATA_DIR).mkdir(parents=True)
    return slurm_env, uow, log


@pytest.mark.slurm
@pytest.mark.parametrize("name", BUILTINS)
def test_sbatch_test_only_accepts_every_builtin(name: str, slurm_env: Any, tmp_path: Path) -> None:
    _, _, rendered = render_example(name)
    script_text = rendered.script
    if name in GPU_FUNCTIONS or "--gpus=" in script_text:
        # The test cluster has no GPUs (no gres): sbatch would refuse --gpus.
        script_text = without_gpu_lines(script_text, slurm_env.partition)
    # The test node has few CPUs and little memory: ask for what it has.
    script_text = fit_to_node(script_text, slurm_env.cpus)
    script = tmp_path / protocol.RENDERED_SCRIPT
    script.write_text(script_text, encoding="utf-8")
    argv = ["sbatch", "--test-only", "--chdir", str(tmp_path)]
    argv += ["--account", slurm_env.account, "--qos", slurm_env.qos, str(script)]
    result = slurm_env.run(argv, check=False)
    assert result.returncode == 0, result.stderr
    assert "to start at" in result.stderr, result.stderr


@pytest.mark.slurm
def test_test_cluster_refuses_gpus_as_the_docstring_says(slurm_env: Any, tmp_path: Path) -> None:
    _, _, rendered = render_example("gpu-python")
    script = tmp_path / "gpu.sh"
    partition = f"#SBATCH --partition={slurm_env.partition}"
    script_text = fit_to_node(rendered.script, slurm_env.cpus)
    script.write_text(script_text.replace("#SBATCH --partition=gpu", partition), "utf-8")
    argv = ["sbatch", "--test-only", "--account", slurm_env.account, "--qos", slurm_env.qos]
    result = slurm_env.run([*argv, str(script)], check=False)
    assert result.returncode != 0, (
        "the test cluster accepted --gpus: test GPU functions as rendered"
    )


@pytest.mark.slurm
def test_shell_runs_on_slurm(slurm_uow: tuple[Any, Path, Path]) -> None:
    cluster, uow, _ = slurm_uow
    (uow / "data" / "input.txt").write_text("one\ntwo\nthree\n")
    _, _, rendered = render_example("shell")
    state, output = submit_and_wait(cluster, uow, rendered.script)
    assert state == "COMPLETED", output
    hello = (uow / "data" / "hello.txt").read_text().splitlines()
    assert hello[0].startswith("hello from ") and hello[1] == "3"
    assert "flowcron shell: running in" in output


@pytest.mark.slurm
def test_shell_command_failure_fails_the_job(slurm_uow: tuple[Any, Path, Path]) -> None:
    cluster, uow, _ = slurm_uow
    function = builtin("shell")
    _, _, rendered, problems = render_call(
        function, {**example_params("shell"), "command": "false | cat; echo not reached > x.txt"}
    )
    assert not problems and rendered is not None
    state, output = submit_and_wait(cluster, uow, rendered.script)
    assert state == "FAILED", output
    assert not (uow / "data" / "x.txt").exists()


ANALYSE_PY = """\
import os, sys
args = sys.argv[1:]
text = open(args[args.index("--input") + 1]).read()
scale = int(args[args.index("--scale") + 1])
with open("out.txt", "w") as out:
    out.write(f"args={args!r}\\nlines={len(text.splitlines()) * scale}\\n")
    out.write(f"omp={os.environ['OMP_NUM_THREADS']}\\ncwd={os.path.basename(os.getcwd())}\\n")
"""


@pytest.mark.slurm
@pytest.mark.parametrize("name", ["python", "gpu-python"])
def test_python_functions_run_on_slurm(name: str, slurm_uow: tuple[Any, Path, Path]) -> None:
    cluster, uow, log = slurm_uow
    (uow / "data" / "input.txt").write_text("a\nb\n")
    (uow / "data" / "analyse.py").write_text(ANALYSE_PY)
    venv = uow.parent / "venv"
    (venv / "bin").mkdir(parents=True)
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    (venv / "bin" / "python3").symlink_to(python)
    _, _, rendered = render_example(name, module="python/3.11", venv=str(venv))
    script_text = rendered.script
    if name == "gpu-python":
        script_text = without_gpu_lines(script_text, cluster.partition)
    state, output = submit_and_wait(cluster, uow, script_text)
    assert state == "COMPLETED", output
    result = (uow / "data" / "out.txt").read_text().splitlines()
    assert result == [
        "args=['--input', 'input.txt', '--scale', '2']",
        "lines=4",
        "omp=1",
        "cwd=data",
    ]
    calls = read_calls(log)
    assert calls[0] == ["module", "load", "python/3.11"]
    if name == "gpu-python":
        assert calls[1] == ["nvidia-smi", "-L"]
        assert "GPU 0: FlowCron stand-in GPU" in output
