"""``flowgen deploy --print-cli``: the same deploy as a ``globus flows`` command line.

For people who prefer the official CLI: the built files are written where
``flowgen build`` puts them and the command names them, with every role as
a flag, each value shell-quoted. Without a lock file it is ``globus flows
create``; with one, ``globus flows update`` of the locked flow.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from flowgen.deploy.deploy import LocalFlow
from flowgen.deploy.lockfile import read_lock

# globus flows create takes one flag per principal; update takes comma lists.
_CREATE_FLAGS = {
    "flow_administrators": "--administrator",
    "flow_starters": "--starter",
    "flow_viewers": "--viewer",
    "run_managers": "--run-manager",
    "run_monitors": "--run-monitor",
}
_UPDATE_FLAGS = {
    "flow_administrators": "--administrators",
    "flow_starters": "--starters",
    "flow_viewers": "--viewers",
    "run_managers": "--run-managers",
    "run_monitors": "--run-monitors",
}


def build_directory(local: LocalFlow) -> Path:
    """Where the files are written: ``build/<name>/`` beside the config (as ``flowgen build``)."""
    return local.config.parent / "build" / local.built.config.name


def cli_command(local: LocalFlow, directory: Path | None = None) -> list[str]:
    """Write the built files and return the ``globus flows`` argument list."""
    definition_path, schema_path = local.built.write(directory or build_directory(local))
    d = local.desired
    lock = read_lock(local.lock_path)
    if lock is None:
        args = ["globus", "flows", "create", d.title, str(definition_path)]
        args += ["--input-schema", str(schema_path)]
        if d.subtitle:
            args += ["--subtitle", d.subtitle]
        if d.description:
            args += ["--description", d.description]
        for keyword in d.keywords:
            args += ["--keyword", keyword]
        for role, flag in _CREATE_FLAGS.items():
            for principal in d.roles.get(role, ()):
                args += [flag, principal]
        if d.subscription_id and d.subscription_id != "DEFAULT":
            args += ["--subscription-id", d.subscription_id]
        return args
    args = ["globus", "flows", "update", lock.flow_id, "--title", d.title]
    args += ["--definition", str(definition_path), "--input-schema", str(schema_path)]
    args += ["--subtitle", d.subtitle, "--description", d.description]
    args += ["--keywords", ",".join(d.keywords)]
    for role, flag in _UPDATE_FLAGS.items():
        args += [flag, ",".join(d.roles.get(role, ()))]
    if d.subscription_id:
        args += ["--subscription-id", d.subscription_id]
    return args


def render_command(args: list[str]) -> str:
    """The argument list as one shell-quoted line."""
    return shlex.join(args)
