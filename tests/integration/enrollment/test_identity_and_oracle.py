"""One human is one person, only inside the plan, and no institution learns who trains where (issue 9).

Through the real HTTP API, database and broker: every spelling of an ID number is the same person on
every path (single enrolment, CSV, JSON lines), impossible numbers and out-of-period dates are refused,
refusals reveal no one's id and are audited, probing institutions are flagged, suspension is an event.
"""

import json
from datetime import date, timedelta
from typing import Any

from plan_events import InstitutionReinstated, InstitutionSuspended, TierCompleted
from plan_events.calendar import plan_today
from plan_events.identity import check_digit
from tests.infrastructure import Infrastructure
from tests.integration.enrollment.test_enrollment_api import BUREAU, Enrollment, enrollment, institution, trainee
from tests.support.kafka import TopicWatcher
from tests.support.people import id_number

__all__ = ["enrollment"]  # the fixture, shared with the enrolment API tests

FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
ARABIC_INDIC = str.maketrans("0123456789X", "٠١٢٣٤٥٦٧٨٩x")


def spellings(number: str) -> list[str]:
    """The same number as people and spreadsheets write it."""
    return [
        number.translate(FULL_WIDTH),
        number.translate(ARABIC_INDIC),
        f" {number[:6]} {number[6:14]}\u200b{number[14:]} ".lower(),
        "\u3000" + number[:9].translate(FULL_WIDTH) + number[9:],
    ]


def number_born(born: date, region: str = "130102") -> str:
    first17 = f"{region}{born:%Y%m%d}123"
    return first17 + check_digit(first17)


def codes(summary: dict[str, Any]) -> list[str | None]:
    return [r["error"]["code"] if r["error"] else None for r in summary["results"]]


async def test_every_spelling_of_a_number_is_the_same_person_on_every_path(enrollment: Enrollment) -> None:
    number = id_number()
    async with enrollment() as api:
        village, cloud = await institution(api, "Village Room"), await institution(api, "Cloud Studio")
        first = await api.post("/enrollments", json=trainee(number=number), headers=village)
        assert first.status_code == 201, first.text
        for spelling in spellings(number):  # a single enrolment at another institution: the same person
            again = await api.post("/enrollments", json=trainee(number=spelling), headers=cloud)
            assert again.status_code == 409, (spelling, again.text)
            assert again.json()["error"]["code"] == "enrolled_elsewhere"
            here = await api.post("/enrollments", json=trainee(number=spelling), headers=village)
            assert here.json()["error"]["code"] == "already_enrolled"

        rows = [trainee(number=s) for s in spellings(number)]
        header = list(rows[0])
        csv_body = ",".join(header) + "\n" + "".join(",".join(str(r[c]) for c in header) + "\n" for r in rows)
        as_csv = await api.post("/cohorts", content=csv_body.encode(), headers={**cloud, "Content-Type": "text/csv"})
        jsonl = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
        as_jsonl = await api.post("/cohorts", content=jsonl, headers={**cloud, "Content-Type": "application/x-ndjson"})
        # within one upload, two spellings of one new person: the second is the same person too
        fresh = id_number()
        twice = "\n".join(json.dumps(trainee(number=n), ensure_ascii=False) for n in (fresh, *spellings(fresh)[:1]))
        one_upload = await api.post(
            "/cohorts", content=twice.encode(), headers={**cloud, "Content-Type": "application/x-ndjson"}
        )
        listing = (await api.get("/enrollments", headers=cloud)).json()

    for upload in (as_csv, as_jsonl):
        assert upload.status_code == 200, upload.text
        assert codes(upload.json()) == ["enrolled_elsewhere"] * len(rows)
    assert codes(one_upload.json()) == [None, "already_enrolled"]
    assert [e["id_masked"] for e in listing] == [fresh[:6] + "********" + fresh[14:]]  # stored in ASCII


async def test_numbers_that_cannot_be_real_are_refused_on_every_path(enrollment: Enrollment) -> None:
    tomorrow = plan_today() + timedelta(days=1)
    impossible = {
        "born tomorrow": number_born(tomorrow),
        "born in 2030": number_born(date(2030, 1, 1)),
        "region 000000": number_born(date(1998, 8, 8), region="000000"),
        "region 990000": number_born(date(1998, 8, 8), region="990000"),
        "a letter": "13010219980808A123",
    }
    async with enrollment() as api:
        village = await institution(api, "Village Room")
        single = [await api.post("/enrollments", json=trainee(number=n), headers=village) for n in impossible.values()]
        jsonl = "\n".join(json.dumps(trainee(number=n)) for n in impossible.values()).encode()
        bulk = await api.post("/cohorts", content=jsonl, headers={**village, "Content-Type": "application/x-ndjson"})
    for (why, _), answer in zip(impossible.items(), single, strict=True):
        assert answer.status_code == 422, why
        assert answer.json()["error"]["field"] == "id_number", why
    assert codes(bulk.json()) == ["invalid_id_number"] * len(impossible)


async def test_dates_outside_the_plan_or_in_the_future_and_ages_outside_training_are_refused(
    enrollment: Enrollment,
) -> None:
    async with enrollment() as api:
        village = await institution(api, "Village Room")
        starts = {
            day: await api.post("/enrollments", json=trainee(starts_on=day), headers=village)
            for day in ("2019-12-31", "2021-12-17", "9999-12-31", "0001-01-01", plan_today().isoformat())
        }
        child = await api.post("/enrollments", json=trainee(number=number_born(date(2010, 1, 1))), headers=village)
        ok = await api.post("/enrollments", json=trainee(starts_on="2021-12-01"), headers=village)
        enrolment = ok.json()["id"]
        ends = {
            day: await api.post(
                f"/enrollments/{enrolment}/completion", json={"completed_on": day, "passed": True}, headers=village
            )
            for day in ("2022-01-01", "9999-12-31", (plan_today() + timedelta(days=1)).isoformat())
        }
        still_open = (await api.get(f"/enrollments/{enrolment}", headers=village)).json()
        done = await api.post(
            f"/enrollments/{enrolment}/completion", json={"completed_on": "2021-12-31", "passed": True}, headers=village
        )

    for day, answer in starts.items():
        assert answer.status_code == 422, (day, answer.text)
        wanted = "date_in_future" if day.startswith("9999") else "outside_plan_period"
        assert (answer.json()["error"]["code"], answer.json()["error"]["field"]) == (wanted, "starts_on")
    assert child.json()["error"]["code"] == "age_out_of_range"
    for day, answer in ends.items():
        assert answer.status_code == 422, (day, answer.text)
        assert answer.json()["error"]["code"] == ("outside_plan_period" if day == "2022-01-01" else "date_in_future")
        assert answer.json()["error"]["field"] == "completed_on"
    assert still_open["status"] == "open" and done.status_code == 200


async def test_a_refusal_names_no_one_is_audited_and_a_probing_institution_is_flagged(enrollment: Enrollment) -> None:
    known = [id_number() for _ in range(20)]
    async with enrollment() as api:
        village, prober = await institution(api, "Village Room"), await institution(api, "Curious Agency")
        jsonl = "\n".join(json.dumps(trainee(number=n)) for n in known).encode()
        assert (
            await api.post("/cohorts", content=jsonl, headers={**village, "Content-Type": "application/x-ndjson"})
        ).json()["accepted"] == 20
        probe = "\n".join(
            json.dumps(trainee(tier="professional" if i % 2 else "basic", number=n)) for i, n in enumerate(known)
        )
        probed = await api.post(
            "/cohorts", content=probe.encode(), headers={**prober, "Content-Type": "application/x-ndjson"}
        )
        singles = [
            await api.post("/enrollments", json=trainee(number=n), headers={**prober, "Idempotency-Key": f"p{i}"})
            for i, n in enumerate(known[:3])
        ]
        replayed = await api.post(
            "/enrollments", json=trainee(number=known[0]), headers={**prober, "Idempotency-Key": "p0"}
        )
        lookups = (await api.get("/identity-lookups", headers=BUREAU)).json()
        flagged = (await api.get("/flagged-institutions", headers=BUREAU)).json()
        not_for_institutions = await api.get("/flagged-institutions", headers=prober)

    results = probed.json()["results"]
    assert {r["error"]["code"] for r in results} == {"enrolled_elsewhere", "tier_out_of_order"}
    assert all(r["trainee_id"] is None for r in results)  # a refusal never confirms who the person is
    assert "Village Room" not in probed.text and village["X-Institution"] not in probed.text
    assert [s.json()["error"]["code"] for s in singles] == ["enrolled_elsewhere"] * 3
    assert "trainee_id" not in singles[0].text
    assert replayed.status_code == 409 and replayed.headers.get("Idempotent-Replay") == "true"
    mine = [e for e in lookups if e["actor"] == f"institution:{prober['X-Institution']}"]
    assert len(mine) == 20 + 3 and {e["action"] for e in mine} == {"identity_lookup"}  # single refusals too
    assert [(f["institution_id"], f["rows"], f["refused"]) for f in flagged] == [(prober["X-Institution"], 23, 23)]
    assert not_for_institutions.status_code == 401


async def test_suspension_and_reinstatement_are_events_and_completions_carry_the_status(
    infrastructure: Infrastructure, enrollment: Enrollment
) -> None:
    async with (
        TopicWatcher(infrastructure.kafka, InstitutionSuspended.topic) as suspended,
        TopicWatcher(infrastructure.kafka, InstitutionReinstated.topic) as reinstated,
        TopicWatcher(infrastructure.kafka, TierCompleted.topic) as completed,
        enrollment() as api,
    ):
        village = await institution(api, "Village Room")
        who = village["X-Institution"]
        enrolment = (await api.post("/enrollments", json=trainee(), headers=village)).json()["id"]
        suspend = await api.post(
            f"/institutions/{who}/suspension", json={"reason": "audit of attendance"}, headers=BUREAU
        )
        again = await api.post(f"/institutions/{who}/suspension", json={"reason": "twice"}, headers=BUREAU)
        refused = await api.post("/enrollments", json=trainee(), headers=village)
        finished = await api.post(
            f"/enrollments/{enrolment}/completion", json={"completed_on": "2020-08-24", "passed": True}, headers=village
        )
        back = await api.post(f"/institutions/{who}/reinstatement", json={"reason": "audit passed"}, headers=BUREAU)
        stopped = await suspended.collect(lambda rs: len(rs) >= 1, timeout=15)
        resumed = await reinstated.collect(lambda rs: len(rs) >= 1, timeout=15)
        done = await completed.collect(lambda rs: len(rs) >= 1, timeout=15)
        stopped += await suspended.collect(lambda rs: False, timeout=1)

    assert suspend.json()["status"] == "suspended" and again.json()["status_seq"] == suspend.json()["status_seq"]
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "institution_suspended"
    assert finished.status_code == 200  # the course happened: the Bureau counts it; funding holds the money
    assert back.json()["status"] == "active"
    mine = [json.loads(r.value) for r in stopped if r.key == who.encode()]
    assert [(e["reason"], e["status_seq"]) for e in mine] == [("audit of attendance", 1)]  # once, not twice
    [resumed_event] = [json.loads(r.value) for r in resumed if r.key == who.encode()]
    assert resumed_event["status_seq"] == 2
    [completion] = [e for e in (json.loads(r.value) for r in done) if e["enrollment_id"] == enrolment]
    assert (completion["institution_status"], completion["institution_status_seq"]) == ("suspended", 1)
