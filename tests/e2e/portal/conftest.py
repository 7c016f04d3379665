"""One system and one browser for all the portal's browser tests (starting them takes a minute); stopped after
the last of them."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.support import portal


@pytest.fixture(scope="package")
def system() -> Iterator[portal.PlanSystem]:
    yield from portal.plan_system()


@pytest.fixture(scope="package")
def browser(system: portal.PlanSystem) -> Iterator[Browser]:
    """After the system: Playwright's sync API runs an event loop in this thread while the browser is open, and
    starting the system runs asyncio.run (migrations, the simulated cohort)."""
    yield from portal.browser()


@pytest.fixture
def as_role(system: portal.PlanSystem, browser: Browser) -> Iterator["RoleFactory"]:
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """test_hostile_http.py posts hostile forms that act (suspend, revoke, pay ...): it runs after the package's
    other modules, on the same system."""
    here = Path(__file__).parent
    hostile = [i for i in items if i.path.name == "test_hostile_http.py" and i.path.parent == here]
    if not hostile:
        return
    rest = [i for i in items if i not in hostile]
    ours = [n for n, i in enumerate(rest) if i.path.parent == here]
    at = ours[-1] + 1 if ours else len(rest)
    items[:] = rest[:at] + hostile + rest[at:]


RoleFactory = object  # a callable (role, lang="zh") -> portal.Portal
