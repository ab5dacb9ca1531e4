"""Structured findings: what validation reports, in one stable shape."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from hpc_agent.terminal import paint


class Severity(str, Enum):
    """How serious a finding is. Errors fail ``validate``; warnings fail only with --strict."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Finding:
    """One problem found in a flow definition or input schema.

    ``path`` is a JSONPath into the checked document (``$.States.Upload.Next``);
    ``file`` names the document when several are checked together.
    Instances sort by file, location, code, then message, so output order is
    stable whatever order the checks ran in.
    """

    file: str
    path: str
    code: str
    severity: Severity
    message: str

    def to_json(self) -> dict[str, Any]:
        """The finding as a plain JSON object (for ``--format json``)."""
        data = asdict(self)
        data["severity"] = self.severity.value
        return data

    def render(self, *, colour: bool = False) -> str:
        """The finding as one line: ``file: path: severity code: message``.

        With ``colour`` (a terminal, :func:`hpc_agent.terminal.colour_enabled`)
        the severity and code are painted (error red, warning yellow); the
        characters are otherwise those of ``str(finding)``, which is this
        without colour: the one place the line's format is written.
        """
        where = f"{self.file}: " if self.file else ""
        label = paint(f"{self.severity.value} {self.code}", self.severity.value, enabled=colour)
        return f"{where}{self.path}: {label}: {self.message}"

    def __str__(self) -> str:
        return self.render(colour=False)


def has_errors(findings: list[Finding], *, strict: bool = False) -> bool:
    """Whether these findings make a check fail (warnings count with ``strict``)."""
    return any(f.severity is Severity.ERROR or strict for f in findings)
