"""Random names and trees on a real file system: the tick never raises, every UoW ends."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.loop.tick import tick
from tests.agent.fakes import FakeExecutor

NAME_MAX = 255

# Any bytes a Linux file name may hold: all but NUL and '/'.
_name_bytes = st.one_of(
    st.binary(min_size=1, max_size=24),
    st.binary(min_size=NAME_MAX - 40, max_size=NAME_MAX),  # the longest names trip limits
).map(lambda raw: raw.replace(b"\x00", b"_").replace(b"/", b"_"))
names = _name_bytes.filter(lambda raw: raw not in (b".", b"..")).map(os.fsdecode)

SCRIPT = b"#!/bin/bash\n#SBATCH --time=00:01:00\necho hi > data/out.txt\n"
scripts = st.one_of(
    st.just(SCRIPT),
    st.binary(max_size=300),
    st.binary(max_size=200).map(lambda tail: SCRIPT + tail),
)


@st.composite
def trees(draw: st.DrawFn) -> list[tuple[str, bytes | None]]:
    """(relative path, content or None for a folder) entries, parents before children."""
    entries: list[tuple[str, bytes | None]] = []
    folders = [""]
    for _ in range(draw(st.integers(0, 6))):
        parent = draw(st.sampled_from(folders))
        name = draw(names)
        path = f"{parent}/{name}" if parent else name
        if len(os.fsencode(path)) > 3000:
            continue
        if draw(st.booleans()):
            folders.append(path)
            entries.append((path, None))
        else:
            entries.append((path, draw(st.binary(max_size=64))))
    return entries


def _build(
    uow: Path,
    script: bytes,
    data: list[tuple[str, bytes | None]],
    extra: list[tuple[str, bytes | None]],
) -> None:
    (uow / "data").mkdir(parents=True)
    (uow / "scripts").mkdir()
    (uow / "scripts" / protocol.SUBMISSION_SCRIPT).write_bytes(script)
    for root, entries in ((uow / "data", data), (uow / "scripts", extra)):
        for rel, content in entries:
            target = root / rel
            try:
                if content is None:
                    target.mkdir()
                else:
                    target.write_bytes(content)
            except (FileExistsError, IsADirectoryError, NotADirectoryError):
                continue  # the random tree named something twice: keep the first
    (uow / protocol.SENTINELS_DIR).mkdir()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    uows=st.lists(st.tuples(names, scripts, trees(), trees()), min_size=1, max_size=4),
)
def test_random_names_and_trees_never_stop_the_tick(
    uows: list[tuple[str, bytes, list[tuple[str, bytes | None]], list[tuple[str, bytes | None]]]],
) -> None:
    base = Path(tempfile.mkdtemp(prefix="fc-prop-"))
    try:
        cfg = InstanceConfig(name="prop", base_dir=base.resolve())
        for directory in protocol.INSTANCE_DIRS:
            cfg.path(directory).mkdir(parents=True, exist_ok=True)
        expected = set()
        for name, script, data, extra in uows:
            uow = cfg.path(protocol.UPLOADED) / name
            if os.path.lexists(uow):
                continue
            _build(uow, script, data, extra)
            expected.add(name)
        fake = FakeExecutor()
        for _ in range(4):
            result = tick(cfg, fake)  # must never raise
            for job_id in result.submitted.values():
                fake.finish(job_id)
        ended = {p.name for where in protocol.FINISHED_DIRS for p in cfg.path(where).iterdir()}
        assert ended == expected
        assert list(cfg.path(protocol.UPLOADED).iterdir()) == []
        assert list(cfg.path(protocol.RUNNING).iterdir()) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)
