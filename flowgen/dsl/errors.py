"""The DSL's error: raised while building, before any JSON is written."""

from __future__ import annotations

from flowgen.core.errors import FlowgenError


class DSLError(FlowgenError):
    """A flow cannot be built as described (bad path, missing field, dangling Next)."""
