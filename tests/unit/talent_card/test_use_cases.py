"""Every use case of the talent-card service on the in-memory store: no broker, no database.

The real-database tests (tests/integration/talent_card) stay; these say the same rules fast, and the store
contract (tests/support/contracts/talent_card_store.py) keeps the fake honest."""

import uuid
from typing import Any

import pytest

from plan_events import EligibilityRoute, GreenCardEligible, SubsidyApproved, SubsidyReversed, Tier
from plan_events.identity import pseudonymise
from plan_runtime.errors import Conflict, DomainError, Invalid, NotFound
from talent_card import handlers
from talent_card.domain import Evaluation, Evidence, EvidenceKind, EvidenceStatus, NoticeFilter, NoticeStatus
from talent_card.rules import load_rules
from tests.fakes.talent_card import FakeTalentCardStore
from tests.support.people import id_number
from tests.support.plan import approval, completion, enrolment, person

RULES = load_rules()
PII_KEY = b"test-hmac-key"
OFFICER = "talent-office:officer-zhou"


@pytest.fixture
def store() -> FakeTalentCardStore:
    return FakeTalentCardStore()


def notices(store: FakeTalentCardStore) -> list[GreenCardEligible]:
    return [e for e in store.published if isinstance(e, GreenCardEligible)]


def reversal(paid: SubsidyApproved) -> SubsidyReversed:
    return SubsidyReversed.create(
        source="funding",
        subject=paid.trainee_id,
        occurred_at=paid.occurred_at,
        subsidy_id=paid.subsidy_id,
        trainee_id=paid.trainee_id,
        institution_id=paid.institution_id,
        tier=paid.tier,
        amount_yuan=5000,
        reason="trainee did not attend",
    )


def declared(kind: EvidenceKind, **fields: Any) -> Evidence:
    return Evidence(uuid.uuid4(), kind, EvidenceStatus.DECLARED, **fields)


def influence(followers: int = 2_000_000) -> list[Evidence]:
    return [
        declared(EvidenceKind.FOLLOWERS, platform="Douyin", value=followers),
        declared(EvidenceKind.LOCAL_PRESENCE, detail="runs a cashmere live room in Shijiazhuang"),
    ]


async def registered(store: FakeTalentCardStore, followers: int = 2_000_000, key: str | None = None) -> Evaluation:
    return await handlers.register_talent(
        store, id_number(), "Cashmere Queen", influence(followers), PII_KEY, RULES, OFFICER, key
    )


async def verified(store: FakeTalentCardStore, talent: Evaluation) -> Evaluation:
    answer = talent
    for item in talent.evidence:
        answer = await handlers.decide_evidence(store, talent.talent.id, item.id, True, OFFICER, "checked", RULES)
    return answer


async def eligible_notice(store: FakeTalentCardStore) -> uuid.UUID:
    notice_id = (await verified(store, await registered(store))).notice_id
    assert notice_id is not None
    return notice_id


# --- the plan route, from events -------------------------------------------------------------------------------


@pytest.mark.parametrize("subsidy_first", [False, True], ids=["completion-first", "subsidy-first"])
async def test_a_senior_completion_and_its_subsidy_announce_one_notice_in_either_order(
    store: FakeTalentCardStore, subsidy_first: bool
) -> None:
    senior = person("senior-host")
    done = completion(enrolment(senior, tier=Tier.SENIOR))
    paid = approval(done)
    steps = [
        (handlers.on_subsidy_approved, paid),
        (handlers.on_tier_completed, done),
    ]
    for handler, event in (steps if subsidy_first else steps[::-1]) * 2:  # redelivered too
        await handler(store, event, rules=RULES)  # type: ignore[operator]

    [notice] = notices(store)
    last = steps[0][1] if not subsidy_first else steps[1][1]
    assert (notice.person_id, notice.route, notice.rule_id, notice.rule_version) == (
        senior,
        EligibilityRoute.PLAN,
        "plan-senior-talent",
        "1",
    )
    assert notice.causation_id == last.event_id and notice.correlation_id == last.correlation_id
    assert any("senior subsidy" in e for e in notice.evidence)
    why = await handlers.why(store, senior, OFFICER)
    assert [d.eligible for d in why] == [False, True, True, True]
    stored = await store.notice(notice.notice_id)
    assert stored is not None and stored.status == NoticeStatus.WAITING and stored.id_masked is None


async def test_only_a_passed_senior_course_and_a_senior_subsidy_count(store: FakeTalentCardStore) -> None:
    professional = completion(enrolment(person(), tier=Tier.PROFESSIONAL))
    failed = completion(enrolment(person(), tier=Tier.SENIOR), passed=False)
    await handlers.on_tier_completed(store, professional, rules=RULES)
    await handlers.on_tier_completed(store, failed, rules=RULES)
    await handlers.on_subsidy_approved(store, approval(professional), rules=RULES)
    await handlers.on_subsidy_reversed(store, reversal(approval(professional)), rules=RULES)
    assert store.published == []
    for someone in (professional.trainee_id, failed.trainee_id):
        with pytest.raises(NotFound) as unknown:
            await handlers.why(store, someone, OFFICER)
        assert (unknown.value.code, unknown.value.field) == ("person_not_found", "person_id")
    assert store.reads == []  # a refused read audits nobody


async def test_a_reversed_senior_subsidy_does_not_count_even_when_the_reversal_arrives_first(
    store: FakeTalentCardStore,
) -> None:
    senior = person("reversed-senior")
    done = completion(enrolment(senior, tier=Tier.SENIOR))
    paid = approval(done)
    await handlers.on_subsidy_reversed(store, reversal(paid), rules=RULES)
    await handlers.on_subsidy_approved(store, paid, rules=RULES)
    await handlers.on_tier_completed(store, done, rules=RULES)
    why = await handlers.why(store, senior, OFFICER)
    assert notices(store) == [] and len(why) == 3
    assert not why[-1].eligible and "waiting for the approved subsidy" in why[-1].explanation


async def test_a_reversal_after_the_notice_records_a_determination_and_leaves_the_notice(
    store: FakeTalentCardStore,
) -> None:
    senior = person()
    done = completion(enrolment(senior, tier=Tier.SENIOR))
    paid = approval(done)
    await handlers.on_tier_completed(store, done, rules=RULES)
    await handlers.on_subsidy_approved(store, paid, rules=RULES)
    await handlers.on_subsidy_reversed(store, reversal(paid), rules=RULES)
    [notice] = notices(store)
    assert not (await handlers.why(store, senior, OFFICER))[-1].eligible
    assert await store.notice(notice.notice_id) is not None


# --- introduced talents ----------------------------------------------------------------------------------------


async def test_a_talent_is_registered_with_declared_evidence_and_not_yet_eligible(store: FakeTalentCardStore) -> None:
    number = id_number()
    talent = await handlers.register_talent(store, number, "Cashmere Queen", influence(), PII_KEY, RULES, OFFICER)
    person = pseudonymise(number, PII_KEY)
    assert (talent.talent.person_id, talent.talent.id_masked) == (person.trainee_id, person.masked)
    assert talent.talent.created_by == OFFICER and talent.talent.registration_key is None
    assert {e.status for e in talent.evidence} == {EvidenceStatus.DECLARED}
    assert talent.recorded and talent.notice_id is None and not talent.determination.eligible
    assert "no verified influence" in talent.determination.explanation
    assert store.published == []


async def test_a_person_in_any_spelling_is_registered_once(store: FakeTalentCardStore) -> None:
    number = id_number()
    await handlers.register_talent(store, number, "Cashmere Queen", [], PII_KEY, RULES, OFFICER)
    arabic_indic = number.translate(str.maketrans("0123456789X", "٠١٢٣٤٥٦٧٨٩x"))
    with pytest.raises(Conflict) as again:
        await handlers.register_talent(store, arabic_indic, "Again", [], PII_KEY, RULES, OFFICER)
    assert (again.value.code, again.value.field) == ("talent_exists", "id_number")


async def test_a_registration_retried_with_its_idempotency_key_gets_the_same_talent(
    store: FakeTalentCardStore,
) -> None:
    number = id_number()

    async def register(key: str | None) -> Evaluation:
        return await handlers.register_talent(store, number, "Cashmere Queen", [], PII_KEY, RULES, OFFICER, key)

    first = await register("reg-1")
    assert (await register("reg-1")).talent == first.talent
    for other in ("reg-2", None):
        with pytest.raises(Conflict, match="already registered"):
            await register(other)
    with pytest.raises(Invalid) as reused:  # the key of another person's registration
        await handlers.register_talent(store, id_number(), "Other", [], PII_KEY, RULES, OFFICER, "reg-1")
    assert (reused.value.code, reused.value.field) == ("idempotency_key_reused", "Idempotency-Key")


async def test_verified_evidence_over_the_threshold_opens_one_introduced_notice(store: FakeTalentCardStore) -> None:
    big = await verified(store, await registered(store, followers=2_000_000))
    small = await verified(store, await registered(store, followers=300_000))
    assert big.determination.eligible and big.notice_id is not None
    assert "2,000,000 followers on Douyin (verified" in big.determination.explanation
    assert not small.determination.eligible and small.notice_id is None
    [notice] = notices(store)
    assert (notice.notice_id, notice.person_id, notice.route) == (
        big.notice_id,
        big.talent.person_id,
        EligibilityRoute.INTRODUCED,
    )
    stored = await store.notice(notice.notice_id)
    assert stored is not None and stored.id_masked == big.talent.id_masked
    again = await handlers.evaluate(store, big.talent.id, RULES)
    assert again.determination.eligible and again.notice_id is None and len(notices(store)) == 1


async def test_rejected_evidence_does_not_count(store: FakeTalentCardStore) -> None:
    talent = await registered(store)
    followers, presence = talent.evidence
    await handlers.decide_evidence(store, talent.talent.id, presence.id, True, OFFICER, None, RULES)
    rejected = await handlers.decide_evidence(store, talent.talent.id, followers.id, False, OFFICER, "fake", RULES)
    assert {e.id: e.status for e in rejected.evidence}[followers.id] == EvidenceStatus.REJECTED
    assert not rejected.determination.eligible and store.published == []


async def test_more_evidence_is_evaluated_at_once(store: FakeTalentCardStore) -> None:
    talent = await registered(store, followers=10)
    award = declared(EvidenceKind.AWARD, level="national", detail="live-commerce star")
    added = await handlers.add_evidence(store, talent.talent.id, award, RULES)
    assert award.id in {e.id for e in added.evidence}
    assert added.recorded and len(await store.determinations(talent.talent.person_id)) == 2
    for item in added.evidence:
        await handlers.decide_evidence(store, talent.talent.id, item.id, True, OFFICER, None, RULES)
    assert len(notices(store)) == 1


async def test_a_talent_or_evidence_that_does_not_exist_is_not_found(store: FakeTalentCardStore) -> None:
    talent = await registered(store)
    nobody = uuid.uuid4()
    attempts: list[tuple[Any, str]] = [
        (handlers.add_evidence(store, nobody, declared(EvidenceKind.AWARD), RULES), "talent_not_found"),
        (
            handlers.decide_evidence(store, nobody, talent.evidence[0].id, True, OFFICER, None, RULES),
            "talent_not_found",
        ),
        (handlers.decide_evidence(store, talent.talent.id, nobody, True, OFFICER, None, RULES), "evidence_not_found"),
        (handlers.evaluate(store, nobody, RULES), "talent_not_found"),
        (handlers.read_talent(store, nobody, RULES, OFFICER), "talent_not_found"),
    ]
    for attempt, code in attempts:
        with pytest.raises(NotFound) as missing:
            await attempt
        assert missing.value.code == code


async def test_a_lower_threshold_in_the_rules_changes_the_next_evaluation(store: FakeTalentCardStore) -> None:
    talent = await verified(store, await registered(store, followers=600_000))
    relaxed = RULES.model_copy(
        update={"introduced": RULES.introduced.model_copy(update={"min_followers": 500_000, "version": "2"})}
    )
    again = await handlers.evaluate(store, talent.talent.id, relaxed)
    history = await handlers.why(store, talent.talent.person_id, OFFICER)
    assert not talent.determination.eligible
    assert again.determination.eligible and again.determination.rule_version == "2" and again.notice_id
    assert [(d.rule_version, d.eligible) for d in history][-1] == ("2", True)


async def test_a_person_eligible_by_both_routes_gets_one_notice(store: FakeTalentCardStore) -> None:
    number = id_number()
    same_person = pseudonymise(number, PII_KEY).trainee_id
    done = completion(enrolment(same_person, tier=Tier.SENIOR))
    await handlers.on_tier_completed(store, done, rules=RULES)
    await handlers.on_subsidy_approved(store, approval(done), rules=RULES)
    full_width = number.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    talent = await handlers.register_talent(store, full_width, "Queen", influence(3_000_000), PII_KEY, RULES, OFFICER)
    talent = await verified(store, talent)
    assert talent.talent.person_id == same_person and talent.determination.eligible
    assert talent.notice_id is None  # already noticed by the plan route
    assert [n.route for n in notices(store)] == [EligibilityRoute.PLAN]


# --- reads, audited --------------------------------------------------------------------------------------------


async def test_reading_a_talent_records_nothing_and_is_audited(store: FakeTalentCardStore) -> None:
    talent = await verified(store, await registered(store))
    before = len(await store.determinations(talent.talent.person_id))
    read = await handlers.read_talent(store, talent.talent.id, RULES, OFFICER)
    assert read.determination == talent.determination and not read.recorded and read.notice_id is None
    assert len(await store.determinations(talent.talent.person_id)) == before
    assert store.reads == [(OFFICER, "GET /talents/{talent_id}", talent.talent.person_id)]


async def test_why_shows_every_determination_and_is_audited(store: FakeTalentCardStore) -> None:
    talent = await registered(store)
    found = await handlers.why(store, talent.talent.person_id, OFFICER)
    assert [d.explanation for d in found] == [talent.determination.explanation]
    assert store.reads == [(OFFICER, "GET /people/{person_id}/determinations", talent.talent.person_id)]


async def test_browsing_notices_audits_the_people_on_the_page_only(store: FakeTalentCardStore) -> None:
    for _ in range(3):
        await eligible_notice(store)
    page = await handlers.browse_notices(store, NoticeFilter(status=NoticeStatus.WAITING), 2, 0, OFFICER)
    assert len(page) == 3  # one more than the page: there is a next page
    assert store.reads == [(OFFICER, "GET /notices", p) for p in sorted(n.person_id for n in page[:2])]
    rest = await handlers.browse_notices(store, NoticeFilter(route=EligibilityRoute.PLAN), 2, 0, OFFICER)
    assert rest == [] and len(store.reads) == 2


# --- the office's notices --------------------------------------------------------------------------------------


async def test_the_workflow_acknowledge_issue_and_decline(store: FakeTalentCardStore) -> None:
    a, b = await eligible_notice(store), await eligible_notice(store)
    acknowledged = await handlers.acknowledge_notice(store, a, OFFICER)
    issued = await handlers.issue_card(store, a, "SJZ-GC-2020-0001", OFFICER)
    assert (acknowledged.status, acknowledged.acknowledged_by) == (NoticeStatus.ACKNOWLEDGED, OFFICER)
    assert (issued.status, issued.card_number, issued.decided_by) == (NoticeStatus.ISSUED, "SJZ-GC-2020-0001", OFFICER)
    refusals: list[tuple[Any, str]] = [
        (handlers.issue_card(store, a, "SJZ-GC-2020-0002", OFFICER), "notice_already_issued"),
        (handlers.acknowledge_notice(store, a, OFFICER), "notice_already_issued"),
        (handlers.issue_card(store, b, "SJZ-GC-2020-0001", OFFICER), "card_number_in_use"),
    ]
    for attempt, code in refusals:
        with pytest.raises(Conflict) as refused:
            await attempt
        assert refused.value.code == code
    declined = await handlers.decline_card(store, b, "moved to another city", OFFICER)
    assert (declined.status, declined.decline_reason) == (NoticeStatus.DECLINED, "moved to another city")
    with pytest.raises(Conflict, match="the notice is declined; it cannot become acknowledged"):
        await handlers.acknowledge_notice(store, b, OFFICER)
    counts = {(c.route, c.status): c.count for c in await store.notice_counts()}
    assert counts == {
        (EligibilityRoute.INTRODUCED, NoticeStatus.ISSUED): 1,
        (EligibilityRoute.INTRODUCED, NoticeStatus.DECLINED): 1,
    }


async def test_a_waiting_notice_may_be_decided_directly_and_an_unknown_one_is_not_found(
    store: FakeTalentCardStore,
) -> None:
    waiting = await eligible_notice(store)
    assert (await handlers.decline_card(store, waiting, "not interested", OFFICER)).status == NoticeStatus.DECLINED
    issued = await handlers.issue_card(store, await eligible_notice(store), "SJZ-GC-2020-0009", OFFICER)
    assert issued.status == NoticeStatus.ISSUED and issued.acknowledged_at is None
    nowhere = uuid.uuid4()
    for attempt in (
        handlers.acknowledge_notice(store, nowhere, OFFICER),
        handlers.issue_card(store, nowhere, "SJZ-GC-2020-0010", OFFICER),
        handlers.decline_card(store, nowhere, "nobody", OFFICER),
    ):
        with pytest.raises(DomainError) as missing:
            await attempt
        assert isinstance(missing.value, NotFound) and missing.value.code == "notice_not_found"
