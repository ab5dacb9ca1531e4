"""``flowgen uow check`` gives the agent's verdict on every case of the admission corpus.

Each case of :mod:`tests.agent.admission_cases` is built as the researcher
has it (no ``sentinels/``) and checked with the real ``flowgen uow check``
(``--instance-config`` the instance's ``flowcron.toml``, ``--catalog`` its
catalogue); then it is "uploaded" (copied, links kept, into
``UploadedFiles/`` with ``sentinels/`` made, as the flow does) and admitted
by the agent, which reads the functions from the instance's ``Functions/``
as the tick does. Both must agree: admitted or not, the same problems and
the same notes, in the same order.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from flowgen.core.exitcodes import ExitCode
from hpc_agent import protocol
from hpc_agent.config import InstanceConfig, save_instance
from hpc_agent.functions.catalog import to_catalog
from hpc_agent.functions.spec import load_library
from hpc_agent.uow.admission import admit
from tests.agent.admission_cases import CASES, AdmissionCase, install_functions
from tests.agent.helpers import make_uow

PARITY_CASES = [case for case in CASES if not case.upload_state]


def researchers_uow(parent: Path, *args: object, **kwargs: object) -> Path:
    """``make_uow`` as the researcher's folder: never a ``sentinels/`` (the flow makes it)."""
    kwargs["sentinels"] = False
    return make_uow(parent, *args, **kwargs)  # type: ignore[arg-type]


def instance(tmp_path: Path, case: AdmissionCase) -> tuple[InstanceConfig, list[str]]:
    """The instance (its flowcron.toml written) and the check's --catalog arguments."""
    base = tmp_path / "instance"
    base.mkdir()
    cfg = InstanceConfig(name="proj", base_dir=base.resolve(), account="acct", qos="normal")
    cfg = replace(cfg, **case.changes)  # type: ignore[arg-type]
    save_instance(cfg)
    if not case.functions:
        return cfg, []
    install_functions(cfg.path(protocol.FUNCTIONS))
    catalog = tmp_path / "proj.functions.json"
    library = load_library(cfg.path(protocol.FUNCTIONS))
    catalog.write_text(json.dumps(to_catalog(library, instance=cfg.name)))
    return cfg, ["--catalog", str(catalog)]


def upload(uow: Path, cfg: InstanceConfig) -> Path:
    """What the flow does: copy the folder (links as links), then make ``sentinels/``."""
    target = cfg.path(protocol.UPLOADED) / uow.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if uow.is_dir() and not uow.is_symlink():
        shutil.copytree(uow, target, symlinks=True)
        if not os.path.lexists(target / protocol.SENTINELS_DIR):
            (target / protocol.SENTINELS_DIR).mkdir()
    else:
        shutil.copy2(uow, target, follow_symlinks=False)
    return target


def snapshot(path: Path) -> dict[str, object]:
    if not path.is_dir() or path.is_symlink():
        return {"": path.read_bytes()}
    out: dict[str, object] = {}
    for item in sorted(path.rglob("*")):
        key = str(item.relative_to(path))
        if item.is_symlink():
            out[key] = "-> " + str(item.readlink())
        elif item.is_file():
            out[key] = item.read_bytes()
        else:
            out[key] = "dir"
    return out


def check(
    flowgen_app: typer.Typer, runner: CliRunner, uow: Path, cfg: InstanceConfig, extra: list[str]
) -> tuple[int, dict[str, object]]:
    argv = ["uow", "check", str(uow), "--instance-config", str(cfg.config_path), *extra]
    result = runner.invoke(flowgen_app, [*argv, "--format", "json"])
    assert result.exit_code in (ExitCode.OK, ExitCode.INVALID), result.output
    report: dict[str, object] = json.loads(result.stdout)
    return result.exit_code, report


def test_the_corpus_is_the_whole_admission_corpus() -> None:
    assert len(PARITY_CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)
    assert {c.admitted for c in PARITY_CASES} == {True, False}
    assert any(c.functions for c in PARITY_CASES)


@pytest.mark.parametrize("case", PARITY_CASES, ids=[case.id for case in PARITY_CASES])
def test_uow_check_gives_the_agents_verdict(
    tmp_path: Path, flowgen_app: typer.Typer, runner: CliRunner, case: AdmissionCase
) -> None:
    cfg, extra = instance(tmp_path, case)
    laptop = tmp_path / "laptop"
    laptop.mkdir()
    uow = case.build(laptop, researchers_uow)
    before = snapshot(uow)
    code, report = check(flowgen_app, runner, uow, cfg, extra)
    assert snapshot(uow) == before, "the check must not change the researcher's folder"

    verdict = admit(upload(uow, cfg), cfg)
    assert not verdict.pending
    assert verdict.ok is case.admitted, verdict.problems
    if case.phrase is not None:
        found = verdict.problems if not case.admitted else verdict.notes
        assert any(case.phrase in line for line in found), found

    assert report["admitted"] is verdict.ok
    assert report["problems"] == list(verdict.problems)
    assert report["notes"] == list(verdict.notes)
    assert report["kind"] == ("function" if (uow / protocol.JOB_FILE).exists() else "script")
    assert code == (ExitCode.OK if verdict.ok else ExitCode.INVALID)


@pytest.mark.parametrize("case", [c for c in CASES if c.upload_state], ids=lambda c: c.id)
def test_upload_state_is_the_flows_business(
    tmp_path: Path, flowgen_app: typer.Typer, runner: CliRunner, case: AdmissionCase
) -> None:
    # An old folder with no sentinels/ is an upload that never finished on the HPC,
    # and an ordinary folder on the researcher's machine.
    cfg, extra = instance(tmp_path, case)
    laptop = tmp_path / "laptop"
    laptop.mkdir()
    uow = case.build(laptop, researchers_uow)
    code, report = check(flowgen_app, runner, uow, cfg, extra)
    assert code == ExitCode.OK, report
    assert report["problems"] == []
    assert not admit(uow, cfg, now=time.time()).ok
