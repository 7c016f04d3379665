"""What every talent-card store does (talent_card.ports.Store), whatever keeps it: ONE suite for the in-memory
fake (tests/unit/talent_card/test_store_contract.py) and the PostgreSQL store on a throw-away schema
(tests/integration/talent_card/test_store_contract.py). Each of them imports these tests and provides the
fixtures `store` (a store on one fresh unit of work) and `reads` (what the audit of reads holds)."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from plan_events import EligibilityRoute, GreenCardEligible
from plan_runtime.errors import Conflict, Invalid
from talent_card.domain import (
    Determination,
    Evidence,
    EvidenceKind,
    EvidenceStatus,
    NoticeFilter,
    NoticeStatus,
    PlanProgress,
    Talent,
    announce,
)
from talent_card.ports import Store

Reads = Callable[[], Awaitable[list[tuple[str, str, str]]]]
"""(actor, route, person_id) of every audited read, in any order."""


def determination(
    person_id: str, route: EligibilityRoute = EligibilityRoute.INTRODUCED, eligible: bool = True
) -> Determination:
    return Determination(person_id, route, f"{route}-rule", "1", eligible, ("2,000,000 followers",), "eligible: …")


def evidence(kind: EvidenceKind = EvidenceKind.FOLLOWERS, status: EvidenceStatus = EvidenceStatus.DECLARED) -> Evidence:
    return Evidence(uuid.uuid4(), kind, status, 2_000_000, None, "Douyin", None)


def someone() -> str:
    return f"person-{uuid.uuid4().hex[:10]}"


async def a_talent(store: Store, key: str | None = None) -> Talent:
    talent_id, person_id = uuid.uuid4(), someone()
    assert await store.add_talent(talent_id, person_id, "130102********0014", "Cashmere Queen", "office:zhou", key)
    found = await store.talent(talent_id)
    assert found is not None
    return found


# --- plan route ------------------------------------------------------------------------------------------------


async def test_plan_progress_gathers_the_completion_and_the_approval_in_either_order(store: Store) -> None:
    first, second, subsidy = someone(), someone(), uuid.uuid4()
    on = date(2020, 11, 2)
    assert await store.senior_completed(first, on) == PlanProgress(first, on, None)
    assert await store.senior_subsidy_approved(first, subsidy) == PlanProgress(first, on, subsidy)
    assert await store.senior_subsidy_approved(second, subsidy) == PlanProgress(second, None, subsidy)
    assert await store.senior_completed(second, on) == PlanProgress(second, on, subsidy)


async def test_a_reversed_subsidy_does_not_count_whether_the_reversal_comes_before_or_after_the_approval(
    store: Store,
) -> None:
    early, late, subsidy, other = someone(), someone(), uuid.uuid4(), uuid.uuid4()
    assert await store.senior_subsidy_reversed(early, subsidy) == PlanProgress(early, None, None)
    assert await store.senior_subsidy_approved(early, subsidy) == PlanProgress(early, None, None)
    assert await store.senior_subsidy_approved(early, other) == PlanProgress(early, None, other)  # a new approval

    await store.senior_subsidy_approved(late, subsidy)
    assert await store.senior_subsidy_reversed(late, other) == PlanProgress(late, None, subsidy)  # not this one
    assert await store.senior_subsidy_reversed(late, subsidy) == PlanProgress(late, None, None)


# --- introduced route ------------------------------------------------------------------------------------------


async def test_a_talent_is_registered_once_per_person_and_read_back_typed(store: Store) -> None:
    talent = await a_talent(store, key="reg-1")
    assert (talent.id_masked, talent.display_name, talent.created_by) == (
        "130102********0014",
        "Cashmere Queen",
        "office:zhou",
    )
    assert talent.registration_key == "reg-1" and isinstance(talent.created_at, datetime)
    assert not await store.add_talent(uuid.uuid4(), talent.person_id, "x", "Again", "office:zhou")
    assert not await store.add_talent(uuid.uuid4(), talent.person_id, "x", "Again", "office:zhou", "reg-2")
    assert await store.talent(uuid.uuid4()) is None


async def test_an_idempotency_key_finds_its_registration_and_names_no_other_persons(store: Store) -> None:
    talent = await a_talent(store, key="reg-key")
    assert await store.talent_registered_with("reg-key", talent.person_id) == talent.id
    assert await store.talent_registered_with("reg-key", someone()) is None
    assert await store.talent_registered_with("other-key", talent.person_id) is None
    with pytest.raises(Invalid) as refused:
        await store.add_talent(uuid.uuid4(), someone(), "x", "Other", "office:zhou", "reg-key")
    assert (refused.value.code, refused.value.field) == ("idempotency_key_reused", "Idempotency-Key")
    assert await store.talent(talent.id) == talent  # the refusal left the store usable


async def test_evidence_is_declared_then_verified_or_rejected_for_its_own_talent_only(store: Store) -> None:
    talent, other = await a_talent(store), await a_talent(store)
    followers = evidence(status=EvidenceStatus.VERIFIED)  # whatever it says, it arrives declared
    presence = evidence(EvidenceKind.LOCAL_PRESENCE)
    await store.add_evidence(talent.id, followers)
    await store.add_evidence(talent.id, presence)
    stored = {e.id: e for e in await store.evidence_of(talent.id)}
    assert stored == {
        followers.id: Evidence(
            followers.id, EvidenceKind.FOLLOWERS, EvidenceStatus.DECLARED, 2_000_000, None, "Douyin"
        ),
        presence.id: Evidence(
            presence.id, EvidenceKind.LOCAL_PRESENCE, EvidenceStatus.DECLARED, 2_000_000, None, "Douyin"
        ),
    }
    assert await store.decide_evidence(talent.id, followers.id, EvidenceStatus.VERIFIED, "office:zhou", "checked")
    assert await store.decide_evidence(talent.id, presence.id, EvidenceStatus.REJECTED, "office:zhou", None)
    assert not await store.decide_evidence(other.id, followers.id, EvidenceStatus.REJECTED, "office:zhou", None)
    assert not await store.decide_evidence(talent.id, uuid.uuid4(), EvidenceStatus.VERIFIED, "office:zhou", None)
    statuses = {e.id: e.status for e in await store.evidence_of(talent.id)}
    assert statuses == {followers.id: EvidenceStatus.VERIFIED, presence.id: EvidenceStatus.REJECTED}
    assert await store.evidence_of(other.id) == []


# --- determinations and notices --------------------------------------------------------------------------------


async def test_determinations_are_recorded_and_read_back_oldest_first(store: Store) -> None:
    person_id = someone()
    await store.record(determination(person_id, EligibilityRoute.PLAN, eligible=False))
    await store.record(determination(person_id, EligibilityRoute.PLAN))
    await store.record(determination(someone()))
    found = await store.determinations(person_id)
    assert [(d.route, d.eligible) for d in found] == [(EligibilityRoute.PLAN, False), (EligibilityRoute.PLAN, True)]
    assert found[0].id < found[1].id and found[1].evidence == ["2,000,000 followers"]
    assert (found[1].rule_id, found[1].rule_version, found[1].explanation) == ("plan-rule", "1", "eligible: …")
    assert await store.determinations(someone()) == []


async def test_a_person_gets_one_notice_whichever_route_opens_it(store: Store) -> None:
    person_id, notice_id = someone(), uuid.uuid4()
    assert await store.open_notice(notice_id, determination(person_id), "130102********0014")
    assert not await store.open_notice(uuid.uuid4(), determination(person_id, EligibilityRoute.PLAN), None)
    notice = await store.notice(notice_id, lock=True)
    assert notice is not None and notice.status == NoticeStatus.WAITING
    assert (notice.person_id, notice.route, notice.id_masked) == (
        person_id,
        EligibilityRoute.INTRODUCED,
        "130102********0014",
    )
    assert notice.evidence == ["2,000,000 followers"] and notice.card_number is None and notice.decided_at is None
    assert await store.notice(uuid.uuid4()) is None


async def test_notices_are_filtered_by_status_route_and_day_and_paged(store: Store) -> None:
    plan, introduced = uuid.uuid4(), uuid.uuid4()
    await store.open_notice(plan, determination(someone(), EligibilityRoute.PLAN), None)
    await store.open_notice(introduced, determination(someone()), "masked")
    await store.acknowledge(introduced, "office:zhou")
    mine = {plan, introduced}

    async def ids(which: NoticeFilter, limit: int = 1000, offset: int = 0) -> set[uuid.UUID]:
        return {n.id for n in await store.notices(which, limit, offset)} & mine

    today = (await store.notice(plan) or pytest.fail()).created_at.date()
    assert await ids(NoticeFilter()) == mine
    assert await ids(NoticeFilter(status=NoticeStatus.WAITING)) == {plan}
    assert await ids(NoticeFilter(route=EligibilityRoute.INTRODUCED)) == {introduced}
    assert await ids(NoticeFilter(NoticeStatus.WAITING, EligibilityRoute.INTRODUCED)) == set()
    assert await ids(NoticeFilter(created_from=today, created_to=today)) == mine
    assert await ids(NoticeFilter(created_from=today + timedelta(days=1))) == set()
    assert await ids(NoticeFilter(created_to=today - timedelta(days=1))) == set()
    everything = await store.notices(NoticeFilter(), 1000, 0)
    assert [n.id for n in await store.notices(NoticeFilter(), 1, 1)] == [everything[1].id]
    assert everything == sorted(everything, key=lambda n: (n.created_at, n.id))


async def test_a_notice_is_acknowledged_then_issued_with_a_card_no_other_notice_has(store: Store) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    await store.open_notice(first, determination(someone()), None)
    await store.open_notice(second, determination(someone()), None)
    card = f"SJZ-GC-{uuid.uuid4().hex[:8]}"
    await store.acknowledge(first, "office:zhou")
    acknowledged = await store.notice(first)
    assert acknowledged is not None and acknowledged.status == NoticeStatus.ACKNOWLEDGED
    assert acknowledged.acknowledged_by == "office:zhou" and acknowledged.acknowledged_at is not None
    await store.decide(first, NoticeStatus.ISSUED, "office:li", card, None)
    with pytest.raises(Conflict) as refused:
        await store.decide(second, NoticeStatus.ISSUED, "office:li", card, None)
    assert (refused.value.code, refused.value.field) == ("card_number_in_use", "card_number")
    await store.decide(second, NoticeStatus.DECLINED, "office:li", None, "moved away")  # the store is still usable
    issued, declined = await store.notice(first), await store.notice(second)
    assert issued is not None and (issued.status, issued.card_number, issued.decided_by) == (
        NoticeStatus.ISSUED,
        card,
        "office:li",
    )
    assert declined is not None and (declined.status, declined.decline_reason, declined.card_number) == (
        NoticeStatus.DECLINED,
        "moved away",
        None,
    )
    assert declined.decided_at is not None and declined.acknowledged_at is None


async def test_notices_are_counted_by_route_and_status(store: Store) -> None:
    before = {(c.route, c.status): c.count for c in await store.notice_counts()}
    acknowledged = uuid.uuid4()
    await store.open_notice(uuid.uuid4(), determination(someone(), EligibilityRoute.PLAN), None)
    await store.open_notice(uuid.uuid4(), determination(someone(), EligibilityRoute.PLAN), None)
    await store.open_notice(acknowledged, determination(someone()), None)
    await store.acknowledge(acknowledged, "office:zhou")
    counts = await store.notice_counts()
    after = {(c.route, c.status): c.count for c in counts}
    assert (
        after[EligibilityRoute.PLAN, NoticeStatus.WAITING]
        == before.get((EligibilityRoute.PLAN, NoticeStatus.WAITING), 0) + 2
    )
    assert after[EligibilityRoute.INTRODUCED, NoticeStatus.ACKNOWLEDGED] == (
        before.get((EligibilityRoute.INTRODUCED, NoticeStatus.ACKNOWLEDGED), 0) + 1
    )
    assert [(c.route, c.status) for c in counts] == sorted((c.route, c.status) for c in counts)


async def test_reads_are_audited_once_per_distinct_person(store: Store, reads: Reads) -> None:
    first, second = someone(), someone()
    await store.record_reads("office:zhou", "GET /notices", [first, second, first])
    await store.record_reads("office:zhou", "GET /notices", [])
    audited = [r for r in await reads() if r[2] in (first, second)]
    assert sorted(audited) == sorted([("office:zhou", "GET /notices", first), ("office:zhou", "GET /notices", second)])


async def test_what_is_published_waits_in_the_unit_of_work(store: Store) -> None:
    person_id = someone()
    event = announce(determination(person_id), uuid.uuid4(), datetime.now(UTC), None)
    store.publish(event)
    published: list[GreenCardEligible] = store.published  # type: ignore[attr-defined]
    assert published == [event]
