"""Hostile values against every parameter of every built-in function: refused, or harmless.

For each value thrown at a parameter, either the checks refuse it with a
problem naming the parameter, or the rendered script

(a) passes ``bash -n``, and real bash reads every value back unchanged from
    the assignments (a round trip through bash, for every rendered example);
(b) has exactly the ``#SBATCH`` lines the resolved resources give, and no
    other line starting with ``#SBATCH`` anywhere;
(c) for a sample of examples (a second, smaller property), runs, with only
    recording stand-ins + /usr/bin:/bin on PATH, exactly the commands of the
    template, with each value arriving intact as the one argument where the
    template passes it (each built-in's command lines are modelled below).

The property can fail: with a renderer whose quoting is broken (double
quotes instead of single quotes), it finds an escape.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from hpc_agent.executors.sbatch import directive_lines
from hpc_agent.functions import render as render_module
from hpc_agent.functions.params import Param, Value
from hpc_agent.functions.render import Rendered
from hpc_agent.functions.spec import Function
from tests.agent.test_builtin_functions import (
    BUILTINS,
    builtin,
    example_params,
    make_standins,
    read_calls,
    render_call,
)

PROPERTY_EXAMPLES = int(os.environ.get("FLOWCRON_INJECTION_EXAMPLES", "1700"))
"""Per built-in: 6 x 1700 = 10,200 hostile values for render + bash -n + round trip."""
EXECUTED_EXAMPLES = int(os.environ.get("FLOWCRON_INJECTION_RUNS", "200"))
"""Per built-in: 6 x 200 = 1,200 values tried in runs with stand-ins (those rendered run)."""

# Harmless payloads only: with a broken renderer they do run.
FRAGMENTS = (
    "'",
    '"',
    "\\",
    "$(touch pwned)",
    "`touch pwned`",
    "$(echo x)",
    "${IFS}",
    "$IFS",
    "$HOME",
    "$((1+1))",
    "$0",
    "\n",
    "\r",
    "\n#SBATCH --mem=1T\n",
    "#SBATCH --time=99",
    "#SBATCH",
    "EOF",
    "\nEOF\n",
    "<<EOF",
    "<<'EOF'",
    "\x00",
    "\x1b[2J",
    "\x7f",
    "*",
    "?",
    "[a-z]",
    "{a,b}",
    "~",
    "~root",
    "-",
    "--",
    "-rf",
    "--help",
    "-n",
    ";",
    "&&",
    "||",
    "|",
    ">",
    ">>",
    "<",
    "&",
    "!",
    "!!",
    "#",
    " ",
    "  ",
    "\t",
    "=",
    "%",
    "\u2028",
    "\u0085",
    "\ud800",
    "\udfff",
    "\udcff",
    "\ufeff",
    "é",
    "“",
    "”",
    "‘",
    "’",
    "data/",
    "../",
    "/",
    "..",
    ".",
    "a",
    "x.py",
    ".py",
    ".star",
    ".mrc",
    "C1",
    "1:00:00",
    "4G",
)

PRINTABLE = tuple(
    f
    for f in FRAGMENTS
    if not any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in f)
)
"""The fragments the checks let through: most values built from them render."""

hostile_text = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=12).map("".join),
    st.lists(st.sampled_from(PRINTABLE), min_size=1, max_size=12).map("".join),
    st.lists(st.sampled_from(PRINTABLE), min_size=1, max_size=12).map("".join),
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from("ab$'\"`\\ ;*-"), min_size=200, max_size=5000),
)
hostile_any = st.one_of(
    hostile_text,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-2, max_value=300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)

COUNTS: Counter[str] = Counter()


def hostile_for(param: Param) -> st.SearchStrategy[object]:
    """Hostile values for ``param``: mostly text of its kind, sometimes any other type."""
    if param.type == "path":
        suffix = param.match.lstrip("*") if param.match and param.match.startswith("*") else ""
        text = st.tuples(hostile_text, st.booleans()).map(
            lambda pair: pair[0] + suffix if pair[1] else pair[0]
        )
        return st.one_of(text, text, text, hostile_any)
    if param.type in ("string", "enum", "duration"):
        return st.one_of(hostile_text, hostile_text, hostile_any)
    return hostile_any


printable_text = st.lists(st.sampled_from(PRINTABLE), min_size=1, max_size=12).map("".join)


def runnable_for(param: Param) -> st.SearchStrategy[object]:
    """Like :func:`hostile_for`, but text the checks let through more often (for runs)."""
    if param.type == "path":
        suffix = param.match.lstrip("*") if param.match and param.match.startswith("*") else ""
        return st.one_of(printable_text.map(lambda text: text + suffix), hostile_for(param))
    if param.type == "string" and param.pattern:
        matching = st.from_regex(param.pattern, fullmatch=True)
        return st.one_of(matching, matching, printable_text, hostile_for(param))
    if param.type == "string":
        return st.one_of(printable_text, printable_text, hostile_for(param))
    if param.type == "duration":
        times = st.sampled_from(["10", "1:00:00", "2-00", "0:30:00", "1-12:00:00"])
        return st.one_of(times, printable_text, hostile_for(param))
    if param.type == "enum":
        return st.one_of(st.sampled_from(param.choices), hostile_for(param))
    if param.type == "bool":
        return st.one_of(st.booleans(), hostile_for(param))
    low, high = param.minimum, param.maximum
    if param.type == "int":
        bounded = st.integers(
            int(low) if low is not None else None, int(high) if high is not None else None
        )
    else:
        bounded = st.floats(low, high, allow_nan=False, allow_infinity=False)
    return st.one_of(bounded, bounded, hostile_for(param))


def weighted_params(function: Function) -> list[Param]:
    """The parameters, text-like ones three times (that is where injection would live)."""
    out: list[Param] = []
    for param in function.params:
        out.extend([param] * (3 if param.type in ("string", "path", "duration") else 1))
    return out


def shown(value: Value) -> str:
    """What bash sees in ``$name`` for a rendered value (shell_value's meaning)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


# -- (a) and (b): every rendered example ------------------------------------------

_SBATCH = (
    ("time", "--time"),
    ("cpus", "--cpus-per-task"),
    ("memory", "--mem"),
    ("gpus", "--gpus"),
    ("partition", "--partition"),
)


def expected_directives(resources: Mapping[str, Any]) -> list[str]:
    """The #SBATCH lines (text after '#SBATCH') the resolved resources must give."""
    out = []
    for key, flag in _SBATCH:
        value = resources.get(key)
        if value is None or (key == "gpus" and value == 0):
            continue
        out.append(f" {flag}={value}")
    out.extend(f" {option}" for option in resources.get("extra", ()))
    return out


def check_rendered(
    function: Function,
    values: Mapping[str, Value],
    resources: Mapping[str, Any],
    rendered: Rendered,
    workdir: Path,
) -> None:
    """(a) bash -n and the bash round trip of every value; (b) the #SBATCH lines."""
    script = rendered.script
    directives = [text for _, text in directive_lines(script)]
    assert directives == expected_directives(resources), directives
    every = [line for line in script.split("\n") if line.lstrip().startswith(("#SBATCH", "#SLURM"))]
    assert every == [f"#SBATCH{text}" for text in directives], every
    for text in directives:
        assert re.fullmatch(r" --[a-z-]+=[A-Za-z0-9:._=-]+", text), text

    path = workdir / "job.sh"
    path.write_text(script, encoding="utf-8")
    syntax = subprocess.run(["bash", "-n", str(path)], capture_output=True, timeout=30, check=False)
    assert syntax.returncode == 0, syntax.stderr.decode(errors="replace")

    # The round trip: bash runs the assignments only, then prints every value.
    header = script.split("\n# -- template of ", 1)[0]
    names = [*function.site, *(p.name for p in function.params)]
    probe = header + "\nprintf '%s\\0' " + " ".join(f'"${n}"' for n in names) + "\n"
    path.write_text(probe, encoding="utf-8")
    result = subprocess.run(
        ["/bin/bash", str(path)],
        capture_output=True,
        cwd=workdir,
        env={"PATH": "/usr/bin:/bin", "HOME": str(workdir)},
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    got = result.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1]
    want = [*function.site.values(), *(shown(values[p.name]) for p in function.params)]
    assert got == want
    assert not (workdir / "pwned").exists(), "a value ran a command"


def check_one(function: Function, param: Param, raw: object, workdir: Path) -> str:
    """Throw ``raw`` at ``param`` (other parameters from the example); 'refused' or 'rendered'."""
    given = {**example_params(function.name), param.name: raw}
    values, resources, rendered, problems = render_call(function, given)
    if problems:
        assert any(p.startswith(f"[params] {param.name}") for p in problems), problems
        return "refused"
    assert rendered is not None
    check_rendered(function, values, resources, rendered, workdir)
    return "rendered"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("injection")


@pytest.mark.parametrize("name", BUILTINS)
def test_hostile_values_are_refused_or_harmless(name: str, workdir: Path) -> None:
    function = builtin(name)
    params = weighted_params(function)

    @settings(
        max_examples=PROPERTY_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(data=st.data())
    def prop(data: st.DataObject) -> None:
        param = data.draw(st.sampled_from(params), label="param")
        raw = data.draw(hostile_for(param), label="value")
        outcome = check_one(function, param, raw, workdir)
        COUNTS["values"] += 1
        COUNTS[outcome] += 1
        COUNTS[f"{param.type}:{outcome}"] += 1

    prop()


# -- (c): a sample run with recording stand-ins ---------------------------------

SITE_FOR_RUNS = {
    "python": {"module": "python/3.11", "conda_env": "/opt/conda/envs/ana", "venv": "/opt/venv"},
    "gpu-python": {"module": "cuda/12", "venv": "/opt/venv"},
}


def _rel(path: Value) -> str:
    return str(path).removeprefix("data/")


def _py_calls(v: Mapping[str, Value], site: Mapping[str, str], gpu: bool) -> list[list[str]]:
    calls = [["module", "load", site["module"]]] if site["module"] else []
    if gpu:
        calls.append(["nvidia-smi", "-L"])
    words = [w for w in str(v["args"]).split(" ") if w]
    return [*calls, ["python3", "./" + _rel(v["script"]), *words]]


def _class3d_calls(v: Mapping[str, Value], site: Mapping[str, str]) -> list[list[str]]:
    mpi, threads = int(v["mpi"]), max(1, int(v["cpus"]) // int(v["mpi"]))
    refine = ["--o", f"Class3D/{v['output']}/run", "--i", _rel(v["particles"])]
    refine += ["--ref", _rel(v["reference"]), "--ini_high", shown(v["ini_high"])]
    refine += ["--dont_combine_weights_via_disc", "--pool", "3", "--pad", "2"]
    refine += ["--iter", shown(v["iterations"]), "--tau2_fudge", shown(v["tau2_fudge"])]
    refine += ["--particle_diameter", shown(v["particle_diameter"]), "--K", shown(v["classes"])]
    refine += ["--flatten_solvent", "--zero_mask", "--oversampling", "1", "--healpix_order", "2"]
    refine += ["--offset_range", "5", "--offset_step", "2", "--sym", str(v["symmetry"])]
    refine += ["--norm", "--scale", "--j", str(threads)]
    refine += ["--ctf"] if v["ctf"] else []
    refine += [] if v["absolute_greyscale"] else ["--firstiter_cc"]
    refine += ["--gpu", ""] if int(v["gpus"]) > 0 else []
    calls = [["module", "load", site["module"]]] if site["module"] else []
    if mpi > 1:
        launcher = [w for w in site["mpirun_args"].split(" ") if w]
        return [*calls, [site["mpirun"], "-n", str(mpi), *launcher, "relion_refine_mpi", *refine]]
    return [*calls, ["relion_refine", *refine]]


def _preprocess_calls(v: Mapping[str, Value], site: Mapping[str, str]) -> list[list[str]]:
    mpi, threads = int(v["mpi"]), max(1, int(v["cpus"]) // int(v["mpi"]))
    out = str(v["output"])

    def relion(program: str, args: list[str]) -> list[str]:
        if mpi > 1:
            launcher = [w for w in site["mpirun_args"].split(" ") if w]
            return [site["mpirun"], "-n", str(mpi), *launcher, f"{program}_mpi", *args]
        return [program, *args]

    imp = ["relion_import", "--do_movies", "--optics_group_name", str(v["optics_group"])]
    imp += ["--angpix", shown(v["angpix"]), "--kV", shown(v["voltage"]), "--Cs", shown(v["cs"])]
    imp += ["--Q0", shown(v["q0"]), "--beamtilt_x", "0", "--beamtilt_y", "0"]
    imp += ["--i", _rel(v["movies"]), "--odir", f"Import/{out}/", "--ofile", "movies.star"]
    motion = ["--i", f"Import/{out}/movies.star", "--o", f"MotionCorr/{out}/"]
    motion += ["--first_frame_sum", "1", "--last_frame_sum", "-1", "--use_own", "--j", str(threads)]
    motion += ["--bin_factor", shown(v["bin_factor"]), "--bfactor", "150"]
    motion += ["--dose_per_frame", shown(v["dose_per_frame"]), "--preexposure", "0"]
    motion += ["--patch_x", shown(v["patch_x"]), "--patch_y", shown(v["patch_y"])]
    motion += ["--eer_grouping", "32", "--dose_weighting"]
    ctf = ["--i", f"MotionCorr/{out}/corrected_micrographs.star", "--o", f"CtfFind/{out}/"]
    ctf += ["--Box", "512", "--ResMin", shown(v["res_min"]), "--ResMax", shown(v["res_max"])]
    ctf += ["--dFMin", shown(v["defocus_min"]), "--dFMax", shown(v["defocus_max"])]
    ctf += ["--FStep", "500", "--dAst", "100", "--ctffind_exe", site["ctffind_exe"]]
    ctf += ["--ctfWin", "-1", "--is_ctffind4", "--fast_search"]
    calls = [["module", "load", site["module"]]] if site["module"] else []
    calls.append(imp)
    calls.append(relion("relion_run_motioncorr", motion))
    calls.append(relion("relion_run_ctffind", ctf))
    return calls


def _aretomo_calls(v: Mapping[str, Value], site: Mapping[str, str]) -> list[list[str]]:
    stack = str(v["tilt_series"]).rsplit("/", 1)[-1]
    stem = stack.rsplit(".", 1)[0] if "." in stack else stack
    call = [site["aretomo"], "-InMrc", "./" + _rel(v["tilt_series"])]
    call += ["-OutMrc", f"AreTomo/{stem}_rec.mrc", "-AngFile", "./" + _rel(v["angles"])]
    call += ["-VolZ", shown(v["vol_z"]), "-OutBin", shown(v["out_bin"])]
    call += ["-AlignZ", shown(v["align_z"]), "-TiltCor", str(v["tilt_cor"])]
    call += ["-PixSize", shown(v["pixel_size"]), "-Kv", shown(v["kv"])]
    call += ["-Wbp", "1" if v["wbp"] else "0", "-OutImod", str(v["out_imod"])]
    call += ["-Gpu", *(str(i) for i in range(int(v["gpus"])))]
    calls = [["module", "load", site["module"]]] if site["module"] else []
    return [*calls, ["nvidia-smi", "-L"], call]


MODELS: dict[str, Callable[[Mapping[str, Value], Mapping[str, str]], list[list[str]]]] = {
    "shell": lambda v, _s: [
        ["bash", "-e", "-o", "pipefail", "-c", "--", str(v["command"]), "flowcron-shell"]
    ],
    "python": lambda v, s: _py_calls(v, s, gpu=False),
    "gpu-python": lambda v, s: _py_calls(v, s, gpu=True),
    "relion-class3d": _class3d_calls,
    "relion-preprocess": _preprocess_calls,
    "aretomo": _aretomo_calls,
}


def test_every_builtin_has_a_model() -> None:
    assert sorted(MODELS) == sorted(BUILTINS)


def run_and_compare(
    function: Function, values: Mapping[str, Value], script: str, root: Path
) -> None:
    """(c): run ``script`` with stand-ins; the calls must be the model's, exactly."""
    bindir = make_standins(root / "bin")
    uow = root / "uow"
    (uow / "data").mkdir(parents=True, exist_ok=True)
    (uow / "job.sh").write_text(script, encoding="utf-8")
    log = root / "calls.log"
    log.unlink(missing_ok=True)
    result = subprocess.run(
        ["/bin/bash", "job.sh"],
        cwd=uow,
        env={
            "PATH": f"{bindir}:/usr/bin:/bin",
            "FLOWCRON_STANDIN_LOG": str(log),
            "HOME": str(root),
        },
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert read_calls(log) == MODELS[function.name](values, function.site)
    assert not (uow / "pwned").exists() and not (uow / "data" / "pwned").exists()


@pytest.mark.parametrize("name", BUILTINS)
def test_hostile_values_run_only_the_template_commands(
    name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    function = builtin(name)
    if name in SITE_FOR_RUNS:
        function = dataclasses.replace(function, site={**function.site, **SITE_FOR_RUNS[name]})
    params = weighted_params(function)
    root = tmp_path_factory.mktemp(f"run-{name}")

    @settings(
        max_examples=EXECUTED_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(data=st.data())
    def prop(data: st.DataObject) -> None:
        param = data.draw(st.sampled_from(params), label="param")
        raw = data.draw(runnable_for(param), label="value")
        given = {**example_params(name), param.name: raw}
        values, _, rendered, problems = render_call(function, given)
        COUNTS["executed-tried"] += 1
        if problems:
            return
        assert rendered is not None
        run_and_compare(function, values, rendered.script, root)
        COUNTS["executed"] += 1

    prop()


# -- the property can fail ---------------------------------------------------------


@pytest.fixture
def broken_renderer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A renderer whose quoting is broken: double quotes let $(), backticks and $VAR expand."""
    original = render_module.shell_value
    monkeypatch.setattr(
        render_module,
        "shell_value",
        lambda value: '"' + value + '"' if isinstance(value, str) else original(value),
    )
    yield


@pytest.mark.parametrize(
    ("name", "param", "value"),
    [
        ("shell", "command", "echo $(touch pwned)"),
        ("shell", "command", 'say "hi"'),
        ("python", "args", "--x `touch pwned`"),
        ("python", "args", "$HOME"),
        ("aretomo", "tilt_series", "TS_$((1+1)).mrc"),
    ],
)
def test_a_broken_renderer_is_caught(
    name: str, param: str, value: str, broken_renderer: None, tmp_path: Path
) -> None:
    function = builtin(name)
    target = function.param(param)
    assert target is not None
    with pytest.raises(AssertionError):
        check_one(function, target, value, tmp_path)


def test_the_property_finds_an_escape_in_a_broken_renderer(
    broken_renderer: None, tmp_path: Path
) -> None:
    function = builtin("shell")
    command = function.param("command")
    assert command is not None

    @settings(
        max_examples=300,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=[HealthCheck.too_slow],
        database=None,
    )
    @given(raw=st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=8).map("".join))
    def prop(raw: str) -> None:
        check_one(function, command, raw, tmp_path)

    with pytest.raises(AssertionError):
        prop()


def test_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs last: how many hostile values the properties threw (when they ran in this session)."""
    if not COUNTS["values"]:
        pytest.skip("the properties did not run in this session")
    with capsys.disabled():
        print(f"\ninjection properties: {dict(sorted(COUNTS.items()))}")
    assert COUNTS["values"] == len(BUILTINS) * PROPERTY_EXAMPLES  # 10,200 by default
    assert COUNTS["rendered"] > 0 and COUNTS["refused"] > 0
    assert COUNTS["executed"] > 0
