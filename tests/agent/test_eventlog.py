"""The JSON-lines event log: one file per UTC day, whole lines, filters, no secrets."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

from hpc_agent.loop.eventlog import (
    EventLog,
    follow_events,
    format_event,
    log_path,
    read_events,
)

RUN_ID = "0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11"
DAY1 = 1767225600.0  # 2026-01-01T00:00:00Z


def test_event_lands_in_the_utc_day_file_with_run_id(tmp_path: Path) -> None:
    log = EventLog(tmp_path, "proj", clock=lambda: DAY1 + 3600)
    log.write("submitted", "job 42 submitted", uow=f"sample_{RUN_ID}", job_id="42")
    path = tmp_path / "flowcron-2026-01-01.jsonl"
    record = json.loads(path.read_text())
    assert record == {
        "time": "2026-01-01T01:00:00.000Z",
        "level": "info",
        "instance": "proj",
        "event": "submitted",
        "message": "job 42 submitted",
        "uow": f"sample_{RUN_ID}",
        "run_id": RUN_ID,
        "job_id": "42",
    }
    assert log_path(tmp_path, DAY1 + 86400) == tmp_path / "flowcron-2026-01-02.jsonl"


def test_secret_looking_fields_are_redacted(tmp_path: Path) -> None:
    log = EventLog(tmp_path, "proj")
    log.write("submitted", "m", access_token="abc", Authorization="Bearer abc", attempt=2)
    text = next(tmp_path.iterdir()).read_text()
    assert "abc" not in text
    record = json.loads(text)
    assert record["access_token"] == record["Authorization"] == "[redacted]"
    assert record["attempt"] == 2


def test_extra_fields_cannot_overwrite_core_ones(tmp_path: Path) -> None:
    record = EventLog(tmp_path, "proj").write("submitted", "m", instance="other")
    assert record["instance"] == "proj" and record["field_instance"] == "other"


def test_read_events_filters_by_uow_and_since(tmp_path: Path) -> None:
    clock = iter([DAY1, DAY1 + 10, DAY1 + 86400, DAY1 + 86400 + 5])
    log = EventLog(tmp_path, "proj", clock=lambda: next(clock))
    log.write("admitted", "1", uow="u1")
    log.write("rejected", "2", uow="u2")
    log.write("submitted", "3", uow="u1")
    log.write("finalized", "4", uow="u2")
    assert [e["event"] for e in read_events(tmp_path)] == [
        "admitted",
        "rejected",
        "submitted",
        "finalized",
    ]
    assert [e["event"] for e in read_events(tmp_path, uow="u1")] == ["admitted", "submitted"]
    assert [e["event"] for e in read_events(tmp_path, since=DAY1 + 5)] == [
        "rejected",
        "submitted",
        "finalized",
    ]


def test_torn_and_garbage_lines_are_skipped(tmp_path: Path) -> None:
    log = EventLog(tmp_path, "proj", clock=lambda: DAY1)
    log.write("admitted", "1")
    path = log_path(tmp_path, DAY1)
    with path.open("a") as handle:
        handle.write("not json\n")
        handle.write('{"event": "half-writ')
    assert [e["event"] for e in read_events(tmp_path)] == ["admitted"]


def _writer(logs_dir: str, index: int) -> None:
    log = EventLog(Path(logs_dir), "proj")
    for n in range(200):
        log.write("submitted", "x" * 500, uow=f"w{index}", n=n)


def test_concurrent_writers_never_interleave_lines(tmp_path: Path) -> None:
    procs = [multiprocessing.Process(target=_writer, args=(str(tmp_path), i)) for i in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    lines = b"".join(p.read_bytes() for p in tmp_path.iterdir()).splitlines()
    assert len(lines) == 800
    assert all(json.loads(line)["message"] == "x" * 500 for line in lines)


def test_follow_picks_up_new_lines_and_new_files(tmp_path: Path) -> None:
    clock = iter([DAY1, DAY1 + 86400])
    log = EventLog(tmp_path, "proj", clock=lambda: next(clock))
    log.write("admitted", "1")
    polls = iter([False, True])
    seen = []

    def sleep(_: float) -> None:
        log.write("submitted", "2")  # appears in the next day's file between polls

    for event in follow_events(tmp_path, should_stop=lambda: next(polls), sleep=sleep):
        seen.append(event["event"])
    assert seen == ["admitted", "submitted"]


def test_format_event_is_one_readable_line() -> None:
    line = format_event(
        {"time": "T", "level": "warning", "uow": "u", "job_id": "7", "event": "e", "message": "m"}
    )
    assert line == "T WARNING u job 7 e: m"


def test_events_about_a_uow_carry_its_user(tmp_path: Path) -> None:
    asked: list[str] = []

    def user_of(uow: str) -> str | None:
        asked.append(uow)
        if uow == "broken":
            raise OSError("unreadable record")
        return {"a_1": "ann@uni.example.org"}.get(uow)

    log = EventLog(tmp_path, "proj", user_of=user_of)
    assert log.write("submitted", "m", uow="a_1")["user"] == "ann@uni.example.org"
    assert log.write("submitted", "m", uow="a_1")["user"] == "ann@uni.example.org"
    assert asked == ["a_1"]  # looked up once: who started a run never changes
    log.attribute("b_2", "unknown")
    assert log.write("admitted", "m", uow="b_2")["user"] == "unknown"
    assert log.write("admitted", "m", uow="b_2", user="bob")["user"] == "bob"
    assert "user" not in log.write("submitted", "m", uow="nobody")
    assert "user" not in log.write("submitted", "m", uow="broken")  # still written
    assert "user" not in log.write("ledger-corrupt", "m")
    lines = [json.loads(line) for line in next(tmp_path.iterdir()).read_text().splitlines()]
    assert [line.get("user") for line in lines] == [
        "ann@uni.example.org", "ann@uni.example.org", "unknown", "bob", None, None, None,
    ]  # fmt: skip
