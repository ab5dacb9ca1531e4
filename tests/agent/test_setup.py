"""``hpc-agent setup``: flags with --yes, interactive answers, re-runs, names, schedule."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hpc_agent import protocol
from hpc_agent.cli import main
from hpc_agent.config import load_instance, read_toml, registered_names, registry_path
from hpc_agent.site.setup import INSTANCE_FILE, Prompter, SetupError, SetupOptions, setup

REPO = Path(__file__).resolve().parents[2]
LOCAL = ["--executor", "local", "--schedule", "none"]


def _base(tmp_path: Path) -> Path:
    base = tmp_path / "project" / "flowcron"
    base.mkdir(parents=True)
    return base


def test_non_interactive_setup_creates_everything(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _base(tmp_path)
    code = main(
        ["setup", "--base-dir", str(base), "--name", "p42", "--every", "10", "--yes", *LOCAL]
    )
    assert code == 0
    for sub in protocol.INSTANCE_DIRS:
        assert (base / sub).is_dir()
    cfg = load_instance("p42")
    assert (cfg.base_dir, cfg.every_minutes, cfg.executor) == (base.resolve(), 10, "local")
    assert read_toml(base / INSTANCE_FILE) == {"name": "p42", "base_path": str(base.resolve())}
    out = capsys.readouterr().out
    assert "instance name: p42" in out and f"base path:     {base.resolve()}" in out


def test_the_risky_script_policy_is_a_flag(tmp_path: Path, home: Path) -> None:
    base = _base(tmp_path)
    args = ["setup", "--base-dir", str(base), "--name", "p42", "--yes", *LOCAL]
    assert main(args) == 0
    assert load_instance("p42").risky_script_policy == "warn"
    assert main([*args, "--risky-scripts", "reject"]) == 0
    assert load_instance("p42").risky_script_policy == "reject"
    assert main(args) == 0, "a re-run without the flag keeps the setting"
    assert load_instance("p42").risky_script_policy == "reject"


def test_the_run_policy_is_a_flag_and_functions_is_created(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _base(tmp_path)
    args = ["setup", "--base-dir", str(base), "--name", "p42", "--yes", *LOCAL]
    assert main(args) == 0
    assert load_instance("p42").run_policy == "both", "existing behaviour is the default"
    assert (base / protocol.FUNCTIONS).is_dir()
    assert protocol.FUNCTIONS not in protocol.INSTANCE_DIRS
    assert main([*args, "--run-policy", "functions"]) == 0
    assert load_instance("p42").run_policy == "functions"
    assert 'run_policy = "functions"' in (base / "flowcron.toml").read_text()
    assert main(args) == 0, "a re-run without the flag keeps the setting"
    assert load_instance("p42").run_policy == "functions"
    assert "(run_policy = functions)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([*args, "--run-policy", "everything"])


def test_a_dotted_name_is_set_up_registered_and_found_again(tmp_path: Path, home: Path) -> None:
    base = _base(tmp_path)
    assert main(["setup", "--base-dir", str(base), "--name", "cryo.em-lab", "--yes", *LOCAL]) == 0
    assert registry_path("cryo.em-lab").is_file()
    assert registered_names() == ["cryo.em-lab"]
    assert load_instance("cryo.em-lab").base_dir == base.resolve()
    assert read_toml(base / INSTANCE_FILE)["name"] == "cryo.em-lab"


def test_base_path_is_symlink_free(tmp_path: Path, home: Path) -> None:
    real = _base(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(real)
    assert main(["setup", "--base-dir", str(link), "--name", "p", "--yes", *LOCAL]) == 0
    assert load_instance("p").base_dir == real.resolve()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--name is missing"),
        (["--name", "bad name"], "--name 'bad name': contains ' '; use 1 to 64 letters"),
        (["--name", "x" * 65], "is 65 characters long, more than 64; use 1 to 64 letters"),
        (["--name", "lab."], "--name 'lab.': ends with '.'; use 1 to 64 letters"),
        (["--name", "p", "--every", "7"], "--every '7': every 7 minutes cannot be scheduled"),
        (["--name", "p", "--soft-delete-days", "-1"], "--soft-delete-days '-1': must be between"),
        (["--name", "p", "--executor", "slurm", "--qos", "normal"], "--account is missing"),
    ],
)
def test_yes_with_missing_or_bad_values_exits_2(
    tmp_path: Path,
    home: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    base = _base(tmp_path)
    extra = [] if "--executor" in args else ["--executor", "local"]
    code = main(["setup", "--base-dir", str(base), "--yes", "--schedule", "none", *extra, *args])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (base / "flowcron.toml").exists(), "a failed setup must not write anything"


def test_interactive_answers_are_validated_and_asked_again(tmp_path: Path, home: Path) -> None:
    base = _base(tmp_path)
    answers = io.StringIO(
        "\n".join(
            [
                "bad name!",  # rejected
                "p42",
                "my-account",
                "",  # QoS: no default yet, empty means none
                "seven",  # rejected
                "15",
                "",  # soft-delete: default 30
                "0",
                "maybe",  # rejected
                "no",
                "sometimes",  # rejected
                "reject",
                "everything",  # rejected
                "functions",
            ]
        )
        + "\n"
    )
    out = io.StringIO()
    cfg, code = setup(
        SetupOptions(base_dir=base, executor="slurm", schedule="none"),
        prompter=Prompter(answers.readline, out),
        out=out,
        err=io.StringIO(),
        check=lambda account, qos: [],
    )
    assert code == 0
    assert (cfg.name, cfg.account, cfg.qos) == ("p42", "my-account", None)
    assert (cfg.every_minutes, cfg.soft_delete_days, cfg.hard_delete_days) == (15, 30, 0)
    assert cfg.timestamp is False
    assert cfg.risky_script_policy == "reject"
    assert cfg.run_policy == "functions"
    transcript = out.getvalue()
    assert transcript.count("please try again") == 5
    assert "or both? (both, scripts or functions)" in transcript
    assert "Warn in the report and run the job, or refuse the Unit of Work?" in transcript
    assert "expected a whole number, got 'seven'" in transcript


def test_account_refused_by_slurm_is_asked_again(tmp_path: Path, home: Path) -> None:
    calls: list[tuple[str | None, str | None]] = []

    def check(account: str | None, qos: str | None) -> list[str]:
        calls.append((account, qos))
        return [] if account == "good" else [f"account {account!r} is not yours"]

    answers = io.StringIO("p\nwrong\nnormal\ngood\nnormal\n5\n30\n30\nno\nwarn\n\n")
    err = io.StringIO()
    cfg, _ = setup(
        SetupOptions(base_dir=_base(tmp_path), executor="slurm", schedule="none"),
        prompter=Prompter(answers.readline, io.StringIO()),
        out=io.StringIO(),
        err=err,
        check=check,
    )
    assert cfg.account == "good"
    assert calls == [("wrong", "normal"), ("good", "normal")]
    assert "account 'wrong' is not yours" in err.getvalue()


def test_account_refused_with_yes_exits_2(tmp_path: Path, home: Path) -> None:
    with pytest.raises(SetupError, match="Slurm does not accept the account/QoS: nope"):
        setup(
            SetupOptions(
                base_dir=_base(tmp_path), name="p", account="a", qos="q", schedule="none", yes=True
            ),
            prompter=None,
            out=io.StringIO(),
            err=io.StringIO(),
            check=lambda a, q: ["nope"],
        )


def test_slurm_unreachable_during_setup_is_a_message_not_a_traceback(
    tmp_path: Path,
    home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hpc_agent.executors import slurm
    from hpc_agent.executors.base import SchedulerUnavailable

    def unreachable(account: str | None, qos: str | None) -> list[str]:
        raise SchedulerUnavailable("sacct: Unable to contact slurm controller")

    monkeypatch.setattr(slurm, "check_account_qos", unreachable)
    base = _base(tmp_path)
    argv = ["setup", "--base-dir", str(base), "--name", "p", "--account", "a", "--qos", "q"]
    assert main([*argv, "--schedule", "none", "--yes"]) == 2
    err = capsys.readouterr().err
    assert "Unable to contact slurm controller" in err and "--account none" in err
    assert not (base / "flowcron.toml").exists()


def test_the_command_always_asks_slurm_about_the_account_and_qos(
    tmp_path: Path,
    home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hpc_agent.executors import slurm

    asked: list[tuple[str | None, str | None]] = []

    def refuses(account: str | None, qos: str | None) -> list[str]:
        asked.append((account, qos))
        return [f"Slurm account {account!r} is not available to user you"]

    monkeypatch.setattr(slurm, "check_account_qos", refuses)
    base = _base(tmp_path)
    argv = ["setup", "--base-dir", str(base), "--name", "p", "--account", "a", "--qos", "q"]
    assert main([*argv, "--schedule", "none", "--yes"]) == 2
    assert asked == [("a", "q")], "setup must never skip the account/QoS check"
    err = capsys.readouterr().err
    assert "hpc-agent setup: Slurm does not accept the account/QoS: Slurm account 'a'" in err
    assert not (base / "flowcron.toml").exists()


def test_interactive_setup_through_stdin_of_the_real_command(tmp_path: Path, home: Path) -> None:
    base = _base(tmp_path)
    stdin = "p7\n20\n3\n4\nyes\n"
    result = subprocess.run(
        [sys.executable, "-m", "hpc_agent", "setup", "--base-dir", str(base), *LOCAL],
        input=stdin + "\n" * 4,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    cfg = load_instance(base)
    assert (cfg.name, cfg.every_minutes, cfg.soft_delete_days, cfg.hard_delete_days) == (
        "p7",
        20,
        3,
        4,
    )
    assert cfg.timestamp is True
    assert "What should this FlowCron instance be called?" in result.stdout


def test_rerun_updates_in_place_and_keeps_data(tmp_path: Path, home: Path) -> None:
    base = _base(tmp_path)
    assert main(["setup", "--base-dir", str(base), "--name", "p", "--yes", *LOCAL]) == 0
    keep = base / protocol.ANALYSED / "done_uow" / "data" / "result.txt"
    keep.parent.mkdir(parents=True)
    keep.write_text("precious")
    assert main(["setup", "--base-dir", str(base), "--every", "30", "--yes", *LOCAL]) == 0
    cfg = load_instance("p")
    assert (cfg.name, cfg.every_minutes) == ("p", 30)
    assert keep.read_text() == "precious"


def test_name_used_elsewhere_is_refused_unless_forced(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = _base(tmp_path / "a"), _base(tmp_path / "b")
    assert main(["setup", "--base-dir", str(first), "--name", "p", "--yes", *LOCAL]) == 0
    assert main(["setup", "--base-dir", str(second), "--name", "p", "--yes", *LOCAL]) == 2
    assert f"already exists at {first.resolve()}" in capsys.readouterr().err
    assert main(["setup", "--base-dir", str(second), "--name", "p2", "--yes", *LOCAL]) == 0
    assert load_instance("p").base_dir == first.resolve()
    assert load_instance("p2").base_dir == second.resolve()
    args = ["setup", "--base-dir", str(second), "--name", "p", "--yes", "--force", *LOCAL]
    assert main(args) == 0
    assert load_instance("p").base_dir == second.resolve()
    assert not registry_path("p2").exists(), "the renamed instance's old entry is dropped"


def test_warns_when_base_is_under_home(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = home / "flowcron"
    assert main(["setup", "--base-dir", str(base), "--name", "h", "--yes", *LOCAL]) == 0
    assert "is under your home directory" in capsys.readouterr().err


def test_setup_installs_the_cron_entry(
    tmp_path: Path, home: Path, fake_crontab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _base(tmp_path)
    args = ["setup", "--base-dir", str(base), "--name", "c", "--executor", "local", "--yes"]
    assert main(args) == 0
    table = fake_crontab.read_text()
    assert "# BEGIN flowcron:c" in table and f"tick {base.resolve()}" in table
    assert "+# BEGIN flowcron:c" in capsys.readouterr().out, "the change is shown before/after"


@pytest.mark.slurm
def test_account_and_qos_are_checked_by_the_real_slurm(
    tmp_path: Path, home: Path, request: pytest.FixtureRequest
) -> None:
    try:
        cluster = request.getfixturevalue("slurm_cluster")
    except pytest.FixtureLookupError:
        pytest.skip("the slurm_cluster fixture is not available in this checkout")
    mp = pytest.MonkeyPatch()
    for key, value in cluster.env.items():
        mp.setenv(key, value)
    try:
        base = _base(tmp_path)
        good = ["--account", cluster.account, "--qos", cluster.qos]
        common = ["setup", "--base-dir", str(base), "--name", "s", "--schedule", "none", "--yes"]
        assert main([*common, "--account", "no-such-account", "--qos", cluster.qos]) == 2
        assert main([*common, *good]) == 0
        assert load_instance(base).account == cluster.account
    finally:
        mp.undo()
