"""Who flowgen acts as on Globus: a user app for people, a client app for CI.

People log in once with ``flowgen login``; the SDK keeps their tokens in its
standard storage (``~/.globus/app/<client id>/flowgen/tokens.json``, readable
only by the owner) and refreshes them itself. When ``GLOBUS_CLIENT_ID`` and
``GLOBUS_CLIENT_SECRET`` are set, flowgen acts as that confidential client
instead (CI), the same way globus-cli does with its own variables.
``GLOBUS_SDK_ENVIRONMENT`` picks a non-production Globus environment; the SDK
reads it. Tokens are never printed.

``flowgen login`` also asks for Transfer, which only ``flowgen deploy``'s
access check uses; a login made before flowgen asked for it keeps working
for everything else, and the check says to log in again.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowgen.deploy.errors import NotLoggedInError

if TYPE_CHECKING:
    import globus_sdk

APP_NAME = "flowgen"
"""The app name the SDK files tokens under."""

CLIENT_ID_ENV = "FLOWGEN_CLIENT_ID"
"""The native (public) Globus app people log in through.

flowgen ships no client id of its own: a Globus native app must be
registered by a person (app.globus.org, Settings, Developers), so each site
registers one ("thick client") and sets this variable.
"""

DEVELOPERS_PAGE = "https://app.globus.org/settings/developers"

REGISTER_APP_HINT = (
    f"{CLIENT_ID_ENV} is not set. flowgen logs you in through a Globus app that your site "
    "registers once (flowgen ships none):\n"
    f"  1. Open {DEVELOPERS_PAGE} (app.globus.org > Settings > Developers).\n"
    "  2. Choose 'Register a thick client or script that will be installed and run by "
    "users on their devices'.\n"
    "  3. Create or pick a project (Globus asks you to log in again), give the app a name "
    "your colleagues will recognise (e.g. 'FlowCron flowgen'), and click 'Register App'.\n"
    "  4. Copy the app's 'Client UUID' and set it in your shell, e.g. in ~/.bashrc:\n"
    f"       export {CLIENT_ID_ENV}=<Client UUID>\n"
    "     (it is not a secret: colleagues at your site may use the same one).\n"
    "  5. Run 'flowgen login' again.\n"
    "In CI, set GLOBUS_CLIENT_ID and GLOBUS_CLIENT_SECRET (a service account) instead."
)
"""The exact steps to get a client id, shown when ``FLOWGEN_CLIENT_ID`` is missing."""

CI_CLIENT_ID_ENV = "GLOBUS_CLIENT_ID"
CI_CLIENT_SECRET_ENV = "GLOBUS_CLIENT_SECRET"

NO_TERMINAL_LOGIN_HINT = (
    "flowgen login needs a terminal: it asks for the code the Globus login page shows. "
    "Run 'flowgen login' in a terminal, or, in CI and scripts, log in with client "
    f"credentials instead: set {CI_CLIENT_ID_ENV} and {CI_CLIENT_SECRET_ENV} "
    "(a service account's client id and secret) and no login is needed"
)
"""What ``flowgen login`` says when standard input is not a terminal."""

ENVIRONMENT_ENV = "GLOBUS_SDK_ENVIRONMENT"


def environment() -> str:
    """The Globus environment in use (``production`` unless GLOBUS_SDK_ENVIRONMENT says otherwise)."""
    return os.environ.get(ENVIRONMENT_ENV) or "production"


def uses_client_credentials() -> bool:
    """Whether CI credentials (GLOBUS_CLIENT_ID and GLOBUS_CLIENT_SECRET) are set."""
    return bool(os.environ.get(CI_CLIENT_ID_ENV) and os.environ.get(CI_CLIENT_SECRET_ENV))


def scope_requirements(*, optional: bool = False) -> dict[str, list[Any]]:
    """The scopes every flowgen command needs; with ``optional``, also Transfer.

    Transfer is asked for at login (``optional``) but not required of a
    stored login: only the access check of ``flowgen deploy`` uses it, and it
    is skipped, with a hint, when the login lacks it.
    """
    from globus_sdk import AuthClient, FlowsClient, GroupsClient, TransferClient
    from globus_sdk.scopes import AuthScopes, FlowsScopes, GroupsScopes, TransferScopes

    scopes: dict[str, list[Any]] = {
        FlowsClient.resource_server: [FlowsScopes.all],
        GroupsClient.resource_server: [GroupsScopes.all],
        AuthClient.resource_server: [AuthScopes.openid, AuthScopes.profile, AuthScopes.email],
    }
    if optional:
        scopes[TransferClient.resource_server] = [TransferScopes.all]
    return scopes


def make_app(*, allow_login_prompt: bool = False, optional: bool = False) -> globus_sdk.GlobusApp:
    """The app flowgen acts through: a ClientApp with CI credentials, else a UserApp.

    ``allow_login_prompt`` lets the user app start a login when tokens are
    missing or a new consent is needed (``flowgen login``, ``run start``
    at a terminal); otherwise a missing login is an error, never a prompt
    in the middle of a script. ``optional`` adds the optional scopes
    (:func:`scope_requirements`), for logging in and out.
    """
    from globus_sdk import ClientApp, GlobusAppConfig, UserApp

    if uses_client_credentials():
        return ClientApp(
            APP_NAME,
            client_id=os.environ[CI_CLIENT_ID_ENV],
            client_secret=os.environ[CI_CLIENT_SECRET_ENV],
            scope_requirements=scope_requirements(optional=optional),
            config=GlobusAppConfig(token_storage="json"),
        )
    config = GlobusAppConfig(
        token_storage="json",
        request_refresh_tokens=True,
        token_validation_error_handler=_login_again if allow_login_prompt else None,
    )
    client_id = os.environ.get(CLIENT_ID_ENV)
    if not client_id:
        raise NotLoggedInError(f"flowgen cannot log you in yet. {REGISTER_APP_HINT}")
    return UserApp(
        APP_NAME,
        client_id=client_id,
        scope_requirements=scope_requirements(optional=optional),
        config=config,
    )


def _login_again(app: globus_sdk.GlobusApp, error: Exception) -> None:
    from globus_sdk.globus_app.config import resolve_by_login_flow
    from globus_sdk.token_storage import TokenValidationError

    if isinstance(error, TokenValidationError):
        resolve_by_login_flow(app, error)
    else:  # pragma: no cover - the SDK only passes TokenValidationError
        raise error


@dataclass
class Session:
    """The clients one command uses, all acting as the same identity.

    Built by :func:`open_session`; tests and scripts can build one around a
    static authorizer instead of an app.
    """

    app: globus_sdk.GlobusApp | None = None
    authorizer: globus_sdk.authorizers.GlobusAuthorizer | None = None

    def _auth_kwargs(self) -> dict[str, Any]:
        return {"app": self.app} if self.app is not None else {"authorizer": self.authorizer}

    def flows(self) -> globus_sdk.FlowsClient:
        """A Flows client."""
        from globus_sdk import FlowsClient

        return FlowsClient(**self._auth_kwargs())

    def specific_flow(self, flow_id: str) -> globus_sdk.SpecificFlowClient:
        """A client for running one flow (its own consent scope is added to the app)."""
        from globus_sdk import SpecificFlowClient

        client = SpecificFlowClient(flow_id, **self._auth_kwargs())
        if self.app is not None:
            ensure_logged_in(self.app)
        return client

    def groups(self) -> globus_sdk.GroupsClient:
        """A Groups client."""
        from globus_sdk import GroupsClient

        return GroupsClient(**self._auth_kwargs())

    def auth(self) -> globus_sdk.AuthClient:
        """An Auth client (who the caller is, usernames to identity ids)."""
        from globus_sdk import AuthClient

        return AuthClient(**self._auth_kwargs())

    def transfer(self) -> globus_sdk.TransferClient:
        """A Transfer client (read-only use: collection permissions for the access check).

        With a user login made before flowgen asked for Transfer, its calls
        raise the SDK's ``TokenValidationError``; the caller decides.
        """
        from globus_sdk import TransferClient

        return TransferClient(**self._auth_kwargs())


def ensure_logged_in(app: globus_sdk.GlobusApp) -> None:
    """Raise :class:`NotLoggedInError` when the app would need a login it may not start."""
    from globus_sdk import UserApp

    if not isinstance(app, UserApp) or not app.login_required():
        return
    if app.config.token_validation_error_handler is not None and sys.stdin.isatty():
        # A terminal and permission to prompt: the SDK runs the login itself
        # (a first run of a newly deployed flow needs the user's consent).
        app.login()
        return
    raise NotLoggedInError(
        "not logged in to Globus (or a new consent is needed): run 'flowgen login' "
        f"(in CI, set {CI_CLIENT_ID_ENV} and {CI_CLIENT_SECRET_ENV})"
    )


def open_session(*, allow_login_prompt: bool = False) -> Session:
    """A session for the current user or CI client; refuses when nobody is logged in."""
    app = make_app(allow_login_prompt=allow_login_prompt)
    ensure_logged_in(app)
    return Session(app=app)


def login(*, force: bool = False) -> Session:
    """Log in (browser or pasted code) unless valid tokens are stored; ``force`` always does.

    The login asks for every scope, the optional ones too, so a login made
    before flowgen asked for Transfer is completed by running it again.
    """
    app = make_app(allow_login_prompt=True, optional=True)
    from globus_sdk import UserApp

    if isinstance(app, UserApp) and (force or app.login_required()):
        if not sys.stdin.isatty():
            # The SDK would wait for the code pasted from the login page and
            # meet the end of the input, which looks like a crash.
            raise NotLoggedInError(NO_TERMINAL_LOGIN_HINT)
        app.login(force=force)
    return Session(app=app)


def logout() -> bool:
    """Revoke and forget the stored tokens; False when there were none."""
    had_tokens = not make_app().login_required()
    # The optional scopes too, so no Transfer token is left behind.
    make_app(optional=True).logout()
    return had_tokens


def whoami(session: Session) -> dict[str, Any]:
    """Who the session acts as: ``{"username", "name", "email", "identity_id", "kind"}``."""
    info = session.auth().userinfo()
    return {
        "username": info.get("preferred_username"),
        "name": info.get("name"),
        "email": info.get("email"),
        "identity_id": info.get("sub"),
        "kind": "client" if uses_client_credentials() else "user",
    }
