"""Live tests run only from ``make live-test`` and only with Globus credentials."""

from __future__ import annotations

import os

import pytest

REQUIRED = ("GLOBUS_CLIENT_ID", "GLOBUS_CLIENT_SECRET", "FLOWGEN_LIVE_COLLECTION")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip every live test unless make live-test asked for them and credentials are set."""
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if os.environ.get("FLOWGEN_LIVE") != "1":
        reason = "live Globus tests run only through 'make live-test'"
    elif missing:
        reason = f"live Globus tests need {', '.join(missing)} in the environment"
    else:
        return
    # This hook sees the whole session's items, not only this directory's.
    for item in items:
        if item.get_closest_marker("live") is not None:
            item.add_marker(pytest.mark.skip(reason=reason))
