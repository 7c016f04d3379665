"""The enrollment service over HTTP, on the real database and broker."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from enrollment import cohort
from enrollment.main import build_app
from enrollment.settings import Settings
from plan_events import EnrollmentWithdrawn, TierCompleted, TraineeEnrolled
from tests.infrastructure import Infrastructure
from tests.integration.conftest import Schema
from tests.support.contracts.enrollment_store import trainee
from tests.support.kafka import TopicWatcher
from tests.support.people import id_number
from tests.support.services import serving

BUREAU = {"X-API-Key": "bureau-test-key", "X-Actor": "director-liu"}
Enrollment = Callable[[], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def enrollment(infrastructure: Infrastructure, schema: Schema) -> Enrollment:
    @asynccontextmanager
    async def start() -> AsyncIterator[httpx.AsyncClient]:
        settings = Settings(
            database_url=infrastructure.database_url,
            migrate_on_start=True,  # a throw-away schema, migrated by the admin it runs as
            db_schema=schema.name,
            kafka_bootstrap_servers=infrastructure.kafka,
            pii_hmac_key="test-hmac-key",  # type: ignore[arg-type]
            bureau_api_key="bureau-test-key",
            relay_poll_seconds=0.2,
        )  # type: ignore[arg-type]
        async with serving(build_app(settings)) as client:
            yield client

    return start


async def institution(api: httpx.AsyncClient, name: str) -> dict[str, str]:
    """Accredits an institution and returns the headers its staff would send."""
    created = await api.post("/institutions", json={"name": name, "mode": "offline"}, headers=BUREAU)
    assert created.status_code == 201, created.text
    key = await api.post(f"/institutions/{created.json()['id']}/keys", headers=BUREAU)
    return {"X-API-Key": key.json()["api_key"], "X-Institution": created.json()["id"]}


def events_for(records: list, enrollment_id: str) -> list[dict[str, Any]]:  # type: ignore[type-arg]
    return [e for e in (json.loads(r.value) for r in records) if e["enrollment_id"] == enrollment_id]


async def test_an_enrolment_is_published_once_even_when_retried_and_when_the_relay_restarts(
    infrastructure: Infrastructure, enrollment: Enrollment
) -> None:
    person = trainee()
    async with TopicWatcher(infrastructure.kafka, TraineeEnrolled.topic) as topic:
        async with enrollment() as api:
            village = await institution(api, "Village Room")
            first = await api.post("/enrollments", json=person, headers={**village, "Idempotency-Key": "enrol-1"})
            retry = await api.post("/enrollments", json=person, headers={**village, "Idempotency-Key": "enrol-1"})
            other_body = await api.post(
                "/enrollments", json=trainee(), headers={**village, "Idempotency-Key": "enrol-1"}
            )
        assert first.status_code == 201, first.text
        async with enrollment():  # the relay (whole service) restarts
            records = await topic.collect(lambda rs: bool(events_for(rs, first.json()["id"])))
            records += await topic.collect(lambda rs: False, timeout=3)

    assert first.status_code == 201 and retry.status_code == 201 and retry.json() == first.json()
    assert retry.headers["Idempotent-Replay"] == "true"
    assert other_body.status_code == 422 and other_body.json()["error"]["code"] == "idempotency_key_reused"
    [event] = events_for(records, first.json()["id"])
    assert event["tier"] == "basic" and event["trainee_id"] == first.json()["trainee_id"]
    raw = b"".join(r.value for r in records)
    assert person["id_number"].encode() not in raw and b"Liu Jiaqi" not in raw and b"13800138000" not in raw
    assert first.json()["id_masked"] == person["id_number"][:6] + "********" + person["id_number"][14:]


async def test_each_rule_refuses_with_its_code_and_names_the_field(enrollment: Enrollment) -> None:
    number = id_number()
    async with enrollment() as api:
        village, cloud = await institution(api, "Village Room"), await institution(api, "Cloud Studio")

        async def enrol(headers: dict[str, str], **changes: Any) -> httpx.Response:
            return await api.post("/enrollments", json=trainee(number=number, **changes), headers=headers)

        too_high = await enrol(village, tier="professional")
        basic = await enrol(village)
        again = await enrol(village)
        elsewhere = await enrol(cloud)
        too_soon = await api.post(
            f"/enrollments/{basic.json()['id']}/completion",
            json={"completed_on": "2020-08-20", "passed": True},
            headers=village,
        )
        passed = await api.post(
            f"/enrollments/{basic.json()['id']}/completion",
            json={"completed_on": "2020-08-23", "passed": True, "outcome": "own_business"},
            headers=village,
        )
        twice = await api.post(
            f"/enrollments/{basic.json()['id']}/completion",
            json={"completed_on": "2020-08-24", "passed": True},
            headers=village,
        )
        basic_again = await enrol(cloud)
        professional = await enrol(cloud, tier="professional")
        bad_id = await api.post("/enrollments", json=trainee(number="130102199808080000"), headers=village)
        bad_phone = await api.post("/enrollments", json=trainee(phone="555"), headers=village)
        withdrawn = await api.post(
            f"/enrollments/{professional.json()['id']}/withdrawal", json={"reason": "found a job"}, headers=cloud
        )
        withdrawn_twice = await api.post(
            f"/enrollments/{professional.json()['id']}/withdrawal", json={"reason": "found a job"}, headers=cloud
        )
        no_key = await api.post("/enrollments", json=trainee(), headers={"X-API-Key": "inst_nope_nope"})

    def error(answer: httpx.Response) -> tuple[int, str, str | None]:
        return answer.status_code, answer.json()["error"]["code"], answer.json()["error"]["field"]

    assert error(too_high) == (409, "tier_out_of_order", "tier")
    assert basic.status_code == 201
    assert error(again) == (409, "already_enrolled", "tier")
    assert error(elsewhere) == (409, "enrolled_elsewhere", "tier")
    assert "Village" not in elsewhere.text and village["X-Institution"] not in elsewhere.text
    assert error(too_soon) == (422, "course_too_short", "completed_on")
    assert passed.status_code == 200 and passed.json()["outcome"] == "own_business"
    assert error(twice) == (409, "enrollment_not_open", "enrollment_id")
    assert error(basic_again) == (409, "tier_already_completed", "tier")
    assert professional.status_code == 201  # another institution may train the next tier
    assert error(bad_id) == (422, "invalid_request", "id_number") and "check digit" in bad_id.text
    assert error(bad_phone) == (422, "invalid_request", "phone")
    assert withdrawn.status_code == 200 and error(withdrawn_twice) == (409, "enrollment_not_open", "enrollment_id")
    assert error(no_key) == (401, "unauthorized", "X-API-Key")


async def test_a_suspended_institution_cannot_enrol_until_reinstated(enrollment: Enrollment) -> None:
    async with enrollment() as api:
        village = await institution(api, "Village Room")
        reason = {"reason": "inspection found no classroom"}
        await api.post(f"/institutions/{village['X-Institution']}/suspension", json=reason, headers=BUREAU)
        refused = await api.post("/enrollments", json=trainee(), headers=village)
        await api.post(f"/institutions/{village['X-Institution']}/reinstatement", json=reason, headers=BUREAU)
        accepted = await api.post("/enrollments", json=trainee(), headers=village)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "institution_suspended"
    assert accepted.status_code == 201


async def test_institution_a_cannot_see_or_change_institution_bs_trainees(enrollment: Enrollment) -> None:
    async with enrollment() as api:
        village, cloud = await institution(api, "Village Room"), await institution(api, "Cloud Studio")
        theirs = (await api.post("/enrollments", json=trainee(), headers=village)).json()["id"]
        look = await api.get(f"/enrollments/{theirs}", headers=cloud)
        complete = await api.post(
            f"/enrollments/{theirs}/completion", json={"completed_on": "2020-09-01", "passed": True}, headers=cloud
        )
        withdraw = await api.post(f"/enrollments/{theirs}/withdrawal", json={"reason": "not ours"}, headers=cloud)
        listing = await api.get("/enrollments", headers=cloud)
        still_open = await api.get(f"/enrollments/{theirs}", headers=village)
    assert [a.status_code for a in (look, complete, withdraw)] == [404, 404, 404]
    assert listing.json() == [] and still_open.json()["status"] == "open"


async def test_a_bulk_cohort_of_10000_rows_accepts_exactly_the_good_rows(
    infrastructure: Infrastructure, enrollment: Enrollment
) -> None:
    rows = [trainee() for _ in range(10_000)]
    bad = {17: {"id_number": "130102199808081234"}, 4242: {"phone": "123"}, 9999: {"tier": "senior"}}
    for index, change in bad.items():
        rows[index] = {**rows[index], **change}
    rows[5000] = {**rows[10], "name": "Same person, again"}  # a duplicate inside the upload
    body = "\n".join(json.dumps(r) for r in rows).encode()
    async with TopicWatcher(infrastructure.kafka, TraineeEnrolled.topic) as topic, enrollment() as api:
        village = await institution(api, "Village Room")
        answer = await api.post(
            "/cohorts", content=body, headers={**village, "Content-Type": "application/x-ndjson"}, timeout=120
        )
        result = answer.json()
        accepted_ids = {r["enrollment_id"] for r in result["results"] if r["accepted"]}
        records = await topic.collect(
            lambda rs: accepted_ids <= {json.loads(r.value)["enrollment_id"] for r in rs}, timeout=60
        )
        listed = await api.get("/enrollments", params={"limit": 1}, headers=village)

    assert answer.status_code == 200
    assert (result["rows"], result["accepted"], result["rejected"]) == (10_000, 9_996, 4)
    refused = {r["row"]: r["error"]["code"] for r in result["results"] if not r["accepted"]}
    assert refused == {
        18: "invalid_id_number",
        4243: "invalid_field",
        5001: "already_enrolled",
        10000: "tier_out_of_order",
    }
    published = [json.loads(r.value)["enrollment_id"] for r in records]
    assert set(published) & accepted_ids == accepted_ids and len(set(published) & accepted_ids) == len(accepted_ids)
    assert len([p for p in published if p in accepted_ids]) == 9_996  # once each
    assert listed.status_code == 200


async def test_the_progress_report_equals_what_was_posted(enrollment: Enrollment) -> None:
    async with enrollment() as api:
        village = await institution(api, "Village Room")
        ids = []
        for group in ("college_graduate", "unemployed", "unemployed", "rural_household"):
            answer = await api.post("/enrollments", json=trainee(target_group=group), headers=village)
            ids.append(answer.json()["id"])
        await api.post(
            f"/enrollments/{ids[0]}/completion",
            json={"completed_on": "2020-08-30", "passed": True, "outcome": "employed"},
            headers=village,
        )
        await api.post(
            f"/enrollments/{ids[1]}/completion", json={"completed_on": "2021-01-05", "passed": False}, headers=village
        )
        await api.post(f"/enrollments/{ids[2]}/withdrawal", json={"reason": "moved away"}, headers=village)
        await api.put(f"/enrollments/{ids[1]}/outcome", json={"outcome": "seeking"}, headers=village)
        report = (await api.get("/progress", headers=BUREAU)).json()
        anonymous = await api.get("/progress")

    basic = report["tiers"]["basic"]
    assert {k: basic[k] for k in ("enrolled", "open", "completed", "failed", "withdrawn", "employed")} == {
        "enrolled": 4,
        "open": 1,
        "completed": 1,
        "failed": 1,
        "withdrawn": 1,
        "employed": 1,
    }
    assert basic["completion_rate"] == 0.25 and basic["employment_rate"] == 1.0
    assert basic["targets"] == {"plan": 100_000, "2020": 20_000, "2021": 80_000}
    assert {(r["start_year"], r["enrolled"], r["target"]) for r in report["by_start_year"] if r["tier"] == "basic"} == {
        (2020, 4, 20_000)
    }
    groups = {r["target_group"]: r["enrolled"] for r in report["by_target_group"] if r["tier"] == "basic"}
    assert groups == {"college_graduate": 1, "unemployed": 2, "rural_household": 1}
    by_year = {r["completion_year"]: r["completed"] for r in report["by_completion_year"] if r["tier"] == "basic"}
    assert by_year == {2020: 1, 2021: 0}
    assert [r["institution_id"] for r in report["by_institution"]] == [village["X-Institution"]]
    assert anonymous.status_code == 401


async def test_completions_and_withdrawals_are_published_with_their_facts(
    infrastructure: Infrastructure, enrollment: Enrollment
) -> None:
    async with (
        TopicWatcher(infrastructure.kafka, TierCompleted.topic) as completions,
        TopicWatcher(infrastructure.kafka, EnrollmentWithdrawn.topic) as withdrawals,
        enrollment() as api,
    ):
        village = await institution(api, "Village Room")
        done = (await api.post("/enrollments", json=trainee(), headers=village)).json()["id"]
        gone = (await api.post("/enrollments", json=trainee(), headers=village)).json()["id"]
        await api.post(
            f"/enrollments/{done}/completion",
            json={"completed_on": "2020-08-23", "passed": True, "outcome": "employed"},
            headers=village,
        )
        await api.post(f"/enrollments/{gone}/withdrawal", json={"reason": "moved away"}, headers=village)
        completed = await completions.collect(lambda rs: bool(events_for(rs, done)))
        withdrawn = await withdrawals.collect(lambda rs: bool(events_for(rs, gone)))
    [c] = events_for(completed, done)
    [w] = events_for(withdrawn, gone)
    assert (c["passed"], c["outcome"], c["completed_on"], c["target_group"]) == (
        True,
        "employed",
        "2020-08-23",
        "rural_household",
    )
    assert w["reason"] == "moved away"


async def test_bulk_completions_write_the_good_rows_and_refuse_each_bad_one_with_its_reason(
    infrastructure: Infrastructure, enrollment: Enrollment
) -> None:
    async with TopicWatcher(infrastructure.kafka, TierCompleted.topic) as topic, enrollment() as api:
        village, cloud = await institution(api, "Village Room"), await institution(api, "Cloud Studio")
        ours = [(await api.post("/enrollments", json=trainee(), headers=village)).json()["id"] for _ in range(3)]
        theirs = (await api.post("/enrollments", json=trainee(), headers=cloud)).json()["id"]
        rows = [
            {"enrollment_id": ours[0], "completed_on": "2020-08-25", "passed": True, "outcome": "employed"},
            {"enrollment_id": ours[1], "completed_on": "2020-08-10", "passed": True},  # too soon
            {"enrollment_id": theirs, "completed_on": "2020-08-25", "passed": True},  # not ours
            {"enrollment_id": ours[2], "completed_on": "2020-08-25", "passed": False},
            {"enrollment_id": ours[0], "completed_on": "2020-08-26", "passed": True},  # twice in one upload
            {"enrollment_id": "not-a-uuid", "completed_on": "2020-08-25", "passed": True},
        ]
        answer = await api.post(
            "/completions",
            content="\n".join(json.dumps(r) for r in rows),
            headers={**village, "Content-Type": "application/x-ndjson"},
        )
        records = await topic.collect(lambda rs: bool(events_for(rs, ours[2])))
        records += await topic.collect(lambda rs: False, timeout=2)
    result = answer.json()
    assert (result["accepted"], result["rejected"]) == (2, 4)
    assert {r["row"]: r["error"]["code"] for r in result["results"] if not r["accepted"]} == {
        2: "course_too_short",
        3: "enrollment_not_found",
        5: "enrollment_not_open",
        6: "invalid_field",
    }
    assert [len(events_for(records, e)) for e in (*ours, theirs)] == [1, 0, 1, 0]


async def test_bulk_withdrawals_write_the_good_rows_and_refuse_each_bad_one_with_its_reason(
    infrastructure: Infrastructure, enrollment: Enrollment
) -> None:
    async with TopicWatcher(infrastructure.kafka, EnrollmentWithdrawn.topic) as topic, enrollment() as api:
        village, cloud = await institution(api, "Leaving Room"), await institution(api, "Staying Studio")
        ours = [(await api.post("/enrollments", json=trainee(), headers=village)).json()["id"] for _ in range(4)]
        theirs = (await api.post("/enrollments", json=trainee(), headers=cloud)).json()["id"]
        done = {"completed_on": "2020-08-25", "passed": True}
        assert (await api.post(f"/enrollments/{ours[3]}/completion", json=done, headers=village)).status_code == 200
        csv_body = "\n".join(
            [
                "enrollment_id,reason",
                f"{ours[0]},moved away",
                f"{theirs},not ours",
                f"{ours[1]},no",  # too short a reason
                f"{ours[0]},twice in one upload",
                f"{ours[3]},already completed",
                f'{ours[2]},"found a job, in Shenyang"',
                "not-a-uuid,a reason",
            ]
        )
        answer = await api.post("/withdrawals", content=csv_body, headers={**village, "Content-Type": "text/csv"})
        records = await topic.collect(lambda rs: bool(events_for(rs, ours[2])))
        records += await topic.collect(lambda rs: False, timeout=2)
        again = await api.post("/withdrawals", content=csv_body, headers={**village, "Content-Type": "text/csv"})
        statuses = [(await api.get(f"/enrollments/{e}", headers=village)).json() for e in ours]
    result = answer.json()
    assert answer.status_code == 200 and (result["rows"], result["accepted"], result["rejected"]) == (7, 2, 5)
    assert {r["row"]: r["error"]["code"] for r in result["results"] if not r["accepted"]} == {
        2: "enrollment_not_found",
        3: "invalid_field",
        4: "enrollment_not_open",
        5: "enrollment_not_open",
        7: "invalid_field",
    }
    assert [r["error"]["field"] for r in result["results"] if not r["accepted"]] == [
        "enrollment_id",
        "reason",
        "enrollment_id",
        "enrollment_id",
        "enrollment_id",
    ]
    assert [(s["status"], s["withdrawn_reason"]) for s in statuses] == [
        ("withdrawn", "moved away"),
        ("open", None),
        ("withdrawn", "found a job, in Shenyang"),
        ("completed", None),
    ]
    assert [len(events_for(records, e)) for e in (*ours, theirs)] == [1, 0, 1, 0, 0]
    assert again.json()["accepted"] == 0  # sent again (no Idempotency-Key): every row is refused, nothing twice


async def test_every_read_of_a_persons_record_is_audited_and_the_bureau_can_query_it(enrollment: Enrollment) -> None:
    async with enrollment() as api:
        village = await institution(api, "Reading Room")
        mine = await api.post("/enrollments", json=trainee(), headers=village)
        other = await api.post("/enrollments", json=trainee(), headers=village)
        assert mine.status_code == 201 and other.status_code == 201
        person, who = mine.json()["trainee_id"], f"institution:{village['X-Institution']}"
        before = await api.get("/read-audit", params={"person_id": person}, headers=BUREAU)
        assert (await api.get(f"/enrollments/{mine.json()['id']}", headers=village)).status_code == 200
        assert (await api.get("/enrollments", headers=village)).status_code == 200
        assert (await api.get("/legacy-identities", headers=BUREAU)).status_code == 200  # no one shown: no row
        reads = await api.get("/read-audit", params={"person_id": person}, headers=BUREAU)
        by_actor = await api.get("/read-audit", params={"actor": who}, headers=BUREAU)
        refused = await api.get("/read-audit", headers=village)
        control = await api.get("/read-audit", params={"person_id": "a\x00b"}, headers=BUREAU)

    assert before.status_code == 200 and before.json() == []  # writing a record is not reading it
    assert [(r["actor"], r["route"], r["person_id"]) for r in reads.json()] == [
        (who, "GET /enrollments", person),
        (who, "GET /enrollments/{enrollment_id}", person),
    ]
    assert sorted(r["person_id"] for r in by_actor.json()) == sorted([person, person, other.json()["trainee_id"]])
    assert refused.status_code == 401  # an institution may not read the audit
    assert control.status_code == 422 and control.json()["error"]["field"] == "query.person_id"


async def test_each_bulk_route_hands_memory_back_once_its_last_upload_is_answered(
    enrollment: Enrollment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the upload's fate (accepted rows, refused rows, an unreadable body), the bulk routes leave no upload
    counted in flight, and the memory is trimmed each time the count falls to zero, never while one runs."""
    trims: list[int] = []
    monkeypatch.setattr(cohort.uploads, "_trim", lambda pad: trims.append(cohort.uploads.in_flight + pad))
    async with enrollment() as api:
        village = await institution(api, "Trim Room")
        csv = {**village, "Content-Type": "text/csv"}
        cohort_body = "id_number,name,phone,target_group,tier,mode,starts_on,niche\n" + "".join(
            f"{id_number()},Liu Jiaqi,13800138000,rural_household,basic,offline,2020-08-08,pears\n" for _ in range(3)
        )
        enrolled = await api.post("/cohorts", content=cohort_body, headers=csv)
        ids = [r["enrollment_id"] for r in enrolled.json()["results"]]
        answers = [
            enrolled,
            await api.post(
                "/completions", content=f"enrollment_id,completed_on,passed\n{ids[0]},2020-08-25,false\n", headers=csv
            ),
            await api.post("/withdrawals", content=f"enrollment_id,reason\n{ids[1]},moved away\n", headers=csv),
            await api.post(
                "/cohorts", content=b"\xff\xfe not a table", headers={**village, "Content-Type": "image/png"}
            ),
        ]
        assert [a.status_code for a in answers] == [200, 200, 200, 422], [a.text for a in answers]
        assert trims == [0, 0, 0, 0] and cohort.uploads.in_flight == 0
        await asyncio.gather(*(api.post("/cohorts", content=cohort_body, headers=csv) for _ in range(3)))
    assert 5 <= len(trims) <= 7 and set(trims) == {0} and cohort.uploads.in_flight == 0
