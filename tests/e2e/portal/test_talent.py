"""The talent office's pages in a real browser, after the cohort: the inbox holds the notices the senior passers
produced (GET /notices), its tabs count GET /notices/summary; one notice acknowledged then issued a card, another
declined; a person's determinations; a talent registered and their evidence verified; every table's CSV and
XLSX equal the page; screenshots in zh and en."""

import random
from typing import Any

from plan_events.identity import check_digit
from tests.e2e.portal.test_finance import exports_match_the_page, problems, submit, watch
from tests.support.portal import PlanSystem, Portal


def new_id_number(seed: int) -> str:
    """A valid ID number nobody in the cohort has (born 1990-1999 in Shijiazhuang's Chang'an district)."""
    draw = random.Random(seed)
    born = f"{draw.randint(1990, 1999)}{draw.randint(1, 12):02d}{draw.randint(1, 28):02d}"
    first17 = f"130102{born}{draw.randint(0, 999):03d}"
    return first17 + check_digit(first17)


def test_the_talent_office_pages(system: PlanSystem, as_role: Any) -> None:
    view: Portal = as_role("talent_office")
    failed = watch(view)
    api = lambda method, path, **kw: system.call("talent-card", method, path, "talent_office", **kw)

    # --- the inbox: tabs count GET /notices/summary; the plan route holds the senior passers' notices ------------
    summary = api("GET", "/notices/summary").json()
    view.goto("/talent")
    for status in ("waiting", "acknowledged", "issued", "declined"):
        expected = sum(c["count"] for c in summary if c["status"] == status)
        assert view.page.locator(f"#count-{status}").inner_text() == str(expected), status
    assert view.page.locator("#count-all").inner_text() == str(sum(c["count"] for c in summary))
    plan = api("GET", "/notices", params={"route": "plan", "limit": 1000}).json()
    assert plan and {n["person_id"] for n in plan} <= system.sent.senior_passers
    view.goto("/talent?status=all&route=plan")
    shown = exports_match_the_page(view, "notices")
    assert sorted(r[1] for r in shown[1:]) == sorted(n["person_id"] for n in plan)
    view.goto("/talent")
    waiting = exports_match_the_page(view, "notices")
    assert len(waiting) - 1 == min(50, sum(c["count"] for c in summary if c["status"] == "waiting"))
    view.shoot("talent-inbox")

    # --- acknowledge one notice and issue its card; decline another ----------------------------------------------
    first, second = [n for n in plan if n["status"] == "waiting"][:2]
    assert submit(view, f"#ack-{first['id']} button") == 303
    assert "ok=notice-acknowledge" in view.page.url
    acknowledged = api("GET", "/notices", params={"status": "acknowledged", "limit": 1000}).json()
    assert first["id"] in {n["id"] for n in acknowledged}
    view.goto("/talent?status=acknowledged")
    assert view.page.locator("#count-acknowledged").inner_text() == str(len(acknowledged))
    view.page.fill(f"#card-{first['id']} input[name=card_number]", "SJZ-GC-2020-0001")
    assert submit(view, f"#card-{first['id']} button") == 303
    issued = next(n for n in api("GET", "/notices", params={"status": "issued"}).json() if n["id"] == first["id"])
    assert issued["card_number"] == "SJZ-GC-2020-0001"
    assert view.page.locator("#tab-acknowledged.here").count() == 1  # back on the tab it was acted on from
    view.goto("/talent")
    view.page.fill(f"#decline-{second['id']} input[name=reason]", "moved to another city")
    assert submit(view, f"#decline-{second['id']} button") == 303
    declined = api("GET", "/notices", params={"status": "declined", "limit": 1000}).json()
    assert (second["id"], "moved to another city") in {(n["id"], n["decline_reason"]) for n in declined}
    view.goto("/talent?status=issued")
    issued_rows = exports_match_the_page(view, "notices")
    assert [first["person_id"], "SJZ-GC-2020-0001"] in [[r[1], r[7]] for r in issued_rows[1:]]

    # --- a person's determinations, searched by pseudonym; an ID number is refused ------------------------------
    answer = view.page.goto(f"{system.url}/talent/people?person_id={new_id_number(1)}")
    assert answer is not None and answer.status == 422
    assert view.page.locator("#p-person ~ .field-error").is_visible()
    view.page.fill("#p-person", first["person_id"])
    view.page.click("#p-search")
    view.page.wait_for_load_state("load")
    determinations = api("GET", f"/people/{first['person_id']}/determinations").json()
    rows = exports_match_the_page(view, "determinations")
    assert len(rows) - 1 == len(determinations) > 0
    view.shoot("talent-people")

    # --- register a talent with evidence, verify it: eligible --------------------------------------------------
    view.goto("/talent/talents")
    view.page.fill("#t-id", new_id_number(2))
    view.page.fill("#t-name", "Cashmere Queen")
    view.page.fill("#t-platform", "Douyin")
    view.page.fill("#t-followers", "abc")
    assert submit(view, "#talent-register") == 422
    assert view.page.locator("#t-followers ~ .field-error").is_visible()  # 422: not a number
    assert view.page.locator("#t-name").input_value() == "Cashmere Queen"
    view.page.fill("#t-followers", "2400000")
    view.page.fill("#t-presence", "runs a cashmere live room in Shijiazhuang")
    assert submit(view, "#talent-register") == 303
    assert "ok=talent-registered" in view.page.url
    talent_id = view.page.locator("#talent-id").inner_text()
    talent = api("GET", f"/talents/{talent_id}").json()
    assert [e["status"] for e in talent["evidence"]] == ["declared", "declared"]
    assert view.page.locator("#determination").get_attribute("data-eligible") == "no"
    view.shoot("talent-talent")
    for evidence in talent["evidence"]:
        view.page.fill(f"#verify-{evidence['id']} input[name=note]", "platform page checked")
        assert submit(view, f"#verify-{evidence['id']} button[value=verify]") == 303
    talent = api("GET", f"/talents/{talent_id}").json()
    assert [e["status"] for e in talent["evidence"]] == ["verified", "verified"]
    assert talent["determination"]["eligible"] is True
    assert view.page.locator("#determination").get_attribute("data-eligible") == "yes"
    exports_match_the_page(view, "evidence")
    assert submit(view, "#evaluate") == 303
    assert "ok=talent-evaluated" in view.page.url
    view.shoot("talent-talent")
    introduced = api("GET", "/notices", params={"route": "introduced", "limit": 1000}).json()
    assert talent["person_id"] in {n["person_id"] for n in introduced}
    view.goto("/talent/talents")
    listed = exports_match_the_page(view, "talents")
    assert listed[1][1] == "Cashmere Queen" and listed[1][3] == talent["person_id"]
    view.shoot("talent-talents")

    # --- operations ------------------------------------------------------------------------------------------------
    view.goto("/talent/operations")
    assert len(exports_match_the_page(view, "dead_letters")) - 1 == len(api("GET", "/dead-letters").json())
    assert len(exports_match_the_page(view, "parked")) - 1 == len(api("GET", "/dead-letters/outbox/parked").json())
    view.shoot("talent-operations")
    assert problems(view, failed) == []

    # --- the same pages in English ---------------------------------------------------------------------------------
    english: Portal = as_role("talent_office", "en")
    english_failed = watch(english)
    for path, name in (
        ("/talent", "talent-inbox"),
        (f"/talent/people?person_id={first['person_id']}", "talent-people"),
        ("/talent/talents", "talent-talents"),
        (f"/talent/talents/{talent_id}", "talent-talent"),
        ("/talent/operations", "talent-operations"),
    ):
        english.goto(path)
        assert english.page.locator("html").get_attribute("lang") == "en"
        english.shoot(name)
    assert english.page.locator("h1").inner_text() == "Talent card: dead letters and parked events"
    assert problems(english, english_failed) == []
