"""Log-in, roles and languages in a real browser: each role lands on its own pages and is refused the others'."""

import pytest

from tests.support.portal import PlanSystem

HOMES = {"bureau": "/bureau", "finance": "/finance", "talent_office": "/talent", "institution": "/institution"}


@pytest.mark.parametrize("role", list(HOMES))
def test_each_role_logs_in_with_its_key_and_is_refused_the_other_roles_pages(
    as_role: object, system: PlanSystem, role: str
) -> None:
    view = as_role(role)  # type: ignore[operator]
    assert view.page.url == system.url + HOMES[role]
    assert view.page.locator("#who").is_visible()
    cookies = {c["name"]: c for c in view.context.cookies()}
    session = cookies["plan_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["expires"] > 0
    for other, home in HOMES.items():
        if other == role:
            continue
        answer = view.page.goto(system.url + home)
        assert answer is not None and answer.status == 403, (role, other)
        assert view.page.locator("#error-page").get_attribute("data-code") == "wrong_role"
    view.logout()
    answer = view.page.goto(system.url + HOMES[role])
    assert view.page.url.startswith(system.url + "/login?next=")  # the session ended with the log-out
    assert view.clean() == []


def test_a_wrong_key_is_refused_with_a_message_in_chinese_then_english(as_role: object, system: PlanSystem) -> None:
    view = as_role(None)  # type: ignore[operator]
    view.login("not-a-key-of-anyone")
    assert view.page.locator("#flash").inner_text() == "此密钥无法打开任何页面。"
    view.shoot("login-refused")
    view.switch_language("en")
    view.login("not-a-key-of-anyone")
    assert view.page.locator("#flash").inner_text() == "This key opens no page here."
    view.shoot("login-refused")
    assert view.clean() == []


def test_home_and_log_in_pages_in_both_languages(as_role: object, system: PlanSystem) -> None:
    for lang, heading in (("zh", "直播电商人才培育计划"), ("en", "Live-commerce talent plan")):
        view = as_role(None, lang)  # type: ignore[operator]
        view.goto("/")
        assert view.page.locator("h1").inner_text() == heading
        view.shoot("home")
        view.goto("/login")
        view.shoot("login")
        assert view.clean() == []


def test_a_page_asked_for_without_a_session_leads_to_the_log_in_and_back(as_role: object, system: PlanSystem) -> None:
    view = as_role(None)  # type: ignore[operator]
    view.goto("/bureau/institutions")
    assert view.page.url == system.url + "/login?next=/bureau/institutions"
    view.page.fill("#key", system.keys["bureau"])
    view.page.click("#login-submit")
    view.page.wait_for_load_state("load")
    assert view.page.url == system.url + "/bureau/institutions"
