"""Fixtures for the online commands: every HTTP call is a registered response.

The autouse fixture starts ``responses`` with nothing passed through, so an
unregistered call fails the test; it also points the SDK's token storage at
the test's directory and pins the production environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import globus_sdk
import pytest
import responses
from globus_sdk.transport import RequestsTransport

from flowgen.deploy import auth
from flowgen.flowcron.build import build_from_config

from .helpers import CONFIG


@pytest.fixture(autouse=True)
def no_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Block the network, isolate token storage and pin the Globus environment."""
    monkeypatch.setenv("GLOBUS_SDK_ENVIRONMENT", "production")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in (auth.CI_CLIENT_ID_ENV, auth.CI_CLIENT_SECRET_ENV, auth.CLIENT_ID_ENV):
        monkeypatch.delenv(name, raising=False)
    # The SDK retries network errors with back-off; tests need not wait.
    monkeypatch.setattr(RequestsTransport, "_retry_sleep", lambda *a, **k: None)
    responses.start()
    responses.mock.assert_all_requests_are_fired = False
    responses.mock.passthru_prefixes = ()
    try:
        yield
    finally:
        responses.stop()
        responses.reset()


@pytest.fixture
def logged_in(monkeypatch: pytest.MonkeyPatch) -> auth.Session:
    """Every command acts through a static access token."""
    session = auth.Session(authorizer=globus_sdk.AccessTokenAuthorizer("test-token"))
    monkeypatch.setattr(auth, "open_session", lambda **_: session)
    return session


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """An instance config with a [deploy] table, in ``flows/``."""
    path = tmp_path / "flows" / "mycluster.toml"
    path.parent.mkdir()
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def built(config: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The config's definition and input schema, as flowgen builds them."""
    return build_from_config(config)
