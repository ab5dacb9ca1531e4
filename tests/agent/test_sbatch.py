"""The one ``#SBATCH`` reader reads a script the way sbatch does, for admission and executors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hpc_agent.config import InstanceConfig
from hpc_agent.executors.base import JobSpec, SubmitRejected
from hpc_agent.executors.local import LocalExecutor
from hpc_agent.executors.sbatch import (
    Option,
    Word,
    command_line_options,
    directive_lines,
    directive_words,
    job_time_limit,
    parse_options,
    sbatch_directives,
    script_options,
    split_words,
)
from hpc_agent.uow.admission import check_script
from tests.slurmbed import SlurmCluster

SHEBANG = "#!/bin/bash\n"


def limit(body: str) -> int | None:
    return job_time_limit(SHEBANG + body)


# -- which lines are directives ------------------------------------------------


def test_only_lines_starting_with_the_magic_word_in_column_one_are_directives() -> None:
    text = SHEBANG + "  #SBATCH --time=1\n\t#SBATCH -t 2\n#sbatch --time=3\n#SBATCH --time=4\n"
    assert directive_lines(text) == [(5, " --time=4")]
    assert limit("  #SBATCH --time=1\necho\n") is None


def test_the_old_slurm_magic_word_is_read_too() -> None:
    assert directive_lines(SHEBANG + "#SLURM --time=7\n") == [(2, " --time=7")]
    assert limit("#SLURM --time=7\n") == 420


def test_sbatchx_is_a_directive_whose_stray_first_word_ends_the_options() -> None:
    # sbatch refuses this script ("Invalid directive found in batch script: X");
    # nothing from that line or after it is taken.
    text = SHEBANG + "#SBATCH --job-name=a\n#SBATCHX --time=1\n#SBATCH --time=2\n"
    assert sbatch_directives(text) == ["--job-name=a", "X", "--time=1", "--time=2"]
    assert script_options(text) == [Option(2, "--job-name", "a")]
    assert job_time_limit(text) is None


def test_the_magic_word_needs_no_blank_after_it() -> None:
    assert limit("#SBATCH--time=7\n") == 420
    assert limit("#SBATCH\t--time=7\n") == 420


def test_directives_after_the_first_command_are_ignored() -> None:
    text = SHEBANG + "#SBATCH --time=7\n  echo start\n#SBATCH --time=9\n"
    assert directive_lines(text) == [(2, " --time=7")]
    assert job_time_limit(text) == 420


def test_blank_lines_and_comments_do_not_end_the_block() -> None:
    text = SHEBANG + "#SBATCH -J a\n\n   \n# plain\n   # indented\n#SBATCH --time=7\necho\n"
    assert [number for number, _ in directive_lines(text)] == [2, 7]
    assert job_time_limit(text) == 420


def test_a_script_without_directives() -> None:
    assert directive_words(SHEBANG + "echo hi\n") == []
    assert job_time_limit(SHEBANG + "echo hi\n") is None


# -- words -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rest", "words"),
    [
        (" --time=7 --mem=1G", ["--time=7", "--mem=1G"]),
        (' --job-name="a b"', ["--job-name=a b"]),
        (" --job-name=\"a b\"c' d'", ["--job-name=a bc d"]),
        (" -J 'x y' -t 7", ["-J", "x y", "-t", "7"]),
        (" --time=7 # was 9", ["--time=7"]),
        (" --time=7#comment", ["--time=7"]),
        (" --job-name=a#b --time=9", ["--job-name=a"]),
        (' --job-name="a#b" --time=7', ["--job-name=a#b", "--time=7"]),
        (' --job-name=a\\"b', ['--job-name=a"b']),
        (" --job-name='a\\'b'", ["--job-name=a'b"]),
        (" --job-name=a\\#b", ["--job-name=a#b"]),
        (" --job-name=a\\ b", ["--job-name=a", "b"]),
        (' "" --time=7', []),
        (" --time=7\r", ["--time=7"]),
        ("", []),
        (" # only a comment", []),
        (' --job-name="open', ["--job-name=open"]),
    ],
)
def test_words_split_like_sbatch(rest: str, words: list[str]) -> None:
    assert split_words(rest) == words


def test_words_keep_their_line_numbers() -> None:
    text = SHEBANG + "#SBATCH -J a\n# note\n#SBATCH --time 7\n"
    assert directive_words(text) == [
        Word(2, "-J"),
        Word(2, "a"),
        Word(4, "--time"),
        Word(4, "7"),
    ]


# -- options -----------------------------------------------------------------------


def words(*texts: str) -> list[Word]:
    return [Word(1, text) for text in texts]


def test_long_options_with_equals_or_the_next_word() -> None:
    assert parse_options(words("--time=7", "--output", "o.txt")) == [
        Option(1, "--time", "7"),
        Option(1, "--output", "o.txt"),
    ]


def test_a_required_value_is_the_next_word_even_if_it_starts_with_a_dash() -> None:
    assert parse_options(words("--time", "-1")) == [Option(1, "--time", "-1")]
    assert parse_options(words("--comment", "--time=9")) == [Option(1, "--comment", "--time=9")]


def test_flags_take_no_value() -> None:
    assert parse_options(words("--hold", "--nice", "--exclusive", "--time=7")) == [
        Option(1, "--hold", None),
        Option(1, "--nice", None),
        Option(1, "--exclusive", None),
        Option(1, "--time", "7"),
    ]


def test_short_options() -> None:
    assert parse_options(words("-t", "7", "-ofile", "-t=5", "-Ht", "9", "-kv")) == [
        Option(1, "-t", "7"),
        Option(1, "-o", "file"),
        Option(1, "-t", "=5"),
        Option(1, "-H", None),
        Option(1, "-t", "9"),
        Option(1, "-k", "v"),
    ]


def test_a_word_that_is_no_option_ends_the_options() -> None:
    assert parse_options(words("--time=7", "extra", "--time=8")) == [Option(1, "--time", "7")]
    assert parse_options(words("--", "--time=8")) == []


def test_a_value_may_come_from_the_next_directive_line() -> None:
    text = SHEBANG + "#SBATCH --time # set below\n#SBATCH 7\n"
    assert script_options(text) == [Option(2, "--time", "7")]


def test_a_missing_value_is_none() -> None:
    assert parse_options(words("--output")) == [Option(1, "--output", None)]
    assert command_line_options(["-t"]) == [Option(0, "-t", None)]
    assert limit("#SBATCH --time\n") is None


# -- time limits ---------------------------------------------------------------------


def test_the_last_time_wins_and_the_command_line_wins_over_the_script() -> None:
    text = SHEBANG + "#SBATCH --time=7 --time 8\n#SBATCH -t9\n"
    assert job_time_limit(text) == 540
    assert job_time_limit(text, ("--time=0:30",)) == 30
    assert job_time_limit(text, ("-t", "UNLIMITED")) is None


def test_time_min_is_not_the_time_limit() -> None:
    assert limit("#SBATCH --time-min=5\n") is None


def test_a_time_sbatch_refuses_raises() -> None:
    with pytest.raises(ValueError, match="time limit"):
        limit("#SBATCH -t=7\n")  # sbatch: "Invalid --time specification"


# -- admission and the local executor read the same lines --------------------------------

DRIFT_SCRIPTS = {
    "plain": (SHEBANG + "#SBATCH --time=1 --output=o.txt\necho\n", True),
    "indented": (SHEBANG + "  #SBATCH --time=1 --output=o.txt\necho\n", False),
    "tab-indented": (SHEBANG + "\t#SBATCH --time=1 --output=o.txt\necho\n", False),
    "sbatchx": (SHEBANG + "#SBATCHX --time=1 --output=o.txt\necho\n", False),
    "no blank after the magic word": (SHEBANG + "#SBATCH--time=1 --output=o.txt\necho\n", True),
    "after a command": (SHEBANG + "echo\n#SBATCH --time=1 --output=o.txt\n", False),
    "after a comment": (SHEBANG + "# note\n\n#SBATCH --time=1 --output=o.txt\necho\n", True),
    "slurm magic word": (SHEBANG + "#SLURM --time=1 --output=o.txt\necho\n", True),
    "after a stray word": (SHEBANG + "#SBATCH stray\n#SBATCH --time=1 --output=o.txt\n", False),
    "after a comment mark": (SHEBANG + "#SBATCH --job-name=a#b --time=1 --output=o.txt\n", False),
}


@pytest.mark.parametrize("name", list(DRIFT_SCRIPTS))
def test_admission_and_the_local_executor_read_the_same_directives(
    name: str, tmp_path: Path, cfg: InstanceConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, applies = DRIFT_SCRIPTS[name]
    uow = tmp_path / "uow"
    uow.mkdir()
    script = uow / "job.sh"
    script.write_text(text)

    directives = check_script(script, cfg, relative="scripts/job.sh").directives
    admission_sees = [(d.canonical, d.value) for d in directives]

    executor = LocalExecutor(tmp_path / "state")
    monkeypatch.setattr(executor, "_launch", lambda job_id: None)  # record, do not run
    spec = JobSpec(name="j", script=script, workdir=uow, stdout="o", stderr="e")
    job_id = executor.submit(spec)
    record = json.loads((tmp_path / "state" / "jobs" / f"{job_id}.spec.json").read_text())
    executor_limit = record["time_limit"]

    # The --output and the --time share one line: both readers take it, or neither.
    assert (admission_sees == [("output", "o.txt")], executor_limit == 60) == (applies, applies)


def test_the_local_executor_refuses_a_time_sbatch_refuses(tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text(SHEBANG + "#SBATCH -t=1\necho\n")
    spec = JobSpec(name="j", script=script, workdir=tmp_path, stdout="o", stderr="e")
    with pytest.raises(SubmitRejected, match="Invalid --time specification"):
        LocalExecutor(tmp_path / "state").submit(spec)


# -- the rule is sbatch's: checked against the real one -------------------------------------

AGAINST_SBATCH = [
    "#SBATCH --time=7\n",
    "  #SBATCH --time=7\n",
    "#SBATCH--time=7\n",
    "#SBATCH --time=7\necho\n#SBATCH --time=9\n",
    "#SBATCH -J a\n\n# plain\n#SBATCH --time=7\n",
    "#SBATCH --time 7\n",
    "#SBATCH -t 7\n",
    "#SBATCH -Ht7\n",
    "#SBATCH --time=7 --time=8\n",
    "#SBATCH --time=7 # was 9\n",
    "#SBATCH --job-name=a#b --time=9\n",
    '#SBATCH --job-name="a#b" --time=7\n',
    "#SBATCH --time\n#SBATCH 7\n",
    '#SBATCH "" --time=7\n',
    "#SBATCH --comment --time=9\n",
    "#SBATCH --hold --time=7\n",
    "#SLURM --time=7\n",
    "#sbatch --time=7\n",
]


@pytest.mark.slurm
@pytest.mark.parametrize("body", AGAINST_SBATCH)
def test_the_reader_agrees_with_real_sbatch(
    body: str, slurm_env_noacct: SlurmCluster, tmp_path: Path
) -> None:
    script = tmp_path / "job.sh"
    script.write_text(SHEBANG + body + "true\n")
    submitted = subprocess.run(
        ["sbatch", "--parsable", "--hold", "--output=/dev/null", str(script)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    job_id = submitted.stdout.strip().split(";")[0]
    try:
        shown = subprocess.run(
            ["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, check=True
        ).stdout
    finally:
        subprocess.run(["scancel", job_id], check=False)
    fields = dict(item.split("=", 1) for item in shown.split() if "=" in item)
    expected = job_time_limit(script.read_text())
    slurm_limit = fields["TimeLimit"]
    assert slurm_limit == (
        "UNLIMITED" if expected is None else f"00:{expected // 60:02d}:{expected % 60:02d}"
    )


@pytest.mark.slurm
@pytest.mark.parametrize("body", ["#SBATCHX --time=7\n", "#SBATCH --time=7 extra\n"])
def test_real_sbatch_refuses_a_stray_word(
    body: str, slurm_env_noacct: SlurmCluster, tmp_path: Path
) -> None:
    script = tmp_path / "job.sh"
    script.write_text(SHEBANG + body + "true\n")
    result = subprocess.run(
        ["sbatch", "--parsable", "--hold", "--output=/dev/null", str(script)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "Invalid directive found in batch script" in result.stderr
