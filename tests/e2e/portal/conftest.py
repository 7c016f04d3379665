"""One system and one browser for all the portal's browser tests (starting them takes a minute); stopped after
the last of them."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.support import portal


@pytest.fixture(scope="package")
def system() -> Iterator[portal.PlanSystem]:
    yield from portal.plan_system()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    yield from portal.browser()


@pytest.fixture
def as_role(browser: Browser, system: portal.PlanSystem) -> Iterator["RoleFactory"]:
    opened: list[portal.Portal] = []

    def open_as(role: str | None, lang: str = "zh") -> portal.Portal:
        """A fresh browser context logged in as `role` (None: not logged in), in `lang`."""
        view = portal.Portal(browser, system.url, lang)
        if role is not None:
            view.login(system.keys[role])
        opened.append(view)
        return view

    yield open_as
    for view in opened:
        view.close()


RoleFactory = object  # a callable (role, lang="zh") -> portal.Portal
