"""``flowgen deploy``: put the FlowCron flow on Globus, changing only what differs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from flowgen.cli import app
from flowgen.cli.errors import handle_errors
from flowgen.cli.output import FormatOption, JmespathOption, OutputFormat, display, note
from flowgen.core.exitcodes import ExitCode

_ROLE_HELP = "May be repeated; replaces the config's deploy.{field} list."


@app.command()
@handle_errors
def deploy(
    config: Annotated[
        Path, typer.Argument(help="Instance config (flows/<name>.toml).", show_default=False)
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan; exit 1 if it would change something.")
    ] = False,
    validate_remote: Annotated[
        bool, typer.Option("--validate-remote", help="Also run the service's own validation.")
    ] = False,
    recreate: Annotated[
        bool, typer.Option("--recreate", help="Create a new flow even though a lock file exists.")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Adopt a flow found by its title without asking.")
    ] = False,
    print_cli: Annotated[
        bool,
        typer.Option("--print-cli", help="Print the equivalent 'globus flows' command instead."),
    ] = False,
    starter: Annotated[
        list[str] | None, typer.Option("--starter", help=_ROLE_HELP.format(field="starters"))
    ] = None,
    administrator: Annotated[
        list[str] | None,
        typer.Option("--administrator", help=_ROLE_HELP.format(field="administrators")),
    ] = None,
    viewer: Annotated[
        list[str] | None, typer.Option("--viewer", help=_ROLE_HELP.format(field="viewers"))
    ] = None,
    check_access: Annotated[
        bool,
        typer.Option(
            "--check-access/--no-check-access",
            help=(
                "Check with Transfer that the starters may read and write the flow's folders "
                "on the HPC collection (warns, never fails)."
            ),
        ),
    ] = True,
    fmt: FormatOption = OutputFormat.TEXT,
    jmespath: JmespathOption = None,
) -> ExitCode:
    """Deploy the flow built from CONFIG, creating or updating only what differs.

    The flow is built and validated locally first (a flow with errors is
    never sent) and the role lists are checked. The deployed flow is found
    through the lock file next to the config (flows/<name>.lock.json,
    commit it); without one, a flow you administer with the same title is
    adopted after you agree (--yes in scripts). The plan compares the local
    build with the flow as the service has it now, so edits made in the web
    app show up. The lock file is written only after the service confirmed.
    Roles accept group:<uuid>, identity:<uuid>, usernames (alice@uni.edu,
    looked up with Globus Auth in one request before anything is sent),
    full URNs, all_authenticated_users (starters) and public (viewers).
    With --dry-run the command exits 0 when nothing would change and 1 when
    something would.

    Then, unless --no-check-access, it checks with Transfer that every
    starter may read and write the flow's folders under the base path on
    the HPC collection (transfers run as the person who starts the run) and
    prints what to grant when they may not. The check only reads, needs you
    to be an administrator or access manager of a guest collection, and is
    skipped, saying why, when it cannot be done; it never fails the deploy.

    \b
    Example: flowgen deploy flows/mycluster.toml --starter group:0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11

    \b
    Example: flowgen deploy flows/mycluster.toml --starter alice@uni.edu --starter bob@uni.edu

    \b
    Example: flowgen deploy flows/mycluster.toml --dry-run
    """
    import functools

    from flowgen.deploy.auth import open_session
    from flowgen.deploy.deploy import deploy as run_deploy
    from flowgen.deploy.deploy import prepare
    from flowgen.deploy.identities import lookup_usernames

    overrides = {
        name: values
        for name, values in (
            ("starters", starter),
            ("administrators", administrator),
            ("viewers", viewer),
        )
        if values
    }
    # One session for the whole command, opened only when something needs it
    # (--print-cli of a config without usernames never logs in).
    session = functools.cache(open_session)
    local = prepare(
        config, overrides, lookup=lambda names: lookup_usernames(session().auth(), names)
    )
    for warning in local.warnings:
        note(str(warning))
    for line in local.notes:
        note(line)
    if print_cli:
        from flowgen.deploy.printcli import cli_command, render_command

        args = cli_command(local)
        display({"command": args}, fmt, render_command(args), jmespath=jmespath)
        return ExitCode.OK

    def ask(question: str) -> bool:
        return typer.confirm(question, default=False, err=True)

    result = run_deploy(
        session().flows(),
        local,
        dry_run=dry_run,
        validate_remote=validate_remote,
        recreate=recreate,
        assume_yes=yes,
        confirm=ask if sys.stdin.isatty() else None,
    )
    starters = local.desired.roles.get("flow_starters", ())
    report = None
    if check_access and starters:
        from flowgen.deploy.access import check_access as check

        cfg = local.built.config
        report = check(
            session().transfer(),
            cfg.collection,
            cfg.base_path,
            starters,
            names=local.desired.names,
        )
    for line in result.notes:
        note(line)
    text = result.plan.render()
    if not dry_run and result.web_address:
        text += f"\nflow {result.flow_id}: {result.web_address}"
        text += "\n(share this address with the members of the Starter group)"
        if result.lock_written:
            text += f"\nwrote {local.lock_path} (commit it)"
    display(
        {**result.to_json(), "access_check": report.to_json() if report else None},
        fmt,
        text,
        jmespath=jmespath,
    )
    for line in report.render() if report else ():
        note(line)
    if dry_run and not result.plan.is_empty:
        return ExitCode.DIFFERENT
    return ExitCode.OK
