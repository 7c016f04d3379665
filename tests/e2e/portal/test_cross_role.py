"""One role acts, another role's open page changes by itself: the pages follow the events (server-sent events).

An institution uploads a cohort through its page while the Bureau's progress page stays open in another
browser; without a reload, the Bureau's count of enrolments grows by the accepted rows. Then the Bureau suspends
that institution on its institutions page, and the institution's overview, open meanwhile, says so."""

import csv
import io
import re
from typing import Any

from playwright.sync_api import Browser, FilePayload

from tests.support.people import id_number
from tests.support.portal import PlanSystem, Portal


def _number(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


def _cohort(mode: str, count: int) -> bytes:
    out = io.StringIO()
    header = ["id_number", "name", "phone", "target_group", "tier", "mode", "starts_on"]
    writer = csv.DictWriter(out, header, lineterminator="\n")
    writer.writeheader()
    for _ in range(count):
        writer.writerow(
            {"id_number": id_number("19980303"), "name": "Chen Xi", "phone": "13700137000",
             "target_group": "college_graduate", "tier": "basic", "mode": mode, "starts_on": "2021-04-01"}
        )  # fmt: skip
    return out.getvalue().encode()


def test_an_institutions_upload_moves_the_bureaus_open_page_and_a_suspension_reaches_the_institution(
    system: PlanSystem, as_role: Any, browser: Browser
) -> None:
    # another of the cohort's institutions than the one the institution pages' tests count uploads of
    _, (institution_id, institution_key) = sorted(system.sent.institutions.items())[1]
    bureau: Portal = as_role("bureau")
    bureau.goto("/bureau")
    before = _number(bureau.page.locator("#fig-enrolled").inner_text())
    assert before == sum(
        t["enrolled"] for t in system.call("enrollment", "GET", "/progress", "bureau").json()["tiers"].values()
    )

    institution = Portal(browser, system.url)
    institution.login(institution_key)
    assert institution.page.url == system.url + "/institution"
    own = system.call("enrollment", "GET", f"/institutions/{institution_id}", "bureau").json()
    mode = "online" if own["mode"] == "online" else "offline"
    institution.goto("/institution/uploads")
    institution.page.select_option("#kind", "cohort")
    payload: FilePayload = {"name": "cross-role.csv", "mimeType": "text/csv", "buffer": _cohort(mode, 4)}
    institution.page.set_input_files("#file", files=[payload])
    institution.page.click("#upload-submit")
    institution.page.wait_for_load_state("load")
    assert institution.page.locator("#fig-accepted").inner_text() == "4"

    # the Bureau's page, never reloaded, shows the four new enrolments once their events reach the portal
    bureau.page.wait_for_function(
        "want => Number(document.querySelector('#fig-enrolled').innerText.replace(/[^0-9]/g, '')) === want",
        arg=before + 4,
        timeout=30_000,
    )
    bureau.shoot("cross-role-bureau-after-upload")

    # the Bureau suspends the institution; the institution's overview, open, shows the suspension
    institution.goto("/institution")
    bureau.goto("/bureau/institutions")
    row = bureau.page.locator(f'form[action="/bureau/institutions/{institution_id}/suspension"]')
    row.locator("input[name=reason]").fill("cross-role check")
    row.locator("button").click()
    bureau.page.wait_for_load_state("load")
    assert system.call("enrollment", "GET", f"/institutions/{institution_id}", "bureau").json()["status"] == (
        "suspended"
    )
    institution.page.wait_for_selector("#standing-badge[data-status=suspended]", timeout=30_000)  # not reloaded
    institution.shoot("cross-role-institution-suspended")

    # reinstated again, so that the other tests' institution keeps its standing
    bureau.goto("/bureau/institutions")
    again = bureau.page.locator(f'form[action="/bureau/institutions/{institution_id}/reinstatement"]')
    again.locator("input[name=reason]").fill("cross-role check done")
    again.locator("button").click()
    bureau.page.wait_for_load_state("load")
    assert system.call("enrollment", "GET", f"/institutions/{institution_id}", "bureau").json()["status"] == ("active")
    assert bureau.clean() == [] and institution.clean() == []
    institution.close()
