"""The HTTP edge authenticates before it reads a body: a wrong or revoked key never gets a byte of it read."""

from collections.abc import AsyncIterator

from tests.integration.enrollment.test_enrollment_api import BUREAU, Enrollment, enrollment, institution, trainee

__all__ = ["enrollment"]  # the fixture, shared with the API tests


async def test_a_wrong_or_revoked_key_is_refused_before_the_body_is_read(enrollment: Enrollment) -> None:
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(100):
            pulled += 1
            yield b"x" * 10_000

    async with enrollment() as api:
        staff = await institution(api, "Edge Auth Academy")
        key_id = staff["X-API-Key"].split("_")[1]
        works = await api.post("/enrollments", json=trainee(), headers=staff)
        assert works.status_code == 201, works.text
        refusals = [
            await api.post("/cohorts", content=body(), headers={"X-API-Key": "inst_" + "0" * 32 + "_nope"}),
            await api.post("/cohorts", content=body(), headers={"X-API-Key": staff["X-API-Key"] + "x"}),
            await api.post("/cohorts", content=body(), headers={"X-API-Key": "finance-or-anyone"}),
        ]
        revoked = await api.delete(f"/institutions/{staff['X-Institution']}/keys/{key_id}", headers=BUREAU)
        assert revoked.status_code == 204, revoked.text
        refusals.append(await api.post("/cohorts", content=body(), headers=staff))  # at once, no cache
        refusals.append(await api.post("/enrollments", json=trainee(), headers=staff))
        # a valid key of another role passes the edge; the route still refuses it (not the institution's route)
        wrong_role = await api.post("/cohorts", content=b"", headers={**BUREAU, "Content-Type": "text/csv"})

    for answer in refusals:
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "unauthorized"
        assert answer.json()["error"]["field"] == "X-API-Key"
    assert pulled == 0  # not one chunk of any refused body was read
    assert wrong_role.status_code == 401 and "institution key" in wrong_role.json()["error"]["message"]
