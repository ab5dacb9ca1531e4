"""Setting an instance up and taking it down: ``setup``, ``schedule`` and ``uninstall``.

Under ``-F json`` each prints one JSON document on stdout (what it did), and
everything it says to people (progress, the table change to approve, the
questions) goes to stderr, so stdout stays one document.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpc_agent.cli.common import add_format_options, add_parser, emit, example, to_json, wants_json
from hpc_agent.exitcodes import ExitCode
from hpc_agent.protocol import EXECUTORS, RUN_POLICIES

if TYPE_CHECKING:
    from hpc_agent.config import InstanceConfig
    from hpc_agent.site.schedule import Change

# The configuration, set-up and schedule modules are imported by the commands
# (hpc-agent --help needs none of them).

# -- setup ---------------------------------------------------------------------


def add_setup(sub: Any) -> None:
    """Add ``setup`` to the sub-command parsers ``sub``."""
    p = add_parser(
        sub,
        "setup",
        help="Create or update an instance (asks, or takes flags with --yes).",
        description="Create or update a FlowCron instance: its directories, its settings, "
        "its registry entry and its schedule. Every question is also a flag; with --yes "
        "nothing is asked. Ctrl-C at a question stops with exit code 130.",
        epilog=example(
            "hpc-agent setup --base-dir /project/p42/flowcron --name p42 --account p42 "
            "--qos normal --yes"
        ),
    )
    p.add_argument("--base-dir", type=Path, help="where the instance lives (default: here)")
    p.add_argument("--name", help="the instance name")
    p.add_argument("--account", help="Slurm account for jobs ('none': Slurm's default)")
    p.add_argument("--qos", help="Slurm QoS for jobs ('none': Slurm's default)")
    p.add_argument("--every", metavar="MINUTES", help="minutes between agent runs")
    p.add_argument("--soft-delete-days", metavar="N", help="0 disables soft deletion")
    p.add_argument("--hard-delete-days", metavar="N", help="0 disables hard deletion")
    stamp = p.add_mutually_exclusive_group()
    stamp.add_argument("--timestamp", dest="timestamp", action="store_true", default=None)
    stamp.add_argument("--no-timestamp", dest="timestamp", action="store_false")
    p.add_argument("--executor", choices=EXECUTORS)
    p.add_argument("--schedule", choices=("cron", "scrontab", "none"))
    p.add_argument(
        "--risky-scripts",
        choices=("warn", "reject"),
        help="script lines that will not work in a job (~/, conda activate without "
        "conda set up...): warn in the report (default) or refuse the Unit of Work",
    )
    p.add_argument(
        "--run-policy",
        choices=RUN_POLICIES,
        help="what the instance runs: job scripts users bring (scripts), calls of the "
        "functions published in Functions/ (functions), or both (default)",
    )
    limits = p.add_argument_group(
        "admission limits",
        "Uploads over a limit wait in UploadedFiles/ and are admitted round-robin across "
        "users as room frees up. 0 (the default) is no limit; unset flags keep the current "
        "value.",
    )
    limits.add_argument(
        "--max-running-per-user", metavar="N", help="running jobs per user (starter)"
    )
    limits.add_argument("--max-active-per-user", metavar="N", help="queued + running UoWs per user")
    limits.add_argument("--max-active", metavar="N", help="queued + running UoWs in all")
    limits.add_argument(
        "--max-uow-bytes-per-user",
        metavar="SIZE",
        help="bytes a user's UoWs may hold in CodeToRun/ at once (e.g. 500G, 2T)",
    )
    p.add_argument("--yes", action="store_true", help="ask nothing; fail on a missing value")
    p.add_argument("--force", action="store_true", help="take over a name used elsewhere")
    add_format_options(p)
    p.set_defaults(func=cmd_setup)


def cmd_setup(args: argparse.Namespace) -> int:
    """Create or update an instance."""
    from hpc_agent.site.setup import SetupOptions, setup, stdin_prompter

    options = SetupOptions(
        base_dir=args.base_dir,
        name=args.name,
        account=args.account,
        qos=args.qos,
        every=args.every,
        soft_delete_days=args.soft_delete_days,
        hard_delete_days=args.hard_delete_days,
        timestamp=args.timestamp,
        executor=args.executor,
        schedule=args.schedule,
        risky_scripts=args.risky_scripts,
        run_policy=args.run_policy,
        max_running_per_user=args.max_running_per_user,
        max_active_per_user=args.max_active_per_user,
        max_active=args.max_active,
        max_uow_bytes_per_user=args.max_uow_bytes_per_user,
        yes=args.yes,
        force=args.force,
    )
    as_json = wants_json(args)
    # Under JSON the questions, the table change and the summary are for people: stderr.
    talk = sys.stderr if as_json else sys.stdout
    before = _config_before(args.base_dir) if as_json else None
    prompter = None if args.yes else stdin_prompter(talk)
    cfg, status = setup(options, prompter=prompter, out=talk, err=sys.stderr)
    if as_json:
        sys.stdout.write(to_json(setup_document(cfg, before), args))
    return status


def _config_before(base_dir: Path | None) -> InstanceConfig | None:
    """The configuration at ``base_dir`` before setup (None: a new instance), as setup finds it."""
    from hpc_agent.config import CONFIG_FILE, load_base

    base = (base_dir or Path.cwd()).expanduser().resolve()
    return load_base(base) if (base / CONFIG_FILE).is_file() else None


def _plain(value: object) -> object:
    """A setting's value as JSON holds it (paths as text)."""
    return str(value) if isinstance(value, Path) else value


def setup_document(cfg: InstanceConfig, before: InstanceConfig | None) -> dict[str, Any]:
    """What ``setup -F json`` prints: the instance as set up, and what changed."""
    from dataclasses import fields

    from hpc_agent.config import registry_path
    from hpc_agent.site import schedule
    from hpc_agent.site.setup import INSTANCE_FILE

    settings = {f.name: _plain(getattr(cfg, f.name)) for f in fields(cfg)}
    changed = {}
    if before is not None:
        for f in fields(cfg):
            old, new = _plain(getattr(before, f.name)), settings[f.name]
            if old != new:
                changed[f.name] = {"from": old, "to": new}
    block = None
    if cfg.schedule != "none":
        try:
            block = schedule.show(cfg)
        except schedule.ScheduleError:
            block = None  # setup has said why on stderr (and exits 1)
    return {
        "name": cfg.name,
        "base_dir": str(cfg.base_dir),
        "config": str(cfg.config_path),
        "registry_entry": str(registry_path(cfg.name)),
        "instance_file": str(cfg.base_dir / INSTANCE_FILE),
        "executor": cfg.executor,
        "schedule": {"kind": cfg.schedule, "installed": block is not None, "block": block},
        "created": before is None,
        "changed": changed,
        "settings": settings,
    }


# -- schedule --------------------------------------------------------------------


def add_schedule(sub: Any) -> None:
    """Add ``schedule`` to the sub-command parsers ``sub``."""
    p = add_parser(
        sub,
        "schedule",
        help="Install, remove or show the instance's cron (or scrontab) entry.",
        description="Manage the marked block this instance owns in your crontab (or "
        "scrontab). The previous table is saved in ~/.config/flowcron/ before any change.",
        epilog=example("hpc-agent schedule install p42"),
    )
    p.add_argument("action", choices=("install", "remove", "show"))
    p.add_argument("instance", metavar="INSTANCE")
    p.add_argument("--kind", choices=("cron", "scrontab"), help="override the configured kind")
    p.add_argument("--yes", action="store_true", help="change the table without asking")
    add_format_options(p)
    p.set_defaults(func=cmd_schedule)


def cmd_schedule(args: argparse.Namespace) -> int:
    """Install, remove or show the schedule."""
    from dataclasses import replace

    from hpc_agent.config import load_instance, save_instance
    from hpc_agent.site import schedule
    from hpc_agent.site.setup import describe_change, stdin_prompter

    cfg = load_instance(args.instance)
    if args.kind:
        cfg = replace(cfg, schedule=args.kind)
    as_json = wants_json(args)
    talk = sys.stderr if as_json else sys.stdout
    if args.action == "show":
        block = schedule.show(cfg)
        if block is None and not as_json:
            print(f"no {cfg.schedule} entry for {cfg.name}", file=sys.stderr)
            return ExitCode.FAILED
        shown = {"instance": cfg.name, "kind": cfg.schedule, "installed": block is not None}
        emit({**shown, "block": block}, args, lambda: block or "")
        return ExitCode.OK if block is not None else ExitCode.FAILED
    change = schedule.plan_install(cfg) if args.action == "install" else schedule.plan_remove(cfg)
    if not change.changed:
        print(f"nothing to change in your {change.tool} table", file=sys.stderr)
        _schedule_result(args, cfg, change, applied=False, backup=None)
        return ExitCode.OK
    talk.write(describe_change(change))
    if not args.yes and not stdin_prompter(talk).confirm(f"Apply to your {change.tool}?"):
        print("left unchanged", file=sys.stderr)
        _schedule_result(args, cfg, change, applied=False, backup=None)
        return ExitCode.OK
    backup = schedule.apply(change)
    print(f"{change.tool} updated; previous table saved to {backup}", file=sys.stderr)
    if args.kind and args.action == "install":
        save_instance(cfg)  # the kind given now is the one doctor and uninstall should use
    _schedule_result(args, cfg, change, applied=True, backup=backup)
    return ExitCode.OK


def _schedule_result(
    args: argparse.Namespace,
    cfg: InstanceConfig,
    change: Change,
    *,
    applied: bool,
    backup: Path | None,
) -> None:
    """``schedule install|remove -F json``: what was planned and done (text: nothing more)."""
    if not wants_json(args):
        return
    from hpc_agent.site.setup import describe_change

    document = {
        "instance": cfg.name,
        "action": args.action,
        "tool": change.tool,
        "changed": change.changed,
        "applied": applied,
        "backup": None if backup is None else str(backup),
        "diff": describe_change(change) if change.changed else None,
    }
    sys.stdout.write(to_json(document, args))


# -- uninstall ---------------------------------------------------------------------


def add_uninstall(sub: Any) -> None:
    """Add ``uninstall`` to the sub-command parsers ``sub``."""
    p = add_parser(
        sub,
        "uninstall",
        help="Remove an instance's schedule and registry entry (never its data).",
        description="Stop running the agent for an instance: remove its cron/scrontab "
        "block and its registry entry. Uploaded, running and finished Units of Work, logs "
        "and settings stay where they are.",
        epilog=example("hpc-agent uninstall p42 --yes"),
    )
    p.add_argument("instance", metavar="INSTANCE")
    p.add_argument("--yes", action="store_true", help="change the table without asking")
    add_format_options(p)
    p.set_defaults(func=cmd_uninstall)


def _remove_registry_entry(cfg: InstanceConfig) -> bool:
    """Remove the registry entry of ``cfg``'s name only when it points at ``cfg.base_dir``.

    Returns whether it removed one.
    """
    from hpc_agent.config import ConfigError, registered_base, registry_path
    from hpc_agent.site import schedule

    entry = registry_path(cfg.name)
    try:
        registered = registered_base(cfg.name)
    except ConfigError as exc:
        print(f"registry entry left in place: {exc}", file=sys.stderr)
        return False
    if registered is None:
        return False
    if not schedule.same_path(registered, cfg.base_dir):
        print(
            f"registry entry {entry} left in place: it names the instance at {registered}, "
            f"not {cfg.base_dir}",
            file=sys.stderr,
        )
        return False
    entry.unlink()
    print(f"removed the registry entry {entry}", file=sys.stderr)
    return True


def cmd_uninstall(args: argparse.Namespace) -> int:
    """Remove the schedule and the registry entry; keep every file of the instance."""
    from hpc_agent.config import load_instance, registry_path
    from hpc_agent.site import schedule
    from hpc_agent.site.setup import describe_change, stdin_prompter

    cfg = load_instance(args.instance)
    talk = sys.stderr if wants_json(args) else sys.stdout
    status = ExitCode.OK
    done: dict[str, Any] = {
        "instance": cfg.name,
        "base_dir": str(cfg.base_dir),
        "config": str(cfg.config_path),
        "schedule_kind": cfg.schedule,
        "schedule_removed": False,
        "schedule_backup": None,
        "schedule_error": None,
        "registry_entry": str(registry_path(cfg.name)),
        "registry_entry_removed": False,
        "declined": False,
        "data_deleted": False,
    }
    if cfg.schedule != "none":
        try:
            change = schedule.plan_remove(cfg)
            if change.changed:
                talk.write(describe_change(change))
                if args.yes or stdin_prompter(talk).confirm(f"Apply to your {change.tool}?"):
                    backup = schedule.apply(change)
                    print(f"removed the {change.tool} entry (backup: {backup})", file=sys.stderr)
                    done["schedule_removed"] = True
                    done["schedule_backup"] = None if backup is None else str(backup)
                else:
                    # Declined: uninstall as a whole is off, the registry entry included.
                    print(
                        f"nothing was changed: the {change.tool} entry and the registry entry "
                        f"of {cfg.name} are still in place",
                        file=sys.stderr,
                    )
                    _uninstall_result(args, {**done, "declined": True})
                    return ExitCode.FAILED
        except schedule.ScheduleError as exc:
            print(f"could not remove the schedule: {exc}", file=sys.stderr)
            done["schedule_error"] = str(exc)
            status = ExitCode.FAILED
    done["registry_entry_removed"] = _remove_registry_entry(cfg)
    print(
        f"No data was deleted: everything is still in {cfg.base_dir} "
        f"(settings in {cfg.config_path}). Remove it yourself when you no longer need it.",
        file=sys.stderr,
    )
    _uninstall_result(args, done)
    return status


def _uninstall_result(args: argparse.Namespace, document: dict[str, Any]) -> None:
    """``uninstall -F json``: what was removed and what stayed (text: nothing more)."""
    if wants_json(args):
        sys.stdout.write(to_json(document, args))
