"""RFC 3339 date-times, the form Wait and Choice timestamps must take."""

from __future__ import annotations

import re
from datetime import datetime

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def is_rfc3339(value: str) -> bool:
    """Whether ``value`` is an RFC 3339 date-time with a time zone.

    >>> is_rfc3339("2026-05-01T12:00:00Z"), is_rfc3339("2026-05-01 12:00")
    (True, False)
    """
    match = _RFC3339.match(value)
    if not match:
        return False
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    offset = match.group(8)
    if offset not in ("Z", "z") and (int(offset[1:3]) > 23 or int(offset[4:6]) > 59):
        return False
    try:
        # RFC 3339 allows a leap second (:60), which datetime does not model.
        datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        return False
    return second <= 60


EXAMPLE = "2026-05-01T12:00:00Z"
"""A valid timestamp to quote in messages."""
