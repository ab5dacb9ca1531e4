"""UoW admission: every malformed upload gets its own reason; valid variants are admitted."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from hpc_agent.config import InstanceConfig
from hpc_agent.uow.admission import admit, parse_directives, upload_state

MakeUow = Callable[..., Path]
SCRIPT = "#!/bin/bash\n#SBATCH --time=00:01:00\n\necho hi > data/out.txt\n"


def _script(body: str) -> str:
    return "#!/bin/bash\n#SBATCH --time=00:01:00\n" + body


# Each case: (id, builder(uow parent) -> uow path, config changes, expected phrase).
Builder = Callable[[Path, MakeUow], Path]


def _no_data(p: Path, mk: MakeUow) -> Path:
    uow = mk(p)
    (uow / "data" / "input.txt").unlink()
    (uow / "data").rmdir()
    return uow


def _no_scripts(p: Path, mk: MakeUow) -> Path:
    uow = mk(p, script=None)
    (uow / "scripts").rmdir()
    return uow


def _data_is_file(p: Path, mk: MakeUow) -> Path:
    uow = _no_data(p, mk)
    (uow / "data").write_text("not a folder")
    return uow


def _empty_scripts(p: Path, mk: MakeUow) -> Path:
    return mk(p, script=None)


def _python_script(p: Path, mk: MakeUow) -> Path:
    return mk(p, script="#!/usr/bin/env python3\n#SBATCH -t 1\nprint(1)\n", script_name="run.py")


def _no_sbatch(p: Path, mk: MakeUow) -> Path:
    return mk(p, script="#!/bin/bash\necho hi\n", script_name="run.sh")


def _two_candidates(p: Path, mk: MakeUow) -> Path:
    uow = mk(p, script=SCRIPT, script_name="a.sh")
    (uow / "scripts" / "b.sh").write_text(SCRIPT)
    return uow


def _home(p: Path, mk: MakeUow) -> Path:
    return mk(p, script=_script("cp $HOME/x data/\n"))


def _user_braces(p: Path, mk: MakeUow) -> Path:
    return mk(p, script=_script("echo one\necho ${USER}\necho $USER/x\n"))


def _home_braces_default(p: Path, mk: MakeUow) -> Path:
    return mk(p, script=_script("ls ${HOME:-/tmp}\n"))


def _symlink_abs(p: Path, mk: MakeUow) -> Path:
    uow = mk(p)
    (uow / "data" / "passwd").symlink_to("/etc/passwd")
    return uow


def _symlink_relative_escape(p: Path, mk: MakeUow) -> Path:
    uow = mk(p)
    (uow / "data" / "up").symlink_to("../../../elsewhere")
    return uow


def _symlink_dir_outside(p: Path, mk: MakeUow) -> Path:
    uow = mk(p)
    (uow / "data" / "refs").symlink_to(p)
    return uow


def _scripts_is_symlink(p: Path, mk: MakeUow) -> Path:
    outside = p / "shared_scripts"
    outside.mkdir()
    (outside / "submission_script.sh").write_text(SCRIPT)
    uow = mk(p, script=None)
    (uow / "scripts").rmdir()
    (uow / "scripts").symlink_to(outside)
    return uow


def _newline_name(p: Path, mk: MakeUow) -> Path:
    uow = mk(p)
    (uow / "data" / "bad\nname.txt").write_text("x")
    return uow


def _control_char_name(p: Path, mk: MakeUow) -> Path:
    uow = mk(p)
    (uow / "data" / "bell\x07.txt").write_text("x")
    return uow


def _dash_name(p: Path, mk: MakeUow) -> Path:
    uow = mk(p)
    (uow / "data" / "-rf").write_text("x")
    return uow


def _dash_uow_name(p: Path, mk: MakeUow) -> Path:
    return mk(p, name="-sample")


def _non_utf8_name(p: Path, mk: MakeUow) -> Path:
    uow = mk(p)
    (Path(os.fsdecode(bytes(uow / "data") + b"/caf\xe9.txt"))).write_text("x")
    return uow


def _sentinels_file(p: Path, mk: MakeUow) -> Path:
    uow = mk(p, sentinels=False)
    (uow / "sentinels").write_text("")
    return uow


def _sentinels_symlink(p: Path, mk: MakeUow) -> Path:
    uow = mk(p, sentinels=False)
    (uow / "elsewhere").mkdir()
    (uow / "sentinels").symlink_to("elsewhere")
    return uow


def _too_big(p: Path, mk: MakeUow) -> Path:
    uow = mk(p)
    (uow / "data" / "big.bin").write_bytes(b"\0" * 5000)
    return uow


def _stale_upload(p: Path, mk: MakeUow) -> Path:
    uow = mk(p, sentinels=False)
    old = time.time() - 10 * 86400
    for path in [uow, *uow.rglob("*")]:
        os.utime(path, (old, old), follow_symlinks=False)
    return uow


def _binary_script(p: Path, mk: MakeUow) -> Path:
    return mk(p, script=b"#!/bin/bash\n#SBATCH -t 1\n\x00\x01\x02ELF")


def _latin1_script(p: Path, mk: MakeUow) -> Path:
    return mk(p, script="#!/bin/bash\n#SBATCH -t 1\necho 'café'\n".encode("latin-1"))


def _no_shebang(p: Path, mk: MakeUow) -> Path:
    return mk(p, script="#SBATCH -t 1\necho hi\n")


def _huge_script(p: Path, mk: MakeUow) -> Path:
    return mk(p, script="#!/bin/bash\n#SBATCH -t 1\n" + "# padding\n" * 500_000)


def _account_rejected(p: Path, mk: MakeUow) -> Path:
    return mk(p, script="#!/bin/bash\n#SBATCH --account=other\necho hi\n")


def _qos_rejected(p: Path, mk: MakeUow) -> Path:
    return mk(p, script="#!/bin/bash\n#SBATCH -q high\necho hi\n")


def _uow_is_file(p: Path, mk: MakeUow) -> Path:
    path = p / "sample.tar"
    path.write_text("an archive, not a folder")
    return path


def _preferred_is_symlink_outside(p: Path, mk: MakeUow) -> Path:
    outside = p / "elsewhere.sh"
    outside.write_text(SCRIPT)
    uow = mk(p, script=None)
    (uow / "scripts" / "submission_script.sh").symlink_to(outside)
    return uow


REJECT: dict[str, object] = {"account_qos_policy": "reject"}
CASES: list[tuple[str, Builder, dict[str, object], str]] = [
    ("missing-data", _no_data, {}, "The folder 'data/' is missing"),
    ("missing-scripts", _no_scripts, {}, "The folder 'scripts/' is missing"),
    ("data-is-a-file", _data_is_file, {}, "The folder 'data/' is missing"),
    ("empty-scripts", _empty_scripts, {}, "No job script found in 'scripts/' (it holds: nothing)"),
    ("python-script", _python_script, {}, "No job script found in 'scripts/' (it holds: run.py)"),
    ("no-sbatch-line", _no_sbatch, {}, "has at least one '#SBATCH' line"),
    (
        "two-candidates",
        _two_candidates,
        {},
        "Several possible job scripts in 'scripts/': a.sh, b.sh",
    ),
    ("dollar-home", _home, {}, "uses $HOME or $USER (line 3)"),
    ("dollar-user", _user_braces, {}, "uses $HOME or $USER (line 4, 5)"),
    ("home-default", _home_braces_default, {}, "uses $HOME or $USER (line 3)"),
    ("symlink-absolute", _symlink_abs, {}, "'data/passwd' is a symlink to '/etc/passwd'"),
    ("symlink-relative", _symlink_relative_escape, {}, "'data/up' is a symlink to"),
    ("symlink-dir", _symlink_dir_outside, {}, "'data/refs' is a symlink to"),
    ("scripts-symlink", _scripts_is_symlink, {}, "'scripts' is a symlink to"),
    ("newline-name", _newline_name, {}, "contains a newline"),
    ("control-char-name", _control_char_name, {}, "contains a control character"),
    ("dash-name", _dash_name, {}, "'data/-rf' starts with '-'"),
    ("dash-uow-name", _dash_uow_name, {}, "'-sample' starts with '-'"),
    ("non-utf8-name", _non_utf8_name, {}, "is not valid UTF-8; rename it"),
    ("sentinels-file", _sentinels_file, {}, "'sentinels' is a file or a link"),
    ("sentinels-symlink", _sentinels_symlink, {}, "'sentinels' is a file or a link"),
    ("too-big", _too_big, {"max_uow_bytes": 4096}, "over the size limit of 4.0 KiB"),
    ("upload-stale", _stale_upload, {}, "The upload never completed"),
    ("binary-script", _binary_script, {}, "is a binary file"),
    ("latin1-script", _latin1_script, {}, "is not valid UTF-8 text (line 3)"),
    ("no-shebang", _no_shebang, {}, "does not start with a '#!' line"),
    ("huge-script", _huge_script, {}, "Slurm accepts job scripts up to 4.0 MiB"),
    ("account-rejected", _account_rejected, REJECT, "Line 2 (#SBATCH --account other)"),
    ("qos-rejected", _qos_rejected, REJECT, "chooses the Slurm qos"),
    ("uow-is-a-file", _uow_is_file, {}, "is a file, not a folder"),
    ("preferred-symlink", _preferred_is_symlink_outside, {}, "submission_script.sh' is a symlink"),
]


@pytest.mark.parametrize(
    ("builder", "changes", "phrase"),
    [pytest.param(b, c, ph, id=i) for i, b, c, ph in CASES],
)
def test_malformed_uow_is_rejected_with_its_reason(
    tmp_path: Path,
    cfg: InstanceConfig,
    make_uow: MakeUow,
    builder: Builder,
    changes: dict[str, object],
    phrase: str,
) -> None:
    uow = builder(tmp_path, make_uow)
    before = _snapshot(uow)
    verdict = admit(uow, replace(cfg, **changes))  # type: ignore[arg-type]
    assert not verdict.ok
    assert not verdict.pending
    assert verdict.script_text is None
    assert any(phrase in problem for problem in verdict.problems), verdict.problems
    assert _snapshot(uow) == before, "admission must never change the user's files"


def test_every_malformed_case_has_a_distinct_reason(
    tmp_path: Path, cfg: InstanceConfig, make_uow: MakeUow
) -> None:
    reasons = set()
    for index, (_, builder, changes, _) in enumerate(CASES):
        parent = tmp_path / str(index)
        parent.mkdir()
        verdict = admit(builder(parent, make_uow), replace(cfg, **changes))  # type: ignore[arg-type]
        reasons.add(verdict.problems)
    assert len(CASES) >= 25
    assert len(reasons) >= 25


def _snapshot(path: Path) -> dict[str, bytes | str]:
    if not path.is_dir() or path.is_symlink():
        return {"": path.read_bytes() if path.is_file() else "link"}
    out: dict[str, bytes | str] = {}
    for item in sorted(path.rglob("*")):
        key = str(item.relative_to(path))
        if item.is_symlink():
            out[key] = "-> " + str(item.readlink())
        elif item.is_file():
            out[key] = item.read_bytes()
        else:
            out[key] = "dir"
    return out


# -- valid variants ----------------------------------------------------------


def test_plain_uow_is_admitted(tmp_path: Path, cfg: InstanceConfig, make_uow: MakeUow) -> None:
    uow = make_uow(tmp_path)
    verdict = admit(uow, cfg)
    assert verdict.ok, verdict.problems
    assert verdict.script == uow / "scripts" / "submission_script.sh"
    assert verdict.script_text == (uow / "scripts" / "submission_script.sh").read_text()
    assert verdict.notes == ()
    expected = hashlib.sha256((uow / "scripts" / "submission_script.sh").read_bytes()).hexdigest()
    assert verdict.script_sha256 == expected


def test_crlf_is_normalised_in_the_submitted_copy_only(
    tmp_path: Path, cfg: InstanceConfig, make_uow: MakeUow
) -> None:
    raw = b"#!/bin/bash\r\n#SBATCH --time=1\r\necho hi\r\n"
    uow = make_uow(tmp_path, script=raw)
    verdict = admit(uow, cfg)
    assert verdict.ok, verdict.problems
    assert verdict.script_text == "#!/bin/bash\n#SBATCH --time=1\necho hi\n"
    assert any("CRLF" in note for note in verdict.notes)
    assert (uow / "scripts" / "submission_script.sh").read_bytes() == raw


def test_byte_order_mark_is_dropped_from_the_copy(
    tmp_path: Path, cfg: InstanceConfig, make_uow: MakeUow
) -> None:
    uow = make_uow(tmp_path, script="\ufeff" + SCRIPT, script_name="job.sh")
    verdict = admit(uow, cfg)
    assert verdict.ok, verdict.problems
    assert verdict.script_text == SCRIPT
    assert any("byte-order mark" in note for note in verdict.notes)


def test_submission_script_is_preferred_over_other_candidates(
    tmp_path: Path, cfg: InstanceConfig, make_uow: MakeUow
) -> None:
    uow = make_uow(tmp_path)
    (uow / "scripts" / "other.sh").write_text(SCRIPT)
    verdict = admit(uow, cfg)
    assert verdict.ok
    assert verdict.script is not None and verdict.script.name == "submission_script.sh"


@pytest.mark.parametrize(
    "shebang",
    ["#!/usr/bin/env bash", "#!/bin/bash -l", "#!/bin/bash   ", "#!/bin/bash\r", "#! /bin/bash"],
)
def test_single_candidate_with_bash_shebang_variants(
    tmp_path: Path, cfg: InstanceConfig, make_uow: MakeUow, shebang: str
) -> None:
    uow = make_uow(tmp_path, script=f"{shebang}\n#SBATCH -t 5\necho hi\n", script_name="job")
    (uow / "scripts" / "helper.py").write_text("print('not the job script')\n")
    verdict = admit(uow, cfg)
    assert verdict.ok, verdict.problems
    assert verdict.script == uow / "scripts" / "job"


def test_sbatch_overrides_are_noted_not_rejected(
    tmp_path: Path, cfg: InstanceConfig, make_uow: MakeUow
) -> None:
    script = (
        "#!/bin/bash\n"
        "#SBATCH --output=my.out\n"
        "#SBATCH -e my.err\n"
        "#SBATCH -D/somewhere\n"
        "#SBATCH --account other   # mine\n"
        "#SBATCH -q high\n"
        "echo hi\n"
    )
    verdict = admit(make_uow(tmp_path, script=script), cfg)
    assert verdict.ok, verdict.problems
    notes = "\n".join(verdict.notes)
    assert "Line 2 (#SBATCH --output my.out) is overridden" in notes
    assert "Line 3 (#SBATCH -e my.err) is overridden" in notes
    assert "Line 4 (#SBATCH -D /somewhere) is overridden" in notes
    assert "Line 5 (#SBATCH --account other) is overridden: this instance's account 'acct'" in notes
    assert "Line 6 (#SBATCH -q high) is overridden: this instance's qos 'normal'" in notes
    # The submitted copy keeps the user's lines: sbatch's command line wins over them.
    assert verdict.script_text == script


def test_account_line_applies_when_instance_sets_none(
    tmp_path: Path, cfg: InstanceConfig, make_uow: MakeUow
) -> None:
    script = "#!/bin/bash\n#SBATCH -A mine\necho hi\n"
    verdict = admit(make_uow(tmp_path, script=script), replace(cfg, account=None))
    assert verdict.ok
    assert any("applies: this instance sets no account" in n for n in verdict.notes)


def test_home_in_comments_and_lookalike_names_are_fine(
    tmp_path: Path, cfg: InstanceConfig, make_uow: MakeUow
) -> None:
    script = _script("# do not use $HOME here\necho $HOMEDIR $USERNAME ${USER_DATA}\n")
    verdict = admit(make_uow(tmp_path, script=script), cfg)
    assert verdict.ok, verdict.problems


def test_symlinks_inside_the_uow_are_allowed(
    tmp_path: Path, cfg: InstanceConfig, make_uow: MakeUow
) -> None:
    uow = make_uow(tmp_path)
    (uow / "data" / "alias.txt").symlink_to("input.txt")
    (uow / "results").symlink_to("data")
    assert admit(uow, cfg).ok


def test_upload_in_progress_is_pending_not_rejected(
    tmp_path: Path, cfg: InstanceConfig, make_uow: MakeUow
) -> None:
    uow = make_uow(tmp_path, sentinels=False)
    verdict = admit(uow, cfg)
    assert verdict.pending and not verdict.ok and verdict.problems == ()
    # With the time-out disabled even an old upload stays pending.
    verdict = admit(uow, replace(cfg, upload_timeout_days=0), now=time.time() + 400 * 86400)
    assert verdict.pending


def test_upload_timeout_counts_from_the_newest_file(
    tmp_path: Path, cfg: InstanceConfig, make_uow: MakeUow
) -> None:
    uow = make_uow(tmp_path, sentinels=False)
    newest = (uow / "data" / "input.txt").stat().st_mtime
    assert admit(uow, cfg, now=newest + 6 * 86400).pending
    late = admit(uow, cfg, now=newest + 8 * 86400)
    assert not late.pending and "never completed" in late.problems[0]


def test_size_is_counted_without_following_symlinks(
    tmp_path: Path, cfg: InstanceConfig, make_uow: MakeUow
) -> None:
    uow = make_uow(tmp_path)
    (uow / "data" / "big.bin").write_bytes(b"x" * 3000)
    (uow / "data" / "again").symlink_to("big.bin")
    assert admit(uow, replace(cfg, max_uow_bytes=4096)).ok


def test_several_problems_are_all_reported(
    tmp_path: Path, cfg: InstanceConfig, make_uow: MakeUow
) -> None:
    uow = make_uow(tmp_path, script=_script("cd $HOME\n"))
    (uow / "data" / "-x").write_text("")
    (uow / "data" / "link").symlink_to("/tmp")
    problems = admit(uow, cfg).problems
    assert len(problems) == 3


def test_upload_state_follows_the_sentinel_rule(tmp_path: Path, make_uow: MakeUow) -> None:
    assert upload_state(make_uow(tmp_path / "a")) == "ready"
    assert upload_state(make_uow(tmp_path / "b", sentinels=False)) == "uploading"
    bad = make_uow(tmp_path / "c", sentinels=False)
    (bad / "sentinels").write_text("")
    assert upload_state(bad) == "bad-sentinels"


def test_directives_parse_like_sbatch() -> None:
    text = (
        "#!/bin/bash\n"
        "#SBATCH --output out.txt --error=err.txt\n"
        "\n"
        "# a comment\n"
        "#SBATCH -oshort.out\n"
        "#SBATCH --chdir='/with space'\n"
        "#SBATCHX --output=ignored\n"
        "echo start\n"
        "#SBATCH --account=too-late\n"
    )
    found = [(d.line, d.canonical, d.value) for d in parse_directives(text)]
    assert found == [
        (2, "output", "out.txt"),
        (2, "error", "err.txt"),
        (5, "output", "short.out"),
        (6, "chdir", "/with space"),
    ]


def test_admission_of_many_uows_is_fast(
    tmp_path: Path, cfg: InstanceConfig, make_uow: MakeUow
) -> None:
    uows = [make_uow(tmp_path, name=f"u{i}") for i in range(200)]
    started = time.perf_counter()
    assert all(admit(u, cfg).ok for u in uows)
    assert (time.perf_counter() - started) / len(uows) < 0.005
