"""``make demo`` (python -m flowgen.demo): the main job on the embedded default."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from flowgen import demo
from flowgen.demo import DemoError, prepare_root


def test_the_demo_runs_the_whole_loop_twice_in_a_row() -> None:
    for _ in range(2):
        out = io.StringIO()
        started = time.monotonic()
        assert demo.main([], out=out) == 0, out.getvalue()
        assert time.monotonic() - started < 30
    text = out.getvalue()
    for step in (
        "uploaded /sample_analysis/",
        "created sentinels/",
        "agent admitted sample_analysis_",
        "agent submitted sample_analysis_",
        "back into AnalysedFiles/ (succeeded, Slurm state COMPLETED",
        "copied /example/AnalysedFiles/sample_analysis_",
        "SUCCEEDED",
    ):
        assert step in text, f"missing progress line {step!r}:\n{text}"
    summary = Path("/tmp/flowcron-demo/laptop/sample_analysis/results/summary.txt")
    assert f"Results: {summary}" in text
    assert "weather.csv: 6 rows" in summary.read_text()
    assert "temperature  mean   22.067" in summary.read_text()


def test_the_demo_never_deletes_a_directory_it_did_not_make(tmp_path: Path) -> None:
    precious = tmp_path / "flowcron-demo"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(DemoError, match="was not made by the FlowCron demo"):
        prepare_root(precious)
    assert (precious / "thesis.tex").read_text() == "years of work"


def test_the_demo_replaces_its_own_previous_directory(tmp_path: Path) -> None:
    root = tmp_path / "flowcron-demo"
    prepare_root(root)
    (root / "old-run").mkdir()
    prepare_root(root)
    assert sorted(p.name for p in root.iterdir()) == [demo.MARKER]


@pytest.mark.slurm
def test_the_demo_runs_on_real_slurm(slurm_env: object) -> None:
    out = io.StringIO()
    assert demo.main(["--slurm"], out=out) == 0, out.getvalue()
    text = out.getvalue()
    assert "agent on the slurm executor" in text
    assert "(succeeded, Slurm state COMPLETED, exit code 0:0)" in text


def test_the_demo_says_when_no_slurm_answers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert demo.main(["--slurm"], out=io.StringIO()) == 2
    assert "no Slurm cluster answers here" in capsys.readouterr().err
