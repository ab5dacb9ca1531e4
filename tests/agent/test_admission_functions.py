"""Admission of UoWs that call a published function (``job.toml``), and the run policy."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.functions.spec import Library, load_library
from hpc_agent.uow.admission import admit
from tests.agent.function_helpers import make_call_uow, publish, publish_broken
from tests.agent.helpers import make_uow


@pytest.fixture
def library(cfg: InstanceConfig) -> Library:
    functions = cfg.path(protocol.FUNCTIONS)
    publish(functions)
    publish(functions, "count-words")
    publish_broken(functions)
    return load_library(functions)


@pytest.fixture
def up(cfg: InstanceConfig) -> Path:
    uploaded = cfg.path(protocol.UPLOADED)
    uploaded.mkdir(parents=True)
    return uploaded


def _problems(uow: Path, cfg: InstanceConfig, library: Library) -> list[str]:
    verdict = admit(uow, cfg, library=library)
    assert not verdict.ok and verdict.script_text is None and verdict.call is None
    return list(verdict.problems)


def _one(problems: list[str], phrase: str) -> str:
    matching = [p for p in problems if phrase in p]
    assert len(matching) == 1, (phrase, problems)
    return matching[0]


# -- a good call -------------------------------------------------------------------


def test_a_call_is_admitted_without_scripts_and_its_script_is_rendered(
    up: Path, cfg: InstanceConfig, library: Library
) -> None:
    uow = make_call_uow(up, params={"input": "input.txt", "repeat": 3})
    verdict = admit(uow, cfg, library=library)
    assert verdict.ok, verdict.problems
    assert verdict.call is not None and verdict.call.rendered is not None
    assert verdict.script_text == verdict.call.rendered.script
    assert verdict.script_text.startswith("#!/bin/bash\n")
    assert "repeat=3\n" in verdict.script_text and "input=data/input.txt\n" in verdict.script_text
    assert verdict.script_sha256 == hashlib.sha256(verdict.script_text.encode()).hexdigest()
    assert verdict.function == {
        "name": "count-lines",
        "version": "1.2.0",
        "sha256": library.functions["count-lines"].sha256,
        "params": {"input": "data/input.txt", "repeat": 3, "label": "count", "mode": "lines"},
        "resources": {"time": "0:01:00", "cpus": 1, "memory": "50M"},
    }
    assert verdict.function_name == "count-lines" and verdict.broken_function is None
    assert any(protocol.RENDERED_SCRIPT in note for note in verdict.notes)
    assert not any("was not run" in note for note in verdict.notes)
    assert not (uow / protocol.RENDERED_SCRIPT).exists(), "admission itself writes nothing"


def test_the_same_uow_admitted_twice_renders_the_same_bytes(
    up: Path, cfg: InstanceConfig, library: Library
) -> None:
    uow = make_call_uow(up)
    first = admit(uow, cfg, library=library)
    second = admit(uow, cfg, library=load_library(cfg.path(protocol.FUNCTIONS)))
    assert first.script_text is not None and first.script_text == second.script_text
    assert first.script_sha256 == second.script_sha256


def test_the_library_defaults_to_the_instance_functions(
    up: Path, cfg: InstanceConfig, library: Library
) -> None:
    assert admit(make_call_uow(up), cfg).ok


def test_scripts_next_to_a_job_file_are_not_run_and_the_report_says_so(
    up: Path, cfg: InstanceConfig, library: Library
) -> None:
    verdict = admit(make_call_uow(up, scripts=True), cfg, library=library)
    assert verdict.ok, verdict.problems
    assert "scripts/ ran" not in (verdict.script_text or "")
    _one(list(verdict.notes), "nothing in 'scripts/' was run")


def test_upload_complete_checks_a_folder_without_sentinels(
    up: Path, cfg: InstanceConfig, library: Library
) -> None:
    uow = make_call_uow(up, sentinels=False)
    assert admit(uow, cfg, library=library).pending
    verdict = admit(uow, cfg, library=library, upload_complete=True)
    assert verdict.ok and not verdict.pending, verdict.problems
    script_uow = make_uow(up, "script", sentinels=False)
    assert admit(script_uow, cfg, upload_complete=True).ok


def test_a_missing_data_folder_is_named_but_scripts_is_not_demanded(
    up: Path, cfg: InstanceConfig, library: Library
) -> None:
    uow = make_call_uow(up, params={"input": "input.txt"})
    (uow / "data" / "input.txt").unlink()
    (uow / "data").rmdir()
    problems = _problems(uow, cfg, library)
    _one(problems, "The folder 'data/' is missing")
    assert not any("'scripts/' is missing" in p for p in problems)


# -- every problem, at once ----------------------------------------------------------


def test_an_unknown_function_is_named_with_the_published_ones(
    up: Path, cfg: InstanceConfig, library: Library
) -> None:
    [problem] = _problems(make_call_uow(up, function="count-line"), cfg, library)
    assert "no function 'count-line'" in problem
    assert "(did you mean 'count-lines'?)" in problem
    assert "count-lines, count-words" in problem


@pytest.mark.parametrize(
    ("params", "phrase"),
    [
        ({}, "[params] 'input' is required"),
        ({"input": "input.txt", "repaet": 2}, "(did you mean 'repeat'?)"),
        ({"input": "input.txt", "repeat": "2"}, "expected a whole number (no quotes)"),
        ({"input": "input.txt", "repeat": 9}, "9 is too large"),
        ({"input": "input.txt", "repeat": 0}, "0 is too small"),
        ({"input": "input.txt", "mode": "lnes"}, "(did you mean 'lines'?)"),
        ({"input": "input.txt", "label": "Bad Label"}, "does not match the pattern"),
        ({"input": "missing.txt"}, "data/missing.txt does not exist"),
        ({"input": "/etc/passwd.txt"}, "is absolute"),
        ({"input": "../job.txt"}, "goes outside data/ ('..')"),
        ({"input": "data/input.txt"}, "paths are relative to data/ already"),
        ({"input": "input.csv"}, "does not match '*.txt'"),
    ],
    ids=[
        "missing",
        "unknown-with-suggestion",
        "wrong-type",
        "too-large",
        "too-small",
        "enum-suggestion",
        "pattern",
        "path-missing",
        "path-absolute",
        "path-dotdot",
        "path-data-prefix",
        "path-match",
    ],
)
def test_each_parameter_problem_says_what_to_write(
    up: Path, cfg: InstanceConfig, library: Library, params: dict[str, object], phrase: str
) -> None:
    _one(_problems(make_call_uow(up, params=params), cfg, library), phrase)


def test_a_symlink_out_of_data_is_refused(up: Path, cfg: InstanceConfig, library: Library) -> None:
    uow = make_call_uow(up, params={"input": "linked.txt"})
    (uow / "notes.txt").write_text("outside data/, inside the UoW\n")
    (uow / "data" / "linked.txt").symlink_to("../notes.txt")
    _one(_problems(uow, cfg, library), "is a link to somewhere outside data/")


def test_a_symlink_out_of_the_uow_is_refused_twice_over(
    up: Path, cfg: InstanceConfig, library: Library, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("secret\n")
    uow = make_call_uow(up, params={"input": "secret.txt"})
    (uow / "data" / "secret.txt").symlink_to(secret)
    problems = _problems(uow, cfg, library)
    _one(problems, "which is outside the Unit of Work")
    _one(problems, "is a link to somewhere outside data/")


def test_every_problem_is_reported_at_once(up: Path, cfg: InstanceConfig, library: Library) -> None:
    params = {"input": "nothere.txt", "repeat": 7, "mode": 3, "colour": "red"}
    problems = _problems(make_call_uow(up, params=params), cfg, library)
    assert len(problems) == 4, problems
    _one(problems, "'colour' is not a parameter")
    _one(problems, "data/nothere.txt does not exist")
    _one(problems, "7 is too large")
    _one(problems, "[params] mode")


def test_a_broken_job_file_is_refused(up: Path, cfg: InstanceConfig, library: Library) -> None:
    uow = make_call_uow(up)
    (uow / protocol.JOB_FILE).write_text('function = "count-lines"\n[params\n')
    _one(_problems(uow, cfg, library), "is not valid TOML")


def test_a_call_of_a_broken_function_is_refused_and_flagged(
    up: Path, cfg: InstanceConfig, library: Library
) -> None:
    verdict = admit(make_call_uow(up, function="broken-fn"), cfg, library=library)
    assert not verdict.ok
    [problem] = verdict.problems
    assert "is broken on this instance" in problem and "has been told" in problem
    assert verdict.broken_function == "broken-fn"
    assert verdict.function == {"name": "broken-fn"}


# -- what is at flowcron-job.sh already ---------------------------------------------


def test_a_users_own_rendered_script_name_is_refused(
    up: Path, cfg: InstanceConfig, library: Library
) -> None:
    uow = make_call_uow(up)
    (uow / protocol.RENDERED_SCRIPT).write_text("#!/bin/bash\necho mine\n")
    _one(_problems(uow, cfg, library), f"rename or remove your '{protocol.RENDERED_SCRIPT}'")
    assert (uow / protocol.RENDERED_SCRIPT).read_text() == "#!/bin/bash\necho mine\n"


def test_a_script_uow_may_have_a_file_of_that_name(up: Path, cfg: InstanceConfig) -> None:
    uow = make_uow(up)
    (uow / protocol.RENDERED_SCRIPT).write_text("#!/bin/bash\necho mine\n")
    assert admit(uow, cfg).ok


def test_the_script_rendered_now_stays_and_an_earlier_one_is_archived(
    up: Path, cfg: InstanceConfig, library: Library
) -> None:
    uow = make_call_uow(up, params={"input": "input.txt", "repeat": 2})
    rendered = admit(uow, cfg, library=library).script_text
    assert rendered is not None
    # The same call (a crash after writing it, or the same folder run again): it stays.
    (uow / protocol.RENDERED_SCRIPT).write_text(rendered)
    again = admit(uow, cfg, library=library)
    assert again.ok and again.earlier is None
    # The folder run again with other values: the earlier run's script is archived.
    (uow / protocol.JOB_FILE).write_text(
        (uow / protocol.JOB_FILE).read_text().replace("repeat = 2", "repeat = 4")
    )
    changed = admit(uow, cfg, library=library)
    assert changed.ok, changed.problems
    assert changed.earlier is not None
    assert changed.earlier.entries == (protocol.RENDERED_SCRIPT,)


# -- the run policy --------------------------------------------------------------------


def test_policy_both_runs_either_kind(up: Path, cfg: InstanceConfig, library: Library) -> None:
    assert cfg.run_policy == "both"
    assert admit(make_call_uow(up), cfg, library=library).ok
    assert admit(make_uow(up, "script"), cfg, library=library).ok


def test_policy_functions_refuses_a_script_and_lists_the_functions(
    up: Path, cfg: InstanceConfig, library: Library
) -> None:
    only = replace(cfg, run_policy="functions")
    [problem] = _problems(make_uow(up, "script"), only, library)
    assert "runs only its published functions" in problem
    assert "count-lines (Count the lines of a text file, a few times over)" in problem
    assert "count-words (" in problem
    assert "Broken at the moment: broken-fn" in problem
    assert admit(make_call_uow(up), only, library=library).ok


def test_policy_functions_with_no_functions_says_so(up: Path, cfg: InstanceConfig) -> None:
    only = replace(cfg, run_policy="functions")
    [problem] = _problems(make_uow(up, "script"), only, Library({}, {}))
    assert "no working function at the moment" in problem


def test_policy_scripts_refuses_a_call(up: Path, cfg: InstanceConfig, library: Library) -> None:
    only = replace(cfg, run_policy="scripts")
    [problem] = _problems(make_call_uow(up, scripts=True), only, library)
    assert "runs only job scripts" in problem
    assert admit(make_uow(up, "script"), only, library=library).ok


def test_the_run_policy_is_validated(cfg: InstanceConfig) -> None:
    from hpc_agent.config import ConfigError

    with pytest.raises(ConfigError, match="run_policy: 'all' is not one of both, scripts"):
        replace(cfg, run_policy="all")
