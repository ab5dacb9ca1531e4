"""The report files in a finished UoW: complete JSON, a short text page with the next step."""

from __future__ import annotations

import json
from pathlib import Path

from hpc_agent import protocol
from hpc_agent.uow.report import (
    STDERR_TAIL_LINES,
    read_report,
    remove_report_temporaries,
    render_text,
    stderr_summary,
    write_report,
)

FAILED = {
    "outcome": "failed",
    "uow": "sample",
    "instance": "proj",
    "job_id": "42",
    "state": "OUT_OF_MEMORY",
    "exit_code": "0:125",
    "elapsed": "00:00:07",
    "node": "node1",
    "submit_time": "2026-01-01T00:00:00",
    "start_time": "2026-01-01T00:00:01",
    "end_time": "2026-01-01T00:00:08",
    "script_sha256": "ab" * 32,
    "reason": "Slurm ended the job with state OUT_OF_MEMORY.",
    "notes": ["Line 2 (#SBATCH -o x) is overridden."],
    "removed_symlinks": ["data/outside"],
    "next_step": "Ask for more memory with '#SBATCH --mem'.",
}


def test_both_files_are_written_and_json_round_trips(tmp_path: Path) -> None:
    write_report(tmp_path, FAILED)
    assert json.loads((tmp_path / protocol.REPORT_JSON).read_text()) == FAILED
    assert read_report(tmp_path) == FAILED
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [protocol.REPORT_JSON, protocol.REPORT_TEXT]
    ), "no temporary files may be left behind"


def test_text_report_tells_what_happened_and_what_to_do(tmp_path: Path) -> None:
    write_report(tmp_path, FAILED)
    text = (tmp_path / protocol.REPORT_TEXT).read_text()
    assert "The job failed." in text
    assert "Reason: Slurm ended the job with state OUT_OF_MEMORY." in text
    for fragment in ("Job id:", "42", "Slurm state:", "0:125", "00:00:07", "node1", "ab" * 32):
        assert fragment in text
    assert "data/outside" in text
    assert "What to do next: Ask for more memory" in text
    assert len(text.splitlines()) < 40


def test_rejected_uow_report_lists_problems_and_skips_missing_facts() -> None:
    text = render_text(
        {"outcome": "rejected", "uow": "s", "problems": ["The folder 'data/' is missing."]}
    )
    assert "The Unit of Work was not run." in text
    assert "  - The folder 'data/' is missing." in text
    assert "Job id" not in text and "None" not in text


def test_read_report_of_a_folder_without_one_is_none(tmp_path: Path) -> None:
    assert read_report(tmp_path) is None


def _finished_uow(tmp_path: Path, err: bytes | None) -> Path:
    uow = tmp_path / "uow"
    uow.mkdir()
    if err is not None:
        (uow / "slurm-42.err").write_bytes(err)
    return uow


def test_a_succeeded_job_that_wrote_errors_says_so_plainly(tmp_path: Path) -> None:
    uow = _finished_uow(
        tmp_path, b"/var/spool/slurmd/job42/slurm_script: line 5: conda: command not found\n"
    )
    summary = stderr_summary(uow, "42")
    assert summary is not None
    assert summary["file"] == "slurm-42.err"
    assert summary["tail"] == [
        "/var/spool/slurmd/job42/slurm_script: line 5: conda: command not found"
    ]
    assert "'conda'" in summary["hints"][0]
    text = render_text({"outcome": "succeeded", "job_id": "42", "stderr": summary})
    assert "The job succeeded, but your job wrote errors" in text
    assert "Your job wrote errors: slurm-42.err is not empty" in text
    assert "  | /var/spool/slurmd/job42/slurm_script: line 5: conda: command not found" in text
    assert "module load" in text


def test_empty_or_missing_error_output_adds_nothing(tmp_path: Path) -> None:
    assert stderr_summary(_finished_uow(tmp_path, b""), "42") is None
    assert stderr_summary(tmp_path / "uow", "43") is None
    assert stderr_summary(tmp_path / "uow", None) is None
    text = render_text({"outcome": "succeeded", "job_id": "42", "stderr": None})
    assert "errors" not in text


def test_only_the_end_of_a_huge_error_output_is_read_and_quoted(tmp_path: Path) -> None:
    noise = b"".join(b"progress %d\n" % i for i in range(200_000)) + b"\xff\xfe bad bytes\n"
    summary = stderr_summary(_finished_uow(tmp_path, noise), "42")
    assert summary is not None
    assert summary["bytes"] == len(noise)
    assert len(summary["tail"]) == STDERR_TAIL_LINES
    assert summary["tail"][-1] == "\ufffd\ufffd bad bytes"
    json.dumps(summary, ensure_ascii=False).encode("utf-8")  # always valid UTF-8


def test_error_output_behind_a_symlink_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("private\n")
    uow = _finished_uow(tmp_path, None)
    (uow / "slurm-42.err").symlink_to(secret)
    assert stderr_summary(uow, "42") is None


def test_temporary_report_files_of_a_cut_short_write_are_removed(tmp_path: Path) -> None:
    (tmp_path / f".{protocol.REPORT_JSON}.k3j4h5g6.tmp").write_text('{"half": ')
    (tmp_path / f".{protocol.REPORT_TEXT}.a1b2c3d4.tmp").write_text("FlowCron rep")
    (tmp_path / ".my-own.tmp").write_text("the user's\n")
    write_report(tmp_path, FAILED)
    remove_report_temporaries(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".my-own.tmp", protocol.REPORT_JSON, protocol.REPORT_TEXT]
    )
