"""Funding pays only inside the plan's period and never a suspended institution (issue 9), over the real broker.

Funding does not trust enrollment: a completion dated outside its own policy's period is rejected
whatever arrives on Kafka, and no such input makes a finance endpoint fail. A suspended institution's
completions are held (visible with the reason), its reservations are released by finance, and the
held completions are decided on reinstatement — whichever topic funding happens to read first.
"""

import asyncio
import json
import uuid
from datetime import date, timedelta
from typing import Any

import httpx

from plan_events import (
    SubsidyApproved,
    SubsidyRejected,
    Tier,
    TierCompleted,
    TraineeEnrolled,
)
from tests.infrastructure import Infrastructure
from tests.integration.funding.test_subsidies import FINANCE, Funding, funding, send
from tests.support.kafka import TopicWatcher
from tests.support.plan import completion, enrolment, person, reinstatement, suspension

__all__ = ["funding"]  # the fixture, shared with the subsidy tests


def completed_on(enrolled: TraineeEnrolled, day: date, **status: Any) -> TierCompleted:
    done = completion(enrolled)
    return TierCompleted.model_validate({**done.model_dump(), "event_id": uuid.uuid4(), "completed_on": day, **status})


async def decision(api: httpx.AsyncClient, enrollment_id: uuid.UUID) -> dict[str, Any]:
    answer = await api.get(f"/decisions/{enrollment_id}", headers=FINANCE)
    return dict(answer.json()) if answer.status_code == 200 else {}


async def test_no_yuan_for_a_completion_outside_the_period_and_the_fund_view_never_fails(
    infrastructure: Infrastructure, funding: Funding
) -> None:
    dates = [date(9999, 12, 31), date(2022, 1, 1), date(2019, 12, 31), date(1, 1, 1), date.today() + timedelta(days=1)]
    claims = [enrolment(person()) for _ in dates]
    inside = enrolment(person())
    async with funding() as api, TopicWatcher(infrastructure.kafka, SubsidyRejected.topic) as rejections:
        await send(infrastructure, *claims, inside, *(completed_on(c, d) for c, d in zip(claims, dates, strict=True)))
        await send(infrastructure, completed_on(inside, date(2021, 12, 31)))
        ours = {str(c.trainee_id) for c in claims}
        records = await rejections.collect(
            lambda rs: sum(json.loads(r.value)["trainee_id"] in ours for r in rs) >= len(claims)
        )
        await _until(api, inside.enrollment_id, "approved")  # the completion inside the period is paid
        fund = await api.get("/fund", headers=FINANCE)
        summary = await api.get("/summary", headers=FINANCE)

    reasons = [json.loads(r.value)["reason"] for r in records if json.loads(r.value)["trainee_id"] in ours]
    assert reasons == ["outside_plan_period"] * len(claims)
    assert fund.status_code == 200 and summary.status_code == 200
    body = fund.json()
    assert body["approved_yuan"] == 900 and body["reserved_yuan"] == 0  # reservations released, one paid claim
    assert body["projected_exhaustion"] is None or date.fromisoformat(body["projected_exhaustion"]) > date(2021, 12, 31)


async def test_a_suspended_institution_s_completions_are_held_released_and_decided_on_reinstatement(
    infrastructure: Infrastructure, funding: Funding
) -> None:
    institution = uuid.uuid4()
    before, during = enrolment(person(), institution=institution), enrolment(person(), institution=institution)
    senior = enrolment(person(), institution=institution, tier=Tier.SENIOR)
    async with funding() as api, TopicWatcher(infrastructure.kafka, SubsidyApproved.topic) as approvals:
        await send(infrastructure, before, during, senior, completion(before))
        await _until(api, before.enrollment_id, "approved")  # decided while the institution was active
        await send(infrastructure, suspension(institution, 1))
        await send(infrastructure, completion(during))  # reported after the suspension (no status on it)
        held = await _until(api, during.enrollment_id, "held")
        fund_held = (await api.get("/fund", headers=FINANCE)).json()
        unpaid = await api.post(
            "/payment-batches",
            json={"institution_id": str(institution), "declared_count": 1, "declared_total_yuan": 900},
            headers=FINANCE,
        )
        release = await api.post(
            f"/institutions/{institution}/reservations/release",
            json={"reason": "suspended: free the money"},
            headers=FINANCE,
        )
        fund_released = (await api.get("/fund", headers=FINANCE)).json()
        listed = (await api.get("/subsidies", params={"status": "held"}, headers=FINANCE)).json()
        await send(infrastructure, reinstatement(institution, 2))
        decided = await _until(api, during.enrollment_id, "approved")
        records = await approvals.collect(lambda rs: sum(r.key in _keys(before, during) for r in rs) >= 2)
        again = await api.post(
            f"/institutions/{institution}/reservations/release",
            json={"reason": "after reinstatement"},
            headers=FINANCE,
        )
        fund_after = (await api.get("/fund", headers=FINANCE)).json()
        statement = f"/institutions/{institution}/statement"
        first_page = (await api.get(statement, params={"limit": 1}, headers=FINANCE)).json()
        last_page = (await api.get(statement, params={"limit": 1, "offset": 2}, headers=FINANCE)).json()

    assert held["status"] == "held" and held["reason"] == "institution suspended: audit of attendance"
    assert fund_held["reserved_yuan"] == 900 + 5000  # the held claim and the open senior course keep their money
    assert unpaid.status_code == 409 and unpaid.json()["error"]["code"] == "institution_suspended"
    assert release.status_code == 200 and release.json()["released_yuan"] == 5900
    assert fund_released["reserved_yuan"] == 0
    assert [s["enrollment_id"] for s in listed] == [str(during.enrollment_id)]
    assert decided["status"] == "approved" and any(e["entry"] == "release" for e in decided["ledger"])
    assert sum(r.key in _keys(before, during) for r in records) == 2
    assert again.status_code == 409 and again.json()["error"]["code"] == "institution_not_suspended"
    assert fund_after["approved_yuan"] == 1800 and fund_after["reserved_yuan"] == 0
    # a statement never stops silently: the count of all subsidies and where the next page starts
    assert (first_page["subsidy_count"], len(first_page["subsidies"]), first_page["next_offset"]) == (3, 1, 1)
    assert (len(last_page["subsidies"]), last_page["next_offset"]) == (1, None)


async def test_held_whichever_topic_is_read_first_and_decided_whichever_arrives_last(
    infrastructure: Infrastructure, funding: Funding
) -> None:
    institution = uuid.uuid4()
    early, late = enrolment(person(), institution=institution), enrolment(person(), institution=institution)
    async with funding() as api:
        # the completion says the institution was suspended (seq 1) before funding has read the suspension
        await send(infrastructure, early, late, completed_on(early, date(2020, 8, 23), **_suspended(1)))
        held = await _until(api, early.enrollment_id, "held")
        # the reinstatement (seq 2) is read before an older completion recorded during the suspension
        await send(infrastructure, reinstatement(institution, 2), suspension(institution, 1))
        released = await _until(api, early.enrollment_id, "approved")
        await send(infrastructure, completed_on(late, date(2020, 8, 23), **_suspended(1)))
        late_decided = await _until(api, late.enrollment_id, "approved")
        standing = (await api.get(f"/institutions/{institution}", headers=FINANCE)).json()

    assert held["reason"].startswith("institution suspended")
    assert released["status"] == late_decided["status"] == "approved"
    assert (standing["status"], standing["status_seq"]) == ("active", 2)


def _suspended(seq: int) -> dict[str, Any]:
    return {"institution_status": "suspended", "institution_status_seq": seq}


def _keys(*claims: TraineeEnrolled) -> set[bytes]:
    return {c.trainee_id.encode() for c in claims}


async def _until(api: httpx.AsyncClient, enrollment_id: uuid.UUID, status: str, timeout: float = 30) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for _ in range(int(timeout * 10)):
        found = await decision(api, enrollment_id)
        if found.get("status") == status:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{enrollment_id} is {found.get('status')!r}, not {status!r}, after {timeout}s")
