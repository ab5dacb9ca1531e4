"""The instance layout check: each protocol directory a real directory in the base."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.site.layout import LAYOUT_DIRS, layout_findings, layout_problems


@pytest.fixture
def inst(cfg: InstanceConfig) -> InstanceConfig:
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    cfg.path(f"{protocol.CODE_TO_RUN}/.state").mkdir()
    return cfg


def link_away(cfg: InstanceConfig, where: str, outside: Path) -> None:
    """Replace the instance directory ``where`` with a symlink to ``outside`` (its contents moved)."""
    shutil.move(str(cfg.path(where)), str(outside))
    cfg.path(where).symlink_to(outside)


def test_a_real_layout_has_no_problems(inst: InstanceConfig) -> None:
    assert layout_problems(inst) == []


def test_missing_directories_are_not_layout_problems(cfg: InstanceConfig) -> None:
    # setup and the tick create them; doctor reports a missing one on its own
    assert layout_problems(cfg) == []


@pytest.mark.parametrize("where", LAYOUT_DIRS)
def test_each_symlinked_directory_is_named_with_the_reason(
    inst: InstanceConfig, tmp_path: Path, where: str
) -> None:
    link_away(inst, where, tmp_path / "elsewhere")
    problems = layout_problems(inst)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{where}/ is a symlink (to {tmp_path / 'elsewhere'})")
    assert "outside the instance" in problems[0]


def test_a_symlinked_parent_is_reported_once_for_its_children(
    inst: InstanceConfig, tmp_path: Path
) -> None:
    link_away(inst, protocol.CODE_TO_RUN, tmp_path / "elsewhere")
    assert [where for where, _ in layout_findings(inst)] == [protocol.CODE_TO_RUN]
    # Asked about a child only, the parent is still what is named.
    assert [where for where, _ in layout_findings(inst, (protocol.RUNNING,))] == [
        protocol.CODE_TO_RUN
    ]


def test_a_file_in_place_of_a_directory_is_a_problem(inst: InstanceConfig) -> None:
    inst.path(protocol.RECYCLING_BIN).rmdir()
    inst.path(protocol.RECYCLING_BIN).write_text("oops")
    assert layout_problems(inst) == ["RecyclingBin/ is not a directory"]
