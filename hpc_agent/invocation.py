"""How the agent starts itself again: the one rule for every command line that runs the agent.

The agent runs itself in other processes: the cron or scrontab entry
(:mod:`hpc_agent.site.schedule`), the fast hand-back wrapper's ``finalize``
(:mod:`hpc_agent.loop.fast_handback`), the finalize-by-dependency job
(:mod:`hpc_agent.loop.submit`), the local executor's runner
(:mod:`hpc_agent.executors.local`) and the simulator's tick. Each must run
the same code, found the same way, as the process that writes the command
line. There are three ways the agent can be running:

- from the one-file zip application ``hpc-agent.pyz`` (``make zipapp``):
  the archive holds everything, so the command is
  ``PYTHON /abs/hpc-agent.pyz ARGS``, and a module inside it
  (``-m hpc_agent.executors.local_runner``) is found with the archive on
  ``PYTHONPATH``;
- from a plain checkout, nothing installed: ``PYTHON -m hpc_agent ARGS``
  with the directory holding the package first on ``PYTHONPATH``;
- installed (a wheel, pip or pipx): ``PYTHON -m hpc_agent ARGS``, the
  interpreter's own site-packages find it.

``PYTHON`` is the interpreter running now (:data:`sys.executable`), an
absolute path, because cron and Slurm jobs start with a bare ``PATH``.
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
import zipimport
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import hpc_agent

PYTHONPATH = "PYTHONPATH"


def zipapp_path() -> str | None:
    """The absolute path of the zip application the agent runs from, or None when it does not."""
    loader = getattr(hpc_agent, "__loader__", None)
    if isinstance(loader, zipimport.zipimporter):
        # abspath, not resolve(): a link to the archive stays the link, so the real
        # file behind it can be replaced without a new cron line.
        return os.path.abspath(loader.archive)  # noqa: PTH100
    return None


@functools.cache  # where the running code lives does not change: a tick asks once per UoW
def installed() -> bool:
    """True when hpc_agent is in the interpreter's site-packages (so a child finds it unaided)."""
    paths = sysconfig.get_paths()
    site = {Path(paths[key]).resolve() for key in ("purelib", "platlib")}
    return Path(hpc_agent.package_parent()).resolve() in site


@dataclass(frozen=True)
class Invocation:
    """A command line that runs the agent, and what its ``PYTHONPATH`` must start with.

    ``pythonpath`` is None when the interpreter finds the code unaided.
    """

    argv: tuple[str, ...]
    pythonpath: str | None

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (the current environment by default) with :attr:`pythonpath` put first."""
        env = dict(os.environ if base is None else base)
        if self.pythonpath is not None:
            env[PYTHONPATH] = os.pathsep.join(
                [self.pythonpath, *filter(None, [env.get(PYTHONPATH)])]
            )
        return env


def agent_command(*args: str, python: str | None = None) -> Invocation:
    """The command line for ``hpc-agent ARGS``, run the way this agent is running.

    ``python`` overrides the interpreter (set-up and tests name one).

    >>> agent_command("tick", "/srv/x", python="/usr/bin/python3").argv[-2:]
    ('tick', '/srv/x')
    """
    interpreter = python or sys.executable
    archive = zipapp_path()
    if archive is not None:
        return Invocation((interpreter, archive, *args), None)
    return Invocation((interpreter, "-m", "hpc_agent", *args), _search_path())


def module_command(module: str, *args: str) -> Invocation:
    """The command line for ``python -m MODULE ARGS``, ``MODULE`` a module of hpc_agent."""
    archive = zipapp_path()
    return Invocation((sys.executable, "-m", module, *args), archive or _search_path())


def names_the_agent(word: str) -> bool:
    """Whether ``word``, in a command line, is what runs the agent (before ``tick``, say).

    ``hpc_agent`` (after ``-m``), or the one-file agent under any name: a
    ``.pyz`` file, or a zip archive renamed (``cp hpc-agent.pyz ~/bin/hpc-agent``).

    >>> names_the_agent("hpc_agent"), names_the_agent("/opt/hpc-agent.pyz"), names_the_agent("-m")
    (True, True, False)
    """
    if word == "hpc_agent" or word.endswith(".pyz"):
        return True
    import zipfile

    try:
        return os.path.isfile(word) and zipfile.is_zipfile(word)  # noqa: PTH113
    except OSError:
        return False


def _search_path() -> str | None:
    return None if installed() else hpc_agent.package_parent()


__all__ = [
    "Invocation",
    "agent_command",
    "installed",
    "module_command",
    "names_the_agent",
    "zipapp_path",
]
