"""``flowgen login``, ``logout`` and ``whoami``: the Globus identity flowgen acts as."""

from __future__ import annotations

from typing import Annotated

import typer

from flowgen.cli import app
from flowgen.cli.errors import handle_errors
from flowgen.cli.output import FormatOption, JmespathOption, OutputFormat, display


@app.command()
@handle_errors
def login(
    force: Annotated[
        bool, typer.Option("--force", help="Log in again even if a login is stored.")
    ] = False,
    fmt: FormatOption = OutputFormat.TEXT,
    jmespath: JmespathOption = None,
) -> None:
    """Log in to Globus once; flowgen keeps and refreshes the tokens itself.

    Opens the Globus login page (or prints its address to paste into a
    browser and asks for the code shown after logging in). Tokens are stored
    in the Globus SDK's standard place, readable only by you. With
    GLOBUS_CLIENT_ID and GLOBUS_CLIENT_SECRET set (CI), no login is needed.

    People log in through a Globus app registered once per site: set
    FLOWGEN_CLIENT_ID to its Client UUID (app.globus.org > Settings >
    Developers > "Register a thick client or script that will be installed
    and run by users on their devices"). Without it, this command prints
    the steps. The login asks for Flows, Groups, Auth and Transfer; Transfer
    serves only the access check of 'flowgen deploy', so an older login
    without it keeps working, and logging in again adds it.

    \b
    Example: flowgen login
    """
    from flowgen.deploy.auth import login as do_login
    from flowgen.deploy.auth import uses_client_credentials, whoami

    session = do_login(force=force)
    who = whoami(session)
    kind = "client credentials" if uses_client_credentials() else "your Globus login"
    display(
        who,
        fmt,
        f"logged in as {who['username'] or who['identity_id']} ({kind})",
        jmespath=jmespath,
    )


@app.command()
@handle_errors
def logout(fmt: FormatOption = OutputFormat.TEXT, jmespath: JmespathOption = None) -> None:
    """Revoke and forget the stored Globus tokens.

    \b
    Example: flowgen logout
    """
    from flowgen.deploy.auth import logout as do_logout

    was_logged_in = do_logout()
    display(
        {"was_logged_in": was_logged_in},
        fmt,
        "logged out" if was_logged_in else "was not logged in",
        jmespath=jmespath,
    )


@app.command()
@handle_errors
def whoami(fmt: FormatOption = OutputFormat.TEXT, jmespath: JmespathOption = None) -> None:
    """Show the Globus identity flowgen acts as.

    \b
    Example: flowgen whoami --format json
    """
    from flowgen.deploy.auth import open_session
    from flowgen.deploy.auth import whoami as who

    info = who(open_session())
    display(
        info,
        fmt,
        f"{info['username']} ({info['name'] or '-'}) id {info['identity_id']}",
        jmespath=jmespath,
    )
