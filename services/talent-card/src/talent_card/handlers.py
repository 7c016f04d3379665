"""Use cases: plan progress from events, introduced talents from the office, and the notices' workflow.

Each runs on the store it is given (ports.Store: PostgreSQL in the service, in memory in the unit tests), in
the unit of work around it, and `publish`es what it announces; it refuses with domain errors."""

from datetime import UTC, datetime
from functools import partial
from uuid import UUID

from plan_events import Event, SubsidyApproved, SubsidyReversed, Tier, TierCompleted
from plan_events.identity import pseudonymise
from plan_events.ids import new_id
from plan_runtime.consumer import Only
from plan_runtime.errors import Conflict, NotFound
from talent_card.domain import (
    Determination,
    DeterminationRecord,
    Evaluation,
    Evidence,
    EvidenceStatus,
    Notice,
    NoticeFilter,
    NoticeStatus,
    Talent,
    announce,
    decide_notice,
    introduced_talent,
    plan_talent,
)
from talent_card.ports import Store
from talent_card.rules import Rules

# --- the plan route, from events -----------------------------------------------------------------------------


def counts(event: TierCompleted) -> bool:
    """Only a passed senior course counts towards the plan route: the inbox leaves every other completion out."""
    return event.tier == Tier.SENIOR and event.passed


def senior(event: SubsidyApproved | SubsidyReversed) -> bool:
    """Only a senior course's subsidy counts: the inbox leaves every other out."""
    return event.tier == Tier.SENIOR


async def on_tier_completed(store: Store, event: TierCompleted, rules: Rules) -> None:
    if not counts(event):
        return
    progress = await store.senior_completed(event.trainee_id, event.completed_on)
    await _decide(store, plan_talent(progress, rules.plan), None, cause=event)


async def on_subsidy_approved(store: Store, event: SubsidyApproved, rules: Rules) -> None:
    if not senior(event):
        return
    progress = await store.senior_subsidy_approved(event.trainee_id, event.subsidy_id)
    await _decide(store, plan_talent(progress, rules.plan), None, cause=event)


async def on_subsidy_reversed(store: Store, event: SubsidyReversed, rules: Rules) -> None:
    """The subsidy no longer counts. A notice already sent stays: the office sees the reversal and decides."""
    if not senior(event):
        return
    progress = await store.senior_subsidy_reversed(event.trainee_id, event.subsidy_id)
    await store.record(plan_talent(progress, rules.plan))


async def _decide(
    store: Store, determination: Determination, id_masked: str | None, cause: Event | None = None
) -> UUID | None:
    """Record the determination; when eligible, open the person's one notice and announce it once."""
    await store.record(determination)
    if not determination.eligible:
        return None
    notice_id = new_id()
    if not await store.open_notice(notice_id, determination, id_masked):
        return None  # already eligible (by this route or the other): one notice, one event
    store.publish(announce(determination, notice_id, datetime.now(UTC), cause))
    return notice_id


# --- introduced talents, from the office ---------------------------------------------------------------------


async def register_talent(
    store: Store,
    id_number: str,
    name: str,
    evidence: list[Evidence],
    pii_key: bytes,
    rules: Rules,
    actor: str,
    key: str | None = None,
) -> Evaluation:
    """Register a talent; the same request again with the same `key` (a lost answer) gets the same talent."""
    person = pseudonymise(id_number, pii_key)
    if key is not None and (earlier := await store.talent_registered_with(key, person.trainee_id)):
        return await _evaluate(store, earlier, rules)
    talent_id = new_id()
    if not await store.add_talent(talent_id, person.trainee_id, person.masked, name, actor, key):
        raise Conflict("talent_exists", "this person is already registered as a talent", "id_number")
    for item in evidence:
        await store.add_evidence(talent_id, item)
    return await _evaluate(store, talent_id, rules)


async def add_evidence(store: Store, talent_id: UUID, item: Evidence, rules: Rules) -> Evaluation:
    await _talent(store, talent_id)
    await store.add_evidence(talent_id, item)
    return await _evaluate(store, talent_id, rules)


async def decide_evidence(
    store: Store, talent_id: UUID, evidence_id: UUID, verified: bool, actor: str, note: str | None, rules: Rules
) -> Evaluation:
    """Only verified evidence counts: each verification re-evaluates the talent under the current rules."""
    await _talent(store, talent_id)
    if not await store.decide_evidence(talent_id, evidence_id, EvidenceStatus.decided(verified), actor, note):
        raise NotFound("evidence_not_found", f"no evidence {evidence_id} for this talent", "evidence_id")
    return await _evaluate(store, talent_id, rules)


async def evaluate(store: Store, talent_id: UUID, rules: Rules) -> Evaluation:
    """Evaluate again under the rules in force now, and record it."""
    return await _evaluate(store, talent_id, rules)


async def read_talent(store: Store, talent_id: UUID, rules: Rules, actor: str) -> Evaluation:
    """What the rules in force say now, without recording anything; the read is audited."""
    talent = await _talent(store, talent_id)
    evidence = await store.evidence_of(talent_id)
    determination = introduced_talent(talent.person_id, evidence, rules.introduced)
    await store.record_reads(actor, "GET /talents/{talent_id}", [talent.person_id])
    return Evaluation(talent, evidence, determination)


async def _evaluate(store: Store, talent_id: UUID, rules: Rules) -> Evaluation:
    talent = await _talent(store, talent_id)
    evidence = await store.evidence_of(talent_id)
    determination = introduced_talent(talent.person_id, evidence, rules.introduced)
    notice_id = await _decide(store, determination, talent.id_masked)
    return Evaluation(talent, evidence, determination, recorded=True, notice_id=notice_id)


async def _talent(store: Store, talent_id: UUID) -> Talent:
    found = await store.talent(talent_id)
    if found is None:
        raise NotFound("talent_not_found", f"no talent {talent_id}", "talent_id")
    return found


async def why(store: Store, person_id: str, actor: str) -> list[DeterminationRecord]:
    """Every determination about a person, oldest first; the read is audited."""
    found = await store.determinations(person_id)
    if not found:
        raise NotFound("person_not_found", f"no determination for {person_id}", "person_id")
    await store.record_reads(actor, "GET /people/{person_id}/determinations", [person_id])
    return found


# --- the office's notices ------------------------------------------------------------------------------------


async def browse_notices(store: Store, which: NoticeFilter, limit: int, offset: int, actor: str) -> list[Notice]:
    """A page of notices and one more if there is one (that says a next page exists); the people on the page
    are audited as read."""
    found = await store.notices(which, limit + 1, offset)
    await store.record_reads(actor, "GET /notices", (n.person_id for n in found[:limit]))
    return found


async def acknowledge_notice(store: Store, notice_id: UUID, actor: str) -> Notice:
    await _movable(store, notice_id, NoticeStatus.ACKNOWLEDGED)
    await store.acknowledge(notice_id, actor)
    return await _notice(store, notice_id)


async def issue_card(store: Store, notice_id: UUID, card_number: str, actor: str) -> Notice:
    await _movable(store, notice_id, NoticeStatus.ISSUED)
    await store.decide(notice_id, NoticeStatus.ISSUED, actor, card_number, None)
    return await _notice(store, notice_id)


async def decline_card(store: Store, notice_id: UUID, reason: str, actor: str) -> Notice:
    await _movable(store, notice_id, NoticeStatus.DECLINED)
    await store.decide(notice_id, NoticeStatus.DECLINED, actor, None, reason)
    return await _notice(store, notice_id)


async def _movable(store: Store, notice_id: UUID, to: NoticeStatus) -> None:
    """The notice, locked until the unit of work ends, may become `to` (domain.decide_notice), or a refusal."""
    notice = await _notice(store, notice_id, lock=True)
    if refusal := decide_notice(notice.status, to):
        raise refusal


async def _notice(store: Store, notice_id: UUID, lock: bool = False) -> Notice:
    found = await store.notice(notice_id, lock)
    if found is None:
        raise NotFound("notice_not_found", f"no notice {notice_id}", "notice_id")
    return found


def consumes(rules: Rules) -> dict[type[Event], Only]:
    """What the talent office reads, and the use case each event goes to (registered once, in talent_card.main):
    only senior courses count, so the inbox leaves every other event of these topics out, with no inbox row."""
    return {
        TierCompleted: Only(counts, partial(on_tier_completed, rules=rules)),
        SubsidyApproved: Only(senior, partial(on_subsidy_approved, rules=rules)),
        SubsidyReversed: Only(senior, partial(on_subsidy_reversed, rules=rules)),
    }
