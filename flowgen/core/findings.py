"""Structured findings: what validation reports, in one stable shape."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any


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

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{where}{self.path}: {self.severity.value} {self.code}: {self.message}"


def has_errors(findings: list[Finding], *, strict: bool = False) -> bool:
    """Whether these findings make a check fail (warnings count with ``strict``)."""
    return any(f.severity is Severity.ERROR or strict for f in findings)
