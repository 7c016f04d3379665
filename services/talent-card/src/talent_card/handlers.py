"""Use cases: plan progress from events, introduced talents from the office, and the notices' workflow."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from plan_events import Event, GreenCardEligible, SubsidyApproved, SubsidyReversed, Tier, TierCompleted
from plan_events.identity import pseudonymise
from plan_runtime import Connection, emit
from plan_runtime.errors import ApiError
from talent_card.domain import Determination, Evidence, introduced_talent, plan_talent
from talent_card.rules import Rules
from talent_card.store import TalentCardStore

SOURCE = "talent-card"


async def on_tier_completed(conn: Connection, event: TierCompleted, rules: Rules) -> None:
    if event.tier != Tier.SENIOR or not event.passed:
        return  # only a passed senior course counts towards the plan route
    progress = await TalentCardStore(conn).senior_completed(event.trainee_id, event.completed_on)
    await _decide(conn, plan_talent(progress, rules.plan), None, cause=event)


async def on_subsidy_approved(conn: Connection, event: SubsidyApproved, rules: Rules) -> None:
    if event.tier != Tier.SENIOR:
        return
    progress = await TalentCardStore(conn).senior_subsidy_approved(event.trainee_id, event.subsidy_id)
    await _decide(conn, plan_talent(progress, rules.plan), None, cause=event)


async def on_subsidy_reversed(conn: Connection, event: SubsidyReversed, rules: Rules) -> None:
    """The subsidy no longer counts. A notice already sent stays: the office sees the reversal and decides."""
    if event.tier != Tier.SENIOR:
        return
    progress = await TalentCardStore(conn).senior_subsidy_reversed(event.trainee_id, event.subsidy_id)
    await TalentCardStore(conn).record(plan_talent(progress, rules.plan))


async def _decide(
    conn: Connection, determination: Determination, id_masked: str | None, cause: Event | None = None
) -> UUID | None:
    """Record the determination; when eligible, open the person's one notice and announce it once."""
    store = TalentCardStore(conn)
    await store.record(determination)
    if not determination.eligible:
        return None
    notice_id = uuid4()
    if not await store.open_notice(notice_id, determination, id_masked):
        return None  # already eligible (by this route or the other): one notice, one event
    await emit(
        conn,
        [
            GreenCardEligible.create(
                source=SOURCE,
                subject=determination.person_id,
                occurred_at=datetime.now(UTC),
                caused_by=cause,
                notice_id=notice_id,
                person_id=determination.person_id,
                route=determination.route,
                rule_id=determination.rule_id,
                rule_version=determination.rule_version,
                evidence=list(determination.evidence),
            )
        ],
    )
    return notice_id


async def register_talent(
    conn: Connection,
    id_number: str,
    name: str,
    evidence: list[Evidence],
    pii_key: bytes,
    rules: Rules,
    actor: str,
    key: str | None = None,
) -> dict[str, Any]:
    """Register a talent; the same request again with the same `key` (a lost answer) gets the same talent."""
    async with conn.transaction():
        store = TalentCardStore(conn)
        person = pseudonymise(id_number, pii_key)
        if key is not None and (earlier := await store.talent_registered_with(key, person.trainee_id)):
            return await _evaluate(store, earlier, rules)
        talent_id = uuid4()
        if not await store.add_talent(talent_id, person.trainee_id, person.masked, name, actor, key):
            raise ApiError(409, "talent_exists", "this person is already registered as a talent", "id_number")
        for item in evidence:
            await store.add_evidence(talent_id, item)
        return await _evaluate(store, talent_id, rules)


async def add_evidence(conn: Connection, talent_id: UUID, item: Evidence, rules: Rules) -> dict[str, Any]:
    async with conn.transaction():
        store = TalentCardStore(conn)
        await _talent(store, talent_id)
        await store.add_evidence(talent_id, item)
        return await _evaluate(store, talent_id, rules)


async def decide_evidence(
    conn: Connection, talent_id: UUID, evidence_id: UUID, verified: bool, actor: str, note: str | None, rules: Rules
) -> dict[str, Any]:
    """Only verified evidence counts: each verification re-evaluates the talent under the current rules."""
    async with conn.transaction():
        store = TalentCardStore(conn)
        await _talent(store, talent_id)
        if not await store.decide_evidence(talent_id, evidence_id, "verified" if verified else "rejected", actor, note):
            raise ApiError(404, "evidence_not_found", f"no evidence {evidence_id} for this talent", "evidence_id")
        return await _evaluate(store, talent_id, rules)


async def evaluate(conn: Connection, talent_id: UUID, rules: Rules) -> dict[str, Any]:
    async with conn.transaction():
        return await _evaluate(TalentCardStore(conn), talent_id, rules)


async def evaluate_readonly(conn: Connection, talent_id: UUID, rules: Rules) -> dict[str, Any]:
    """What the rules in force say now, without recording anything."""
    store = TalentCardStore(conn)
    talent = await _talent(store, talent_id)
    evidence = await store.evidence_of(talent_id)
    determination = introduced_talent(talent["person_id"], evidence, rules.introduced)
    return {**talent, "evidence": [vars(e) for e in evidence], "determination": vars(determination)}


async def _evaluate(store: TalentCardStore, talent_id: UUID, rules: Rules) -> dict[str, Any]:
    talent = await _talent(store, talent_id)
    evidence = await store.evidence_of(talent_id)
    determination = introduced_talent(talent["person_id"], evidence, rules.introduced)
    notice_id = await _decide(store.conn, determination, talent["id_masked"])
    return {
        **talent,
        "evidence": [vars(e) for e in evidence],
        "determination": {**vars(determination), "notice_id": notice_id},
    }


async def _talent(store: TalentCardStore, talent_id: UUID) -> dict[str, Any]:
    found = await store.talent(talent_id)
    if found is None:
        raise ApiError(404, "talent_not_found", f"no talent {talent_id}", "talent_id")
    return found


async def move_notice(
    conn: Connection, notice_id: UUID, to: str, actor: str, card_number: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    """waiting -> acknowledged -> issued | declined (a waiting notice may be decided directly)."""
    allowed = {
        "acknowledged": {"waiting"},
        "issued": {"waiting", "acknowledged"},
        "declined": {"waiting", "acknowledged"},
    }
    async with conn.transaction():
        store = TalentCardStore(conn)
        notice = await store.notice(notice_id, lock=True)
        if notice is None:
            raise ApiError(404, "notice_not_found", f"no notice {notice_id}", "notice_id")
        if notice["status"] not in allowed[to]:
            raise ApiError(
                409,
                "notice_already_" + notice["status"],
                f"the notice is {notice['status']}; it cannot become {to}",
                "notice_id",
            )
        try:
            if to == "acknowledged":
                await store.acknowledge(notice_id, actor)
            else:
                await store.decide(notice_id, to, actor, card_number, reason)
        except asyncpg.UniqueViolationError as error:
            raise ApiError(
                409, "card_number_in_use", f"card {card_number} was issued already", "card_number"
            ) from error
        found = await store.notice(notice_id)
        assert found is not None
        return found
