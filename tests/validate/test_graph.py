"""Stage 2, the state graph."""

from __future__ import annotations

from typing import Any

from flowgen.validate.graph import strongly_connected

from .helpers import action, check, codes, flow, located, message, pass_state

FAIL = {"Type": "Fail", "Error": "Stopped", "Cause": "test"}


def test_start_at_must_name_a_state() -> None:
    findings = check(flow(("Begin", pass_state()), start="Bgin"))
    assert ("FG201", "$.StartAt") in located(findings)
    assert "did you mean 'Begin'" in message(findings, "FG201")
    assert "FG201" not in codes(check(flow(("Begin", pass_state()))))


def test_every_target_must_exist() -> None:
    choice = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "Missing1"}],
        "Default": "Missing2",
    }
    bad = flow(
        (
            "Upload",
            action(
                End=None,
                Next="Pick",
                Catch=[{"ErrorEquals": ["x"], "ResultPath": "$.e", "Next": "Gone"}],
            ),
        ),
        ("Pick", choice),
    )
    bad["States"]["Upload"].pop("End")
    assert {
        ("FG202", "$.States.Pick.Choices[0].Next"),
        ("FG202", "$.States.Pick.Default"),
        ("FG202", "$.States['Upload'].Catch[0].Next".replace("['Upload']", ".Upload")),
    } <= located(check(bad))
    good = flow(
        (
            "Upload",
            action(
                Next="Pick", Catch=[{"ErrorEquals": ["x"], "ResultPath": "$.e", "Next": "Stop"}]
            ),
        ),
        (
            "Pick",
            choice
            | {
                "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "Stop"}],
                "Default": "Done",
            },
        ),
        ("Stop", FAIL),
        ("Done", pass_state()),
    )
    good["States"]["Upload"].pop("End")
    assert check(good) == []


def test_state_names_with_spaces_are_located_in_brackets() -> None:
    bad = flow(("Upload data", pass_state(End=None, Next="Nowhere")))
    bad["States"]["Upload data"].pop("End")
    assert ("FG202", "$.States['Upload data'].Next") in located(check(bad))


def test_unreachable_state_is_a_warning() -> None:
    findings = check(flow(("A", pass_state()), ("Orphan", pass_state())))
    assert located(findings) == {("FG203", "$.States.Orphan")}
    assert findings[0].severity.value == "warning"
    linked = flow(("A", {"Type": "Pass", "Next": "Orphan"}), ("Orphan", pass_state()))
    assert check(linked) == []


def test_no_reachable_terminal_state() -> None:
    loop = flow(("A", {"Type": "Pass", "Next": "B"}), ("B", {"Type": "Pass", "Next": "A"}))
    findings = check(loop)
    assert ("FG204", "$.States") in located(findings)
    assert "can ever end" in message(findings, "FG204")
    ends = flow(("A", {"Type": "Pass", "Next": "B"}), ("B", {"Type": "Pass", "End": True}))
    assert check(ends) == []


def test_a_terminal_only_in_an_unreachable_state_does_not_count() -> None:
    definition = flow(("A", {"Type": "Pass", "Next": "A"}), ("Island", pass_state()))
    assert "FG204" in codes(check(definition))


def test_next_and_end_both_or_neither() -> None:
    both = check(flow(("A", pass_state(Next="A"))))
    assert ("FG205", "$.States.A") in located(both)
    assert "both Next" in message(both, "FG205")
    neither = check(flow(("A", {"Type": "Pass"})))
    assert ("FG205", "$.States.A") in located(neither)
    assert '"End": true' in message(neither, "FG205")
    assert check(flow(("A", pass_state()))) == []


def test_end_must_be_true() -> None:
    findings = check(flow(("A", {"Type": "Pass", "End": False, "Next": "B"}), ("B", pass_state())))
    assert located(findings) == {("FG206", "$.States.A.End")}
    assert check(flow(("A", {"Type": "Pass", "Next": "B"}), ("B", pass_state()))) == []


def _poll(choice_default: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    check_state = action(End=None, Next="Done?")
    check_state.pop("End")
    choice: dict[str, Any] = {
        "Type": "Choice",
        "Choices": [
            {"Variable": "$.Stat.details.code", "StringEquals": "NotFound", "Next": "Pause"}
        ],
        "Default": choice_default,
    }
    states = [
        ("Pause", {"Type": "Wait", "Seconds": 60, "Next": "Check"}),
        ("Check", check_state),
        ("Done?", choice),
        ("Finished", pass_state()),
    ]
    definition = flow(*states)
    definition["States"].update(extra or {})
    return definition


def test_a_wait_loop_without_exit_is_an_error() -> None:
    findings = check(_poll("Pause"))
    assert ("FG207", "$.States.Pause") in located(findings)
    text = message(findings, "FG207")
    assert "'Pause', 'Check', 'Done?'" in text and "leaves the loop" in text


def test_a_wait_loop_with_an_exit_is_fine() -> None:
    assert "FG207" not in codes(check(_poll("Finished")))


def test_a_catch_out_of_the_loop_counts_as_an_exit() -> None:
    definition = _poll("Pause")
    definition["States"]["Check"]["Catch"] = [
        {"ErrorEquals": ["ActionTimeout"], "ResultPath": "$.e", "Next": "Finished"}
    ]
    assert "FG207" not in codes(check(definition))


def test_a_loop_without_a_wait_is_not_a_wait_loop() -> None:
    loop = flow(("A", {"Type": "Pass", "Next": "A"}))
    assert "FG207" not in codes(check(loop))


def test_a_self_loop_on_a_wait_is_found() -> None:
    loop = flow(("Sleep", {"Type": "Wait", "Seconds": 5, "Next": "Sleep"}))
    assert ("FG207", "$.States.Sleep") in located(check(loop))


def test_strongly_connected_components() -> None:
    graph = {"a": ["b"], "b": ["c", "a"], "c": ["d"], "d": ["c"], "e": []}
    components = sorted(sorted(c) for c in strongly_connected(graph))
    assert components == [["a", "b"], ["c", "d"], ["e"]]


def test_graph_checks_survive_malformed_states() -> None:
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": "oops"}}
    findings = check(definition)
    # The shape problem is reported; the graph is not second-guessed.
    assert ("FG101", "$.States.B") in located(findings)
    assert "FG204" not in codes(findings)
