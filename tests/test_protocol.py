"""The shared protocol: naming rules both halves rely on."""

from hpc_agent import protocol


def test_job_dir_name_appends_run_id_and_is_recognised() -> None:
    run_id = "0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11"
    name = protocol.job_dir_name("sample", run_id)
    assert name == f"sample_{run_id}"
    assert protocol.run_id_of(name) == run_id
    assert protocol.run_id_of("sample") is None
    assert protocol.run_id_of("sample_20260101T000000") is None


def test_shorten_label_keeps_both_ends_of_long_names() -> None:
    assert protocol.shorten_label("x" * 30) == "x" * 30
    long = "abcdefghijklm" + "MIDDLE" + "nopqrstuvwxyz"
    assert protocol.shorten_label(long) == "abcdefghijklm...nopqrstuvwxyz"


def test_finished_only_when_sentinels_gone() -> None:
    assert not protocol.is_finished({"data", "scripts", "sentinels"})
    assert protocol.is_finished({"data", "scripts"})
