"""``flowgen group``: manage the Globus groups that may start the flow."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from flowgen.cli import app
from flowgen.cli.errors import handle_errors
from flowgen.cli.output import FormatOption, Jmespath, JmespathOption, OutputFormat, display

group_app = typer.Typer(
    name="group",
    help=(
        "Create Globus groups and change who is in them (the flow's Starter group).\n\n"
        '\b\nExample: flowgen group create "Cryo-EM lab"'
    ),
    no_args_is_help=True,
)
app.add_typer(group_app)


@group_app.command("create")
@handle_errors
def create(
    name: Annotated[str, typer.Argument(help="The group's name.", show_default=False)],
    description: Annotated[str, typer.Option("--description", help="What the group is for.")] = "",
    fmt: FormatOption = OutputFormat.TEXT,
    jmespath: JmespathOption = None,
) -> None:
    """Create a group you administer and print the role entry to give it.

    \b
    Example: flowgen group create "Cryo-EM lab"
    """
    from flowgen.deploy.auth import open_session
    from flowgen.deploy.groups import create_group

    group = create_group(open_session().groups(), name, description)
    display(
        group,
        fmt,
        f"created group {group['name']!r} ({group['id']})\n"
        f'give it the Starter role: starters = ["{group["starter"]}"] in the [deploy] table',
        jmespath=jmespath,
    )


def _members(
    add: bool,
    group: str,
    identities: list[str],
    fmt: OutputFormat,
    jmespath: Jmespath | None,
) -> None:
    from flowgen.deploy.auth import open_session
    from flowgen.deploy.groups import change_members

    session = open_session()
    result = change_members(session.groups(), group, identities, add=add, auth=session.auth())
    verb = "added" if add else "removed"

    def text(data: dict[str, Any]) -> str:
        name_of = {i: name for name, i in data["usernames"].items()}

        def who(identity_id: str) -> str:
            name = name_of.get(identity_id)
            return f"{identity_id} ({name})" if name else str(identity_id)

        lines = [f"{verb} {who(i)}" for i in data["done"]]
        lines += [f"not {verb} {who(e['identity_id'])}: {e['detail']}" for e in data["errors"]]
        return "\n".join(lines)

    display(result, fmt, text, jmespath=jmespath)


@group_app.command("add")
@handle_errors
def add(
    group: Annotated[str, typer.Argument(help="Group id (or group:<uuid>).", show_default=False)],
    identities: Annotated[
        list[str],
        typer.Argument(
            help="People to add: usernames (alice@uni.edu) or identity ids.", show_default=False
        ),
    ],
    fmt: FormatOption = OutputFormat.TEXT,
    jmespath: JmespathOption = None,
) -> None:
    """Add people to a group, by username or identity id.

    A username is the full Globus username with its domain (alice@uni.edu,
    or alice@globusid.org for a Globus ID); identity ids may be written as
    <uuid>, identity:<uuid> or a full URN. Usernames are looked up with
    Globus Auth first, all in one request, and the group is not changed when
    one is unknown.

    \b
    Example: flowgen group add 0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11 alice@uni.edu bob@uni.edu

    \b
    Example: flowgen group add 0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11 identity:ae341a98-d274-11e5-b888-dbae3a8ba545
    """
    _members(True, group, identities, fmt, jmespath)


@group_app.command("remove")
@handle_errors
def remove(
    group: Annotated[str, typer.Argument(help="Group id (or group:<uuid>).", show_default=False)],
    identities: Annotated[
        list[str],
        typer.Argument(
            help="People to remove: usernames (alice@uni.edu) or identity ids.",
            show_default=False,
        ),
    ],
    fmt: FormatOption = OutputFormat.TEXT,
    jmespath: JmespathOption = None,
) -> None:
    """Remove people from a group, by username or identity id.

    Usernames are looked up with Globus Auth first, as for 'group add'.

    \b
    Example: flowgen group remove 0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11 alice@uni.edu

    \b
    Example: flowgen group remove 0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11 ae341a98-d274-11e5-b888-dbae3a8ba545
    """
    _members(False, group, identities, fmt, jmespath)


@group_app.command("list")
@handle_errors
def list_(fmt: FormatOption = OutputFormat.TEXT, jmespath: JmespathOption = None) -> None:
    """List the groups you belong to, with your role in each.

    \b
    Example: flowgen group list --format json
    """
    from flowgen.deploy.auth import open_session
    from flowgen.deploy.groups import list_groups

    groups = list_groups(open_session().groups())
    display(
        groups,
        fmt,
        "\n".join(f"{g['id']}  {g['name']}  ({', '.join(g['roles'])})" for g in groups),
        jmespath=jmespath,
    )
