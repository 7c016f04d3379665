"""The funding service on the real broker and database: completions in, subsidy decisions out."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest

from funding.main import build_app
from funding.policy import Policy, load_policy
from funding.settings import Settings
from plan_events import (
    EnrollmentWithdrawn,
    Event,
    InstitutionReinstated,
    InstitutionSuspended,
    SubsidyApproved,
    SubsidyRejected,
    SubsidyReversed,
    Tier,
    TierCompleted,
    TraineeEnrolled,
)
from tests.infrastructure import Infrastructure
from tests.integration.conftest import Schema
from tests.support.kafka import TopicWatcher, eventually, group_starts_at_end, produce
from tests.support.plan import CLOUD_STUDIO, completion, enrolment, person, withdrawal
from tests.support.services import serving

FINANCE = {"X-API-Key": "finance-test-key", "X-Actor": "auditor-wang"}
INPUT_TOPICS = (
    TraineeEnrolled.topic,
    TierCompleted.topic,
    EnrollmentWithdrawn.topic,
    InstitutionSuspended.topic,
    InstitutionReinstated.topic,
)

Funding = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def funding(infrastructure: Infrastructure, schema: Schema) -> Funding:
    """Starts the real funding app (one or more replicas) on a fresh schema and consumer group."""

    @asynccontextmanager
    async def start(
        fund_yuan: int | None = None, replicas: int = 1, institution_cap: int | None = None
    ) -> AsyncIterator[httpx.AsyncClient]:
        policy = load_policy()
        if fund_yuan is not None:  # a smaller fund, with targets that fit it
            targets = {**policy.targets, Tier.PROFESSIONAL: 1, Tier.SENIOR: 0}
            policy = Policy.model_validate({**policy.model_dump(), "fund_yuan": fund_yuan, "targets": targets})
        if institution_cap is not None:
            caps = {**policy.institution_caps_yuan, "default": institution_cap}
            policy = Policy.model_validate({**policy.model_dump(), "institution_caps_yuan": caps})
        settings = Settings(
            database_url=infrastructure.database_url,
            migrate_on_start=True,  # a throw-away schema, migrated by the admin it runs as
            db_schema=schema.name,
            kafka_bootstrap_servers=infrastructure.kafka,
            consumer_group=f"funding-{schema.name}",
            finance_api_key="finance-test-key",
            relay_poll_seconds=0.2,
            retry_max_seconds=2,
        )
        await group_starts_at_end(infrastructure.kafka, settings.consumer_group or "", *INPUT_TOPICS)
        async with serving(build_app(settings, policy)) as client:
            if replicas == 1:
                yield client
            else:
                async with serving(build_app(settings, policy)):
                    yield client

    return start


async def send(infra: Infrastructure, *events: Event) -> None:
    for event in events:
        await produce(infra.kafka, event.topic, [(event.key(), event.to_bytes())])


def about(trainee: str) -> Callable[[list], list[dict]]:  # type: ignore[type-arg]
    return lambda records: [json.loads(r.value) for r in records if r.key == trainee.encode()]


async def test_a_professional_completion_is_paid_900_once_even_twice_delivered_and_before_its_enrolment(
    infrastructure: Infrastructure, funding: Funding
) -> None:
    host = person()
    enrolled = enrolment(host)
    done = completion(enrolled)
    async with funding() as api, TopicWatcher(infrastructure.kafka, SubsidyApproved.topic) as approvals:
        await send(infrastructure, done, done, enrolled)  # completion first, twice; the enrolment last
        records = await approvals.collect(lambda rs: len(about(host)(rs)) >= 1)
        records += await approvals.collect(lambda rs: False, timeout=3)
        fund = (await api.get("/fund", headers=FINANCE)).json()

    [approved] = about(host)(records)
    assert (approved["amount_yuan"], approved["tier"], approved["policy_version"]) == (
        900,
        "professional",
        "2020-08-v2",
    )
    assert approved["causation_id"] == str(done.event_id)
    assert (fund["approved_yuan"], fund["reserved_yuan"], fund["available_yuan"]) == (900, 0, 10_000_000 - 900)


async def test_a_basic_completion_yields_no_payment_and_no_claim(
    infrastructure: Infrastructure, funding: Funding
) -> None:
    host = person()
    basic = enrolment(host, tier=Tier.BASIC)
    marker = enrolment(person("marker"))  # processed after the basic events in its own partition order
    async with funding() as api:
        await send(infrastructure, basic, completion(basic), marker)
        await eventually(lambda: reserved(api, 900))
        assert (await api.get("/subsidies", params={"tier": "basic"}, headers=FINANCE)).json() == []
        assert (await api.get(f"/decisions/{basic.enrollment_id}", headers=FINANCE)).status_code == 404


async def reserved(api: httpx.AsyncClient, amount: int) -> bool:
    return bool((await api.get("/fund", headers=FINANCE)).json()["reserved_yuan"] == amount)


async def test_enrolments_reserve_and_withdrawals_and_failed_assessments_release(
    infrastructure: Infrastructure, funding: Funding
) -> None:
    staying, leaving, failing = (enrolment(person(n)) for n in ("staying", "leaving", "failing"))
    async with funding() as api, TopicWatcher(infrastructure.kafka, SubsidyRejected.topic) as rejections:
        await send(infrastructure, staying, leaving, failing)
        await eventually(lambda: reserved(api, 2700))
        await send(infrastructure, withdrawal(leaving), completion(failing, passed=False))
        await eventually(lambda: reserved(api, 900))
        records = await rejections.collect(lambda rs: len(about(failing.trainee_id)(rs)) == 1)
        why = (await api.get(f"/decisions/{failing.enrollment_id}", headers=FINANCE)).json()
    assert about(failing.trainee_id)(records)[0]["reason"] == "assessment_failed"
    assert [e["entry"] for e in why["ledger"]] == ["reserve", "release"]
    assert why["status"] == "rejected" and why["reason"] == "assessment_failed"


async def test_with_a_fund_for_n_subsidies_n_plus_50_concurrent_completions_get_n_approvals_and_50_refusals(
    infrastructure: Infrastructure, funding: Funding, schema: Schema
) -> None:
    n = 60
    people = [enrolment(person(f"rush-{i}")) for i in range(n + 50)]
    completions = [completion(e) for e in people]
    lowest = [10**9]

    async def watch_balance() -> None:
        while True:
            row = await schema.pool.fetchrow("SELECT total_yuan - reserved_yuan - approved_yuan AS a FROM fund")
            if row is not None:
                lowest[0] = min(lowest[0], row["a"])
            await asyncio.sleep(0.01)

    async with (
        funding(fund_yuan=900 * n, replicas=2) as api,
        TopicWatcher(infrastructure.kafka, SubsidyApproved.topic) as approvals,
        TopicWatcher(infrastructure.kafka, SubsidyRejected.topic) as rejections,
    ):
        watcher = asyncio.create_task(watch_balance())
        thirds = [completions[i::3] for i in range(3)]  # three producers at once
        await asyncio.gather(
            *(
                produce(infrastructure.kafka, TierCompleted.topic, [(c.key(), c.to_bytes()) for c in part])
                for part in thirds
            )
        )
        ours = {e.trainee_id.encode() for e in people}
        approved = await approvals.collect(lambda rs: sum(r.key in ours for r in rs) >= n, timeout=60)
        refused = await rejections.collect(lambda rs: sum(r.key in ours for r in rs) >= 50, timeout=60)
        fund = (await api.get("/fund", headers=FINANCE)).json()
        watcher.cancel()

    assert sum(r.key in ours for r in approved) == n
    refusals = [json.loads(r.value) for r in refused if r.key in ours]
    assert len(refusals) == 50 and {r["reason"] for r in refusals} == {"fund_exhausted"}
    assert fund["available_yuan"] == 0 and fund["approved_yuan"] == 900 * n
    assert 0 <= lowest[0] < 10**9  # sampled throughout: never below zero


async def test_the_same_person_claimed_by_two_institutions_is_paid_once(
    infrastructure: Infrastructure, funding: Funding
) -> None:
    host = person("double-claimed")
    first, second = enrolment(host), enrolment(host, institution=CLOUD_STUDIO)
    async with funding() as api, TopicWatcher(infrastructure.kafka, SubsidyRejected.topic) as rejections:
        await send(infrastructure, first, second, completion(first), completion(second))
        records = await rejections.collect(lambda rs: len(about(host)(rs)) == 1)
        paid = (await api.get("/subsidies", params={"status": "approved"}, headers=FINANCE)).json()
        fund = (await api.get("/fund", headers=FINANCE)).json()
    assert about(host)(records)[0]["reason"] == "duplicate_claim"
    assert [(s["trainee_id"], s["amount_yuan"]) for s in paid] == [(host, 900)]
    assert fund["reserved_yuan"] == 0 and fund["approved_yuan"] == 900


async def test_a_reversal_restores_the_balance_and_the_ledger_reconciles_with_the_events(
    infrastructure: Infrastructure, funding: Funding
) -> None:
    hosts = [enrolment(person("senior"), tier=Tier.SENIOR), enrolment(person("pro"))]
    async with (
        funding() as api,
        TopicWatcher(infrastructure.kafka, SubsidyApproved.topic) as approvals,
        TopicWatcher(infrastructure.kafka, SubsidyReversed.topic) as reversals,
    ):
        await send(infrastructure, *hosts, *(completion(h) for h in hosts))
        ours = {h.trainee_id.encode() for h in hosts}
        approved = [
            json.loads(r.value)
            for r in await approvals.collect(lambda rs: sum(r.key in ours for r in rs) == 2)
            if r.key in ours
        ]
        before = (await api.get("/fund", headers=FINANCE)).json()
        senior = next(a for a in approved if a["tier"] == "senior")
        answer = await api.post(
            f"/subsidies/{senior['subsidy_id']}/reverse", json={"reason": "trainee did not attend"}, headers=FINANCE
        )
        again = await api.post(f"/subsidies/{senior['subsidy_id']}/reverse", json={"reason": "twice"}, headers=FINANCE)
        reversed_ = await reversals.collect(lambda rs: any(r.key in ours for r in rs))
        after = (await api.get("/fund", headers=FINANCE)).json()
        summary = (await api.get("/summary", headers=FINANCE)).json()

    assert answer.status_code == 200 and again.status_code == 409 and again.json()["error"]["code"] == "not_reversible"
    assert before["approved_yuan"] == 5900 == sum(a["amount_yuan"] for a in approved)
    assert after["approved_yuan"] == 900 and after["available_yuan"] == before["available_yuan"] + 5000
    [notice] = [json.loads(r.value) for r in reversed_ if r.key in ours]
    assert notice["amount_yuan"] == 5000 and notice["reason"] == "trainee did not attend"
    ledger = summary["ledger"]
    assert ledger["approve"] - ledger.get("reverse", 0) == after["approved_yuan"]  # ledger == events == fund


async def test_payment_batches_must_match_the_ledger_and_are_paid_once(
    infrastructure: Infrastructure, funding: Funding
) -> None:
    hosts = [enrolment(person(f"batch-{i}"), institution=CLOUD_STUDIO) for i in range(3)]
    async with funding() as api:
        await send(infrastructure, *(completion(h) for h in hosts))
        await eventually(lambda: approved_count(api, 3))
        wrong = await api.post(
            "/payment-batches",
            json={"institution_id": str(CLOUD_STUDIO), "declared_count": 3, "declared_total_yuan": 2000},
            headers=FINANCE,
        )
        batch = await api.post(
            "/payment-batches",
            json={"institution_id": str(CLOUD_STUDIO), "declared_count": 3, "declared_total_yuan": 2700},
            headers=FINANCE,
        )
        paid = await api.post(
            f"/payment-batches/{batch.json()['batch_id']}/pay", json={"declared_total_yuan": 2700}, headers=FINANCE
        )
        twice = await api.post(
            f"/payment-batches/{batch.json()['batch_id']}/pay", json={"declared_total_yuan": 2700}, headers=FINANCE
        )
        fund = (await api.get("/fund", headers=FINANCE)).json()
        anonymous = await api.get("/fund")
    assert wrong.status_code == 409 and wrong.json()["error"] == {
        "code": "totals_mismatch",
        "field": "declared_total_yuan",
        "message": "declared 3 subsidies / 2000 yuan, the ledger has 3 / 2700",
    }
    assert batch.status_code == 201 and paid.status_code == 200
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "batch_already_paid"
    assert fund["paid_yuan"] == 2700 == fund["approved_yuan"]
    assert anonymous.status_code == 401 and anonymous.json()["error"]["field"] == "X-API-Key"


async def approved_count(api: httpx.AsyncClient, count: int) -> bool:
    found = (await api.get("/subsidies", params={"status": "approved"}, headers=FINANCE)).json()
    return len(found) == count


async def test_a_withdrawal_that_arrives_before_its_enrolment_leaves_nothing_reserved(
    infrastructure: Infrastructure, funding: Funding
) -> None:
    leaving = enrolment(person("changes-course"))
    staying = enrolment(leaving.trainee_id, institution=CLOUD_STUDIO)  # same person, same partition: after the others
    async with funding() as api:
        await send(infrastructure, withdrawal(leaving))  # topics are separate: wait until it was consumed
        await eventually(lambda: decided(api, leaving.enrollment_id, "withdrawn"))
        await send(infrastructure, leaving, staying)  # same topic, same key: in this order
        await eventually(lambda: reserved(api, 900))  # only the later enrolment holds money
        why = (await api.get(f"/decisions/{leaving.enrollment_id}", headers=FINANCE)).json()
    assert why["status"] == "withdrawn" and why["ledger"] == []


async def decided(api: httpx.AsyncClient, enrollment_id: object, status: str) -> bool:
    answer = await api.get(f"/decisions/{enrollment_id}", headers=FINANCE)
    return answer.status_code == 200 and answer.json()["status"] == status


async def test_an_institution_over_its_cap_is_refused_and_others_are_not(
    infrastructure: Infrastructure, funding: Funding
) -> None:
    village = [enrolment(person(f"village-{i}")) for i in range(3)]
    cloud = enrolment(person("cloud"), institution=CLOUD_STUDIO)
    async with funding(institution_cap=1800) as api, TopicWatcher(infrastructure.kafka, SubsidyRejected.topic) as topic:
        await send(infrastructure, *(completion(e) for e in [*village, cloud]))  # no reservations: decided on arrival
        ours = {e.trainee_id.encode() for e in village}
        refused = [
            json.loads(r.value) for r in await topic.collect(lambda rs: any(r.key in ours for r in rs)) if r.key in ours
        ]
        await eventually(lambda: approved_count(api, 3))
        approved = (await api.get("/subsidies", params={"status": "approved"}, headers=FINANCE)).json()
    assert [r["reason"] for r in refused] == ["institution_cap_reached"]
    assert sorted(str(a["institution_id"]) for a in approved) == sorted(
        [str(village[0].institution_id)] * 2 + [str(CLOUD_STUDIO)]
    )
