"""The talent-card service on the real broker and database: eligibility notices, exactly once per person."""

import gc
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from plan_events import Event, GreenCardEligible, SubsidyApproved, SubsidyReversed, Tier, TierCompleted
from plan_events.identity import pseudonymise
from plan_runtime.service import GC_THRESHOLDS
from talent_card.main import build_app
from talent_card.rules import DEFAULT_RULES
from talent_card.settings import Settings
from tests.infrastructure import Infrastructure
from tests.integration.conftest import Schema
from tests.support.kafka import TopicWatcher, eventually, group_starts_at_end, produce
from tests.support.people import id_number
from tests.support.plan import approval, completion, enrolment, person
from tests.support.services import serving

OFFICE = {"X-API-Key": "office-test-key", "X-Actor": "officer-zhou"}
PII_KEY = "test-hmac-key"
TalentCard = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def talent_card(infrastructure: Infrastructure, schema: Schema) -> TalentCard:
    @asynccontextmanager
    async def start(rules: Path = DEFAULT_RULES) -> AsyncIterator[httpx.AsyncClient]:
        settings = Settings(
            database_url=infrastructure.database_url,
            migrate_on_start=True,  # a throw-away schema, migrated by the admin it runs as
            db_schema=schema.name,
            kafka_bootstrap_servers=infrastructure.kafka,
            consumer_group=f"tc-{schema.name}",
            talent_office_api_key="office-test-key",
            bureau_api_key="bureau-test-key",
            pii_hmac_key=PII_KEY,  # type: ignore[arg-type]
            rules_file=rules,
            relay_poll_seconds=0.2,
        )
        await group_starts_at_end(
            infrastructure.kafka,
            settings.consumer_group or "",
            TierCompleted.topic,
            SubsidyApproved.topic,
            SubsidyReversed.topic,
        )
        async with serving(build_app(settings)) as client:
            yield client

    return start


async def send(infra: Infrastructure, *events: Event) -> None:
    for event in events:
        await produce(infra.kafka, event.topic, [(event.key(), event.to_bytes())])


def notices_for(records: list, who: str) -> list[dict[str, Any]]:  # type: ignore[type-arg]
    return [json.loads(r.value) for r in records if r.key == who.encode()]


@pytest.mark.parametrize("subsidy_first", [False, True], ids=["completion-first", "subsidy-first"])
async def test_a_senior_completion_and_its_subsidy_give_one_notice_in_either_order_even_redelivered(
    infrastructure: Infrastructure, talent_card: TalentCard, subsidy_first: bool
) -> None:
    senior = person("senior-host")
    done = completion(enrolment(senior, tier=Tier.SENIOR))
    paid = approval(done)
    professional = person("pro-host")
    pro_done = completion(enrolment(professional, tier=Tier.PROFESSIONAL))
    order = [paid, paid, done, done] if subsidy_first else [done, done, paid, paid]
    async with talent_card() as api, TopicWatcher(infrastructure.kafka, GreenCardEligible.topic) as topic:
        await send(infrastructure, *order, pro_done, approval(pro_done))
        records = await topic.collect(lambda rs: bool(notices_for(rs, senior)))
        records += await topic.collect(lambda rs: False, timeout=3)
        why = (await api.get(f"/people/{senior}/determinations", headers=OFFICE)).json()
        pro_why = await api.get(f"/people/{professional}/determinations", headers=OFFICE)

    [notice] = notices_for(records, senior)
    assert (notice["route"], notice["rule_id"], notice["rule_version"]) == ("plan", "plan-senior-talent", "1")
    assert notices_for(records, professional) == []
    assert pro_why.status_code == 404  # a professional completion is not a green-card matter
    assert why[-1]["eligible"] and any("senior subsidy" in e for e in why[-1]["evidence"])


async def register(api: httpx.AsyncClient, number: str, followers: int) -> dict[str, Any]:
    answer = await api.post(
        "/talents",
        headers=OFFICE,
        json={
            "id_number": number,
            "display_name": "Cashmere Queen",
            "evidence": [
                {"kind": "followers", "platform": "Douyin", "value": followers},
                {"kind": "local_presence", "detail": "runs a cashmere live room in Shijiazhuang"},
            ],
        },
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def verify_all(api: httpx.AsyncClient, talent: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = talent
    for item in talent["evidence"]:
        answer = (
            await api.post(
                f"/talents/{talent['id']}/evidence/{item['id']}/verification",
                json={"verified": True, "note": "checked the platform page"},
                headers=OFFICE,
            )
        ).json()
    return answer


async def test_an_introduced_talent_is_eligible_only_on_verified_evidence_over_the_threshold(
    infrastructure: Infrastructure, talent_card: TalentCard
) -> None:
    async with talent_card() as api, TopicWatcher(infrastructure.kafka, GreenCardEligible.topic) as topic:
        big = await register(api, id_number(), followers=2_000_000)
        small = await register(api, id_number(), followers=300_000)
        unverified = big["determination"]
        big_verified = await verify_all(api, big)
        small_verified = await verify_all(api, small)
        records = await topic.collect(lambda rs: bool(notices_for(rs, big["person_id"])))
        records += await topic.collect(lambda rs: False, timeout=2)
        duplicate = await api.post("/talents", headers=OFFICE, json={"id_number": "", "display_name": "x"})

    assert not unverified["eligible"] and "no verified influence" in unverified["explanation"]
    assert big_verified["determination"]["eligible"]
    assert "2,000,000 followers on Douyin (verified" in big_verified["determination"]["explanation"]
    assert big_verified["determination"]["rule_id"] == "introduced-influence"
    assert not small_verified["determination"]["eligible"]
    [notice] = notices_for(records, big["person_id"])
    assert notice["route"] == "introduced" and notices_for(records, small["person_id"]) == []
    assert duplicate.status_code == 422 and duplicate.json()["error"]["field"] == "id_number"
    assert big["id_masked"].count("*") == 8


async def test_changing_a_threshold_in_the_rules_changes_later_decisions_without_code(
    talent_card: TalentCard, tmp_path: Path
) -> None:
    relaxed = tmp_path / "rules.toml"
    relaxed.write_text(
        DEFAULT_RULES.read_text()
        .replace("min_followers = 1_000_000", "min_followers = 500_000")
        .replace('version = "1"\ndescription = "verified', 'version = "2"\ndescription = "verified')
    )
    async with talent_card() as api:
        talent = await verify_all(api, await register(api, id_number(), followers=600_000))
    async with talent_card(rules=relaxed) as api:
        again = (await api.post(f"/talents/{talent['id']}/evaluation", headers=OFFICE)).json()
        history = (await api.get(f"/people/{talent['person_id']}/determinations", headers=OFFICE)).json()
    assert not talent["determination"]["eligible"]
    assert again["determination"]["eligible"] and again["determination"]["rule_version"] == "2"
    assert [(d["rule_version"], d["eligible"]) for d in history][-1] == ("2", True)
    assert ("1", False) in [(d["rule_version"], d["eligible"]) for d in history]


async def test_a_person_eligible_by_both_routes_and_in_any_spelling_gets_one_notice(
    infrastructure: Infrastructure, talent_card: TalentCard
) -> None:
    number = id_number()
    same_person = pseudonymise(number, PII_KEY.encode()).trainee_id  # what enrollment would publish
    done = completion(enrolment(same_person, tier=Tier.SENIOR))
    async with talent_card() as api, TopicWatcher(infrastructure.kafka, GreenCardEligible.topic) as topic:
        await send(infrastructure, done, approval(done))
        await topic.collect(lambda rs: bool(notices_for(rs, same_person)))
        # registered in full-width digits: the same person enrollment knows by the ASCII number
        full_width = number.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
        talent = await verify_all(api, await register(api, full_width, followers=3_000_000))
        arabic_indic = number.translate(str.maketrans("0123456789X", "٠١٢٣٤٥٦٧٨٩x"))
        again = await api.post("/talents", headers=OFFICE, json={"id_number": arabic_indic, "display_name": "Again"})
        records = await topic.collect(lambda rs: False, timeout=3)
    assert again.status_code == 409 and again.json()["error"]["code"] == "talent_exists"

    assert talent["id_masked"] == number[:6] + "********" + number[14:]
    assert talent["person_id"] == same_person and talent["determination"]["eligible"]
    assert talent["determination"]["notice_id"] is None  # already noticed by the plan route
    assert notices_for(records, same_person) == []


async def test_the_inbox_workflow_acknowledge_issue_and_decline(talent_card: TalentCard) -> None:
    async with talent_card() as api:
        first = await verify_all(api, await register(api, id_number(), followers=5_000_000))
        second = await verify_all(api, await register(api, id_number(), followers=5_000_000))
        waiting = (
            await api.get("/notices", params={"status": "waiting", "route": "introduced"}, headers=OFFICE)
        ).json()
        a, b = first["determination"]["notice_id"], second["determination"]["notice_id"]
        acknowledged = await api.post(f"/notices/{a}/acknowledgement", headers=OFFICE)
        issued = await api.post(f"/notices/{a}/card", json={"card_number": "SJZ-GC-2020-0001"}, headers=OFFICE)
        reissued = await api.post(f"/notices/{a}/card", json={"card_number": "SJZ-GC-2020-0002"}, headers=OFFICE)
        same_card = await api.post(f"/notices/{b}/card", json={"card_number": "SJZ-GC-2020-0001"}, headers=OFFICE)
        declined = await api.post(f"/notices/{b}/declination", json={"reason": "moved to another city"}, headers=OFFICE)
        summary = (await api.get("/notices/summary", headers=OFFICE)).json()
        stranger = await api.get("/notices", headers={"X-API-Key": "wrong"})
    assert {n["id"] for n in waiting} == {a, b}
    assert all("*" in n["id_masked"] for n in waiting)
    assert acknowledged.json()["status"] == "acknowledged" and acknowledged.json()["acknowledged_by"].endswith("zhou")
    assert issued.json()["status"] == "issued" and issued.json()["card_number"] == "SJZ-GC-2020-0001"
    assert reissued.status_code == 409 and reissued.json()["error"]["code"] == "notice_already_issued"
    assert same_card.status_code == 409 and same_card.json()["error"]["code"] == "card_number_in_use"
    assert declined.json()["status"] == "declined" and declined.json()["decline_reason"] == "moved to another city"
    assert {(s["status"], s["count"]) for s in summary} == {("issued", 1), ("declined", 1)}
    assert stranger.status_code == 401


async def test_a_reversed_senior_subsidy_does_not_count_even_when_the_reversal_arrives_first(
    infrastructure: Infrastructure, talent_card: TalentCard
) -> None:
    senior = person("reversed-senior")
    done = completion(enrolment(senior, tier=Tier.SENIOR))
    paid = approval(done)
    undone = SubsidyReversed.create(
        source="funding",
        subject=senior,
        occurred_at=done.occurred_at,
        subsidy_id=paid.subsidy_id,
        trainee_id=senior,
        institution_id=done.institution_id,
        tier=Tier.SENIOR,
        amount_yuan=5000,
        reason="trainee did not attend",
    )
    async with talent_card() as api, TopicWatcher(infrastructure.kafka, GreenCardEligible.topic) as topic:
        await send(infrastructure, undone)  # the reversal is consumed before the approval and the completion
        await eventually(lambda: has_determinations(api, senior))
        await send(infrastructure, paid, done)
        await eventually(lambda: has_determinations(api, senior, 3))
        records = await topic.collect(lambda rs: False, timeout=3)
        why = (await api.get(f"/people/{senior}/determinations", headers=OFFICE)).json()
    assert notices_for(records, senior) == []
    assert not why[-1]["eligible"] and "waiting for the approved subsidy" in why[-1]["explanation"]


async def has_determinations(api: httpx.AsyncClient, person_id: str, count: int = 1) -> bool:
    answer = await api.get(f"/people/{person_id}/determinations", headers=OFFICE)
    return answer.status_code == 200 and len(answer.json()) >= count


async def test_a_registration_retried_with_its_idempotency_key_gets_the_same_talent(talent_card: TalentCard) -> None:
    number = id_number()
    body = {"id_number": number, "display_name": "Cashmere Queen", "evidence": []}
    async with talent_card() as api:
        first = await api.post("/talents", headers={**OFFICE, "Idempotency-Key": "reg-1"}, json=body)
        retried = await api.post("/talents", headers={**OFFICE, "Idempotency-Key": "reg-1"}, json=body)
        other_key = await api.post("/talents", headers={**OFFICE, "Idempotency-Key": "reg-2"}, json=body)
        no_key = await api.post("/talents", headers=OFFICE, json=body)
    assert first.status_code == retried.status_code == 201
    assert retried.json()["id"] == first.json()["id"]
    assert other_key.status_code == no_key.status_code == 409


async def test_the_talent_office_reads_of_a_person_are_audited_for_the_bureau(talent_card: TalentCard) -> None:
    bureau = {"X-API-Key": "bureau-test-key"}
    async with talent_card() as api:
        big = await register(api, id_number(), followers=2_000_000)
        await verify_all(api, big)  # eligible: a notice waits in the inbox
        person = big["person_id"]
        before = await api.get("/read-audit", params={"person_id": person}, headers=bureau)
        assert (await api.get(f"/talents/{big['id']}", headers=OFFICE)).status_code == 200
        assert (await api.get(f"/people/{person}/determinations", headers=OFFICE)).status_code == 200
        assert (await api.get("/notices", params={"route": "introduced"}, headers=OFFICE)).status_code == 200
        reads = await api.get("/read-audit", params={"person_id": person}, headers=bureau)
        office_may_not = await api.get("/read-audit", headers=OFFICE)
        bureau_may_not = await api.get("/notices", headers=bureau)

    assert before.json() == []
    assert [(r["actor"], r["route"]) for r in reads.json()] == [
        ("talent-office:officer-zhou", "GET /notices"),
        ("talent-office:officer-zhou", "GET /people/{person_id}/determinations"),
        ("talent-office:officer-zhou", "GET /talents/{talent_id}"),
    ]
    assert office_may_not.status_code == 401 and bureau_may_not.status_code == 401


async def test_a_running_service_keeps_its_start_up_out_of_the_collector_and_gives_it_back_when_stopped(
    talent_card: TalentCard,
) -> None:
    """`plan_runtime.service.running`: frozen start-up, young collections after 20,000 net allocations (a
    performance choice, docs/performance.md "Sixth round"); a stopped runtime unfreezes, so that a process starting
    runtimes one after another (tests, benchmarks) can collect the ones it stopped."""
    gc.unfreeze()
    async with talent_card() as client:
        assert (await client.get("/health/live")).status_code == 200
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() == 0
