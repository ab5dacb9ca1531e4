"""Every finding code the validator can report, with its severity, in one table.

Codes are stable: tools and CI scripts may filter on them, so a code is
never reused for a different meaning. The hundreds group by concern:
1xx shape (stage 1, the JSON Schema), 2xx the state graph, 3xx data
references (JSONPaths, expressions, parameters), 4xx per-state rules,
5xx Transfer action providers, 6xx leftovers and principals, 7xx input
schemas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from flowgen.core.findings import Finding, Severity
from flowgen.core.jsonpath import Token, format_path

E = Severity.ERROR
W = Severity.WARNING


@dataclass(frozen=True)
class Rule:
    """One finding code: how serious it is and what it means, in one line."""

    code: str
    severity: Severity
    summary: str


_TABLE: tuple[Rule, ...] = (
    Rule("FG101", E, "a value has the wrong JSON type"),
    Rule("FG102", E, "a required field is missing"),
    Rule("FG103", E, "a key is not allowed here (OutputPath, Retry, a typo, ...)"),
    Rule("FG104", E, "a state has a Type the Flows service does not accept"),
    Rule("FG105", E, "a value is out of range, empty or does not match its pattern"),
    Rule("FG201", E, "StartAt does not name a state"),
    Rule("FG202", E, "a Next, Default or Catch target does not name a state"),
    Rule("FG203", W, "a state can never be reached from StartAt"),
    Rule("FG204", E, "no terminal state (End: true or Fail) can be reached"),
    Rule("FG205", E, "a state needs exactly one of Next and End"),
    Rule("FG206", E, "End must be true when present"),
    Rule("FG207", E, "a loop containing a Wait has no way out"),
    Rule("FG208", W, "a polling loop ends only on an action's result: no counter or deadline"),
    Rule("FG301", E, "a JSONPath is not valid"),
    Rule("FG302", E, "a .= expression does not parse"),
    Rule("FG303", W, "an expression calls a function the service is not known to provide"),
    Rule("FG304", W, "a value looks like a JSONPath but its key has no .$ suffix"),
    Rule("FG305", E, "__Private_Parameters must list names of sibling parameters"),
    Rule("FG306", E, "ResultPath points into the read-only $._context"),
    Rule("FG307", W, "an Action without ResultPath replaces the state a later state reads"),
    Rule("FG308", W, "a Catch has no ResultPath, so the error replaces the whole run state"),
    Rule("FG309", E, "two parameters produce the same output key"),
    Rule("FG401", E, "an Action needs exactly one of ActionUrl and Handler"),
    Rule("FG402", E, "an Action needs Parameters or InputPath"),
    Rule("FG403", E, "a Wait needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath"),
    Rule("FG404", E, "a timestamp is not RFC 3339"),
    Rule("FG405", E, "a Fail state sets a field both literally and by path"),
    Rule("FG406", E, "a Choice rule is not one data test or one of And/Or/Not"),
    Rule("FG501", E, "a retired Transfer provider URL on actions[.automate].globus.org/transfer"),
    Rule("FG502", E, "a retired or wrong parameter name for a Transfer action provider"),
    Rule("FG503", E, "a Transfer action provider is missing a required parameter"),
    Rule("FG504", W, "not a known Transfer action provider"),
    Rule("FG505", W, "an automate-era actions.automate.globus.org provider URL"),
    Rule("FG601", E, "a template placeholder was left in the document"),
    Rule("FG602", E, "a principal is not valid for its role"),
    Rule("FG603", W, "an upper-case word stands where an id, path or label goes (a placeholder?)"),
    Rule("FG701", E, "the input schema is not a valid draft-07 JSON Schema"),
    Rule("FG702", E, "a globus-collection object must define id and path properties"),
    Rule("FG703", W, "propertyOrder names a property that is not defined"),
    Rule("FG704", E, "required names a property that additionalProperties: false forbids"),
    Rule("FG705", W, "the input schema declares a $schema other than draft-07"),
)

RULES: Mapping[str, Rule] = MappingProxyType({rule.code: rule for rule in _TABLE})
"""Every finding code, in code order: code -> :class:`Rule`."""


@dataclass
class Reporter:
    """Collects findings for one document, filling in file and severity from the code."""

    file: str = ""
    findings: list[Finding] = field(default_factory=list)

    def add(self, code: str, steps: Sequence[Token], message: str) -> None:
        """Record a finding at the location ``steps`` (JSONPath steps into the document)."""
        self.findings.append(
            Finding(self.file, format_path(steps), code, RULES[code].severity, message)
        )


def finalize(findings: list[Finding]) -> list[Finding]:
    """Findings de-duplicated and in their stable order."""
    return sorted(set(findings))
