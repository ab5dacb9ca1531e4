"""The report files in a finished UoW: complete JSON, a short text page with the next step."""

from __future__ import annotations

import json
from pathlib import Path

from hpc_agent import protocol
from hpc_agent.report import read_report, render_text, write_report

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
