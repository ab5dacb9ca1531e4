"""The documentation stays true: every exit code is listed, README commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from flowgen.core.exitcodes import ExitCode

ROOT = Path(__file__).resolve().parents[1]


def test_exit_code_table_lists_every_code() -> None:
    table = (ROOT / "docs" / "exit-codes.md").read_text()
    rows = dict(re.findall(r"^\| (\d+) \| ([A-Z_]+) \|", table, re.MULTILINE))
    assert rows == {str(int(code)): code.name for code in ExitCode}


def test_readme_names_the_make_targets_that_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", makefile, re.MULTILINE))
    for target in re.findall(r"`make ([a-z-]+)`", readme):
        assert target in targets, f"README mentions make {target}, which the Makefile lacks"
    assert "make test" in readme


def test_readme_python_examples_run_and_build_valid_flows(capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from flowgen.validate import validate_definition

    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
        definition = json.loads(capsys.readouterr().out)
        assert validate_definition(definition) == []


def test_validation_doc_lists_every_finding_code() -> None:
    from flowgen.validate import RULES

    table = (ROOT / "docs" / "validation.md").read_text()
    rows = dict(re.findall(r"^\| (FG\d+) \| (error|warning) \|", table, re.MULTILINE))
    assert rows == {code: rule.severity.value for code, rule in RULES.items()}


def test_every_module_the_architecture_page_names_exists() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"\b((?:hpc_agent|flowgen)/[\w/]*\w\.py)\b", page))
    assert len(named) > 30, "the architecture page's module table was not found"
    missing = sorted(path for path in named if not (ROOT / path).is_file())
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"


def test_readme_links_the_contributor_pages() -> None:
    readme = (ROOT / "README.md").read_text()
    for page in ("CONTRIBUTING.md", "docs/architecture.md"):
        assert f"]({page})" in readme, f"README.md does not link {page}"
        assert (ROOT / page).is_file()
