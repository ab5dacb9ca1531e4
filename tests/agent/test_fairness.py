"""The fair-admission rule (hpc_agent/loop/fairness.py): order, limits, and its invariants."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from hpc_agent.loop.fairness import Limits, Upload, Usage, is_running, plan, usage_of
from hpc_agent.loop.state import ADMITTED, FINALIZING, SUBMITTED, JobRecord

USERS = ("alice", "bob", "carol", "dave", "unknown")


def burst(user: str, count: int, start: float = 0.0) -> list[Upload]:
    return [Upload(f"{user}{i:03d}", user, start + i) for i in range(count)]


def test_round_robin_gives_each_user_a_turn_before_anyone_gets_a_second() -> None:
    uploads = burst("alice", 50) + burst("bob", 2, 100.0) + burst("carol", 1, 200.0)
    decided = plan(uploads, {}, Limits(max_active=5))
    assert [u.uow for u in decided.admit] == [
        "alice000",
        "bob000",
        "carol000",
        "alice001",
        "bob001",
    ]
    assert {h.limit for h in decided.held} == {"max_active"}
    assert len(decided.held) == 48
    assert decided.held[0].reason == (
        "the instance has 5 of 5 Units of Work queued or running (max_active)"
    )


def test_the_user_who_holds_least_goes_first_in_each_round() -> None:
    uploads = burst("alice", 3) + burst("bob", 3, 50.0)
    usage = {"alice": Usage(running=2, active=2)}
    assert [u.uow for u in plan(uploads, usage, Limits(max_active=3)).admit] == ["bob000"]
    decided = plan(uploads, usage, Limits(max_active=5))
    assert [u.uow for u in decided.admit] == ["bob000", "alice000", "bob001"]


def test_a_user_at_the_limit_waits_and_the_others_go_on() -> None:
    uploads = burst("alice", 50) + burst("bob", 3) + burst("carol", 1)
    decided = plan(uploads, {"alice": Usage(2, 2)}, Limits(max_running_per_user=2))
    assert sorted(u.uow for u in decided.admit) == ["bob000", "bob001", "carol000"]
    assert {h.uow for h in decided.held} == {f"alice{i:03d}" for i in range(50)} | {"bob002"}
    assert decided.held[0].reason == "alice has 2 of 2 running (max_running_per_user)"


def test_active_limit_counts_what_the_plan_admits() -> None:
    decided = plan(burst("alice", 50), {"alice": Usage(0, 1)}, Limits(max_active_per_user=3))
    assert [u.uow for u in decided.admit] == ["alice000", "alice001"]
    assert decided.held[0].reason == "alice has 3 of 3 queued or running (max_active_per_user)"


def test_bytes_limit_and_one_big_upload_is_admitted_alone() -> None:
    sizes = {"alice000": 600, "alice001": 600, "bob000": 5000, "bob001": 1}
    uploads = burst("alice", 2) + burst("bob", 2)
    decided = plan(uploads, {}, Limits(max_uow_bytes_per_user=1000), size_of=sizes.__getitem__)
    assert [u.uow for u in decided.admit] == ["alice000", "bob000"]
    assert {h.uow: h.limit for h in decided.held} == {
        "alice001": "max_uow_bytes_per_user",
        "bob001": "max_uow_bytes_per_user",
    }
    assert decided.sizes == {"alice000": 600, "alice001": 600, "bob000": 5000, "bob001": 1}


def test_no_limits_admits_everything() -> None:
    uploads = burst("alice", 5) + burst("bob", 5)
    decided = plan(uploads, {"alice": Usage(100, 100, 10**12)}, Limits())
    assert len(decided.admit) == 10 and not decided.held and not decided.sizes


def test_usage_counts_active_running_and_bytes() -> None:
    def record(uow: str, user: str, phase: str, **kw: object) -> JobRecord:
        return JobRecord(uow=uow, user=user, phase=phase, **kw)  # type: ignore[arg-type]

    records = [
        record("a1", "alice", SUBMITTED, job_id="1", uow_bytes=10),
        record("a2", "alice", SUBMITTED, job_id="2", uow_bytes=20),
        record("a3", "alice", ADMITTED),
        record("a4", "alice", FINALIZING, outcome="succeeded", uow_bytes=5),
        record("b1", "bob", SUBMITTED, job_id="3"),
        record("c1", "carol", FINALIZING, outcome="failed"),
    ]
    states = {"a1": "RUNNING", "a2": "PENDING"}  # b1: not in the answer, so maybe running
    usage = usage_of(records, states)
    assert usage == {"alice": Usage(running=2, active=3, bytes=35), "bob": Usage(1, 1, 0)}
    assert not is_running(records[1], states)


uploads_strategy = st.lists(
    st.tuples(st.sampled_from(USERS), st.integers(0, 1000)), max_size=60
).map(
    lambda items: [
        Upload(f"{user}-{i:03d}", user, float(ready)) for i, (user, ready) in enumerate(items)
    ]
)
usage_strategy = st.dictionaries(
    st.sampled_from(USERS),
    st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(0, 3000)).map(
        lambda t: Usage(running=min(t[0], t[1]), active=t[1], bytes=t[2])
    ),
)
limits_strategy = st.builds(
    Limits,
    max_running_per_user=st.integers(0, 5),
    max_active_per_user=st.integers(0, 5),
    max_active=st.integers(0, 30),
    max_uow_bytes_per_user=st.sampled_from([0, 500, 2000]),
)


@settings(max_examples=300, deadline=None)
@given(uploads_strategy, usage_strategy, limits_strategy)
def test_plan_invariants(uploads: list[Upload], usage: dict[str, Usage], limits: Limits) -> None:
    def size_of(name: str) -> int:
        return (sum(map(ord, name)) * 37) % 900

    decided = plan(uploads, usage, limits, size_of=size_of)
    admitted = [u.uow for u in decided.admit]
    held = [h.uow for h in decided.held]
    # Nothing lost, nothing duplicated.
    assert Counter(admitted + held) == Counter(u.uow for u in uploads)
    # Never reordered within a user: admitted ones are each user's oldest, in order.
    for user in USERS:
        mine = sorted((u for u in uploads if u.user == user), key=lambda u: (u.ready_at, u.uow))
        taken = [u.uow for u in decided.admit if u.user == user]
        assert taken == [u.uow for u in mine[: len(taken)]]
    # The limits hold after the plan.
    counts = Counter(u.user for u in decided.admit)
    total = sum(h.active for h in usage.values())
    if limits.max_active:
        assert total + len(admitted) <= max(total, limits.max_active)
    for user, n in counts.items():
        have = usage.get(user, Usage())
        if limits.max_active_per_user:
            assert have.active + n <= max(have.active, limits.max_active_per_user)
        if limits.max_running_per_user:
            assert have.running + n <= max(have.running, limits.max_running_per_user)
        if limits.max_uow_bytes_per_user:
            need = sum(size_of(u.uow) for u in decided.admit if u.user == user)
            assert have.bytes + need <= limits.max_uow_bytes_per_user or (
                have.bytes == 0 and n == 1
            )
    # Every user gets a turn: while one waiting user got nothing and is held only by the
    # instance limit, no other user got more than one (round-robin), beyond what they
    # already held less than this user.
    for hold in decided.held:
        if hold.limit == "max_active" and counts[hold.user] == 0:
            least = usage.get(hold.user, Usage()).active
            for user, n in counts.items():
                assert n <= 1 or usage.get(user, Usage()).active + n - 1 <= least
    # Without any limit, everything is admitted.
    if not limits.any:
        assert not held
