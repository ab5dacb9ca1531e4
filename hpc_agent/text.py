"""Names and text as they reach reports, logs and messages: lossless and always valid UTF-8.

A folder uploaded from an old laptop can have a name that is not UTF-8
(``caf\\xe9``). Python holds such a name with "surrogate escapes", which
cannot be encoded as UTF-8, so every report or log line that mentions it
used to fail. Two rules, one home:

- JSON (reports, event log lines) is written with :func:`json_bytes`: valid
  UTF-8 in which a surrogate escape is written as the JSON escape ``\\udce9``,
  so ``json.loads`` gives the very same name back;
- text meant for people (the text report, messages) shows such a name with
  :func:`printable`: the undecodable byte as ``\\xe9`` and control
  characters escaped.
"""

from __future__ import annotations

import json
from typing import Any


def json_bytes(data: Any, **dumps: Any) -> bytes:
    r"""``data`` as UTF-8 JSON; names with undecodable bytes survive a round trip.

    >>> json_bytes({"uow": "caf\udce9"})
    b'{"uow": "caf\\udce9"}'
    >>> json.loads(json_bytes({"uow": "caf\udce9"}))["uow"] == "caf\udce9"
    True
    """
    text = json.dumps(data, ensure_ascii=False, **dumps)
    # A lone surrogate cannot be UTF-8; "\udce9" is its JSON escape.
    return text.encode("utf-8", "backslashreplace")


def printable(text: str) -> str:
    r"""``text`` for a person: undecodable bytes as ``\xNN``, control characters escaped.

    >>> printable("caf\udce9-run")
    'caf\\xe9-run'
    >>> printable("two\nlines")
    'two\\nlines'
    >>> printable("Grüße")
    'Grüße'
    """
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that stands for no byte
        raw = text.encode("utf-8", "backslashreplace")
    shown = raw.decode("utf-8", "backslashreplace")
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
        for ch in shown
    )
