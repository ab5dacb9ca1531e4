"""Warnings for job-script lines that work on a laptop and not in a FlowCron job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from hpc_agent.config import InstanceConfig
from hpc_agent.uow.admission import admit
from hpc_agent.uow.script_lint import interpreter_name, lint_script, shebang

MakeUow = Callable[..., Path]
HEAD = "#!/bin/bash\n#SBATCH --time=00:01:00\n"


def codes(text: str, instance: Path = Path("/proj/flowcron")) -> list[str]:
    return [w.code for w in lint_script(text, "scripts/job.sh", instance_dir=instance)]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("cp ~/data/in.txt data/\n", "home-tilde"),
        ("python3 run.py --out=~/results\n", "home-tilde"),
        ('cd "~/analysis"\n', "home-tilde"),
        ("ls ~alice/shared\n", "home-tilde"),
        ("source ~/.bashrc\n", "sources-profile"),
        (". /home/alice/.bash_profile\n", "sources-profile"),
        ("source /home/alice/.profile\n", "sources-profile"),
        ("source ~/.bashrc; conda activate myenv\n", "conda-not-set-up"),
        ("conda activate /proj/envs/relion\n", "conda-not-set-up"),
        ("source activate myenv\n", "conda-not-set-up"),
        ("micromamba activate cryo\n", "conda-not-set-up"),
        ("cd /Users/alice/Desktop/run1\n", "cd-outside"),
        ("cd 'C:\\Users\\alice\\run1'\n", "cd-outside"),
        ("pushd /no/such/folder/on/this/machine && make\n", "cd-outside"),
    ],
)
def test_each_laptop_habit_is_named(body: str, code: str) -> None:
    assert code in codes(HEAD + body)


@pytest.mark.parametrize(
    "body",
    [
        "# cp ~/data/in.txt data/   (a comment)\n",
        "echo 'a ~ in text' > data/notes.txt\n",
        "tar czf out~1.tgz data\n",
        "source /opt/miniconda3/etc/profile.d/conda.sh\nconda activate myenv\n",
        'eval "$(/opt/conda/bin/conda shell.bash hook)"\nconda activate myenv\n',
        "module load Miniforge3/24.1\nconda activate myenv\n",
        "source /proj/envs/relion/bin/activate\n",
        "/opt/conda/bin/conda run -p /proj/envs/x python a.py\n",
        "cd data && python3 ../run.py\n",
        'cd "$1"\n',
        "cd $SLURM_SUBMIT_DIR\n",
        "cd /lscratch/$SLURM_JOB_ID\n",
        "source /etc/profile\n",
        "ml miniconda3\nconda activate cryo\n",
        'eval "$(/opt/mm/bin/micromamba shell hook -s bash)"\nmicromamba activate cryo\n',
        'source "$CONDA_ROOT/etc/profile.d/conda.sh"\nconda activate cryo\n',
        'module load miniconda\neval "$(conda shell.bash hook)"\nconda activate env\n',
        "cd /proj/flowcron/CodeToRun/slurm/x\n",
        "echo done # cd /Users/alice\n",
    ],
)
def test_what_works_in_a_job_is_not_flagged(body: str) -> None:
    assert codes(HEAD + body) == []


def test_cd_to_an_existing_folder_outside_the_instance_says_so(tmp_path: Path) -> None:
    [warning] = lint_script(
        HEAD + f"cd {tmp_path}\n", "scripts/job.sh", instance_dir=Path("/proj/flowcron")
    )
    assert "outside this FlowCron instance" in warning.message
    assert "Line 3" in warning.message


def test_conda_warning_names_the_line_and_the_fix() -> None:
    [warning] = lint_script(
        HEAD + "module load foo\nconda activate env\n",
        "scripts/job.sh",
        instance_dir=Path("/x"),
    )
    assert "Line 4 of 'scripts/job.sh' runs 'conda activate'" in warning.message
    assert "etc/profile.d/conda.sh" in warning.message


@pytest.mark.parametrize(
    ("first", "name", "flagged"),
    [
        ("#!/bin/bash", "bash", False),
        ("#!/usr/bin/env bash", "bash", False),
        ("#!/bin/bash -l", "bash", False),
        ("#!/usr/bin/env python3", "python3", True),
        ("#!/usr/bin/python", "python", True),
        ("#!/usr/bin/env -S python3 -u", "python3", True),
        ("#!/bin/sh", "sh", True),
    ],
)
def test_the_shebang_decides_the_interpreter(first: str, name: str, flagged: bool) -> None:
    argv = shebang(first)
    assert argv is not None and interpreter_name(argv) == name
    assert ("non-bash-shebang" in codes(first + "\n#SBATCH -t 1\necho\n")) is flagged


def test_the_kernel_passes_the_rest_of_a_shebang_as_one_argument() -> None:
    assert shebang("#!/usr/bin/env python3 -u -X dev") == ["/usr/bin/env", "python3 -u -X dev"]
    assert shebang("#!") is None


def test_admission_notes_warnings_and_runs_the_job(
    tmp_path: Path, cfg: InstanceConfig, make_uow: MakeUow
) -> None:
    uow = make_uow(tmp_path, script=HEAD + "source ~/.bashrc\nconda activate myenv\n")
    verdict = admit(uow, cfg)
    assert verdict.ok, verdict.problems
    warnings = [n for n in verdict.notes if n.startswith("Warning: ")]
    assert len(warnings) == 3  # ~/, the profile file, conda


def test_an_instance_can_refuse_risky_scripts(
    tmp_path: Path, cfg: InstanceConfig, make_uow: MakeUow
) -> None:
    uow = make_uow(tmp_path, script=HEAD + "conda activate myenv\n")
    verdict = admit(uow, replace(cfg, risky_script_policy="reject"))
    assert not verdict.ok
    [problem] = verdict.problems
    assert "conda activate" in problem and "refuses such scripts" in problem


@pytest.mark.parametrize(
    ("folders", "wanted", "hint"),
    [
        (("Data", "Scripts"), ("data/", "scripts/"), ("'Data/'", "'Scripts/'")),
        (("DATA", "scripts"), ("data/",), ("'DATA/'",)),
        (("data", "script"), ("scripts/",), ("'script/'",)),
        (("data", "scirpts"), ("scripts/",), ("'scirpts/'",)),
    ],
)
def test_near_miss_folder_names_get_a_did_you_mean(
    tmp_path: Path,
    cfg: InstanceConfig,
    folders: tuple[str, ...],
    wanted: tuple[str, ...],
    hint: tuple[str, ...],
) -> None:
    uow = tmp_path / "u"
    for folder in folders:
        (uow / folder).mkdir(parents=True)
    (uow / "sentinels").mkdir()
    problems = admit(uow, cfg).problems
    for missing, near in zip(wanted, hint, strict=True):
        [problem] = [p for p in problems if f"'{missing}' is missing" in p]
        assert f"Did you mean '{missing}'? This folder has {near}" in problem


def test_a_uow_one_level_down_is_pointed_at(tmp_path: Path, cfg: InstanceConfig) -> None:
    uow = tmp_path / "outer"
    for sub in ("inner/data", "inner/scripts", "sentinels"):
        (uow / sub).mkdir(parents=True)
    problems = admit(uow, cfg).problems
    assert any("start the flow on 'inner' itself" in p for p in problems)


def test_a_script_at_the_top_is_pointed_at(tmp_path: Path, cfg: InstanceConfig) -> None:
    uow = tmp_path / "u"
    for sub in ("data", "sentinels"):
        (uow / sub).mkdir(parents=True)
    (uow / "submission_script.sh").write_text(HEAD)
    [problem] = admit(uow, cfg).problems
    assert "is at the top of the folder: move it into a folder 'scripts/'" in problem


def test_cd_home_is_flagged() -> None:
    assert codes(HEAD + "cd ~ && ls\n") == ["home-tilde"]


def test_a_backslash_in_the_folder_name_is_refused(tmp_path: Path, cfg: InstanceConfig) -> None:
    uow = tmp_path / "back\\slash"
    for sub in ("data", "scripts", "sentinels"):
        (uow / sub).mkdir(parents=True)
    (uow / "scripts" / "submission_script.sh").write_text(HEAD)
    [problem] = admit(uow, cfg).problems
    assert "contains '\\'" in problem
