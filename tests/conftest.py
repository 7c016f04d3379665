"""Test tiers and the CI guard.

`tests/unit` needs nothing running. `tests/integration` and `tests/e2e` need the real Kafka
broker and PostgreSQL: they are found through KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL (as
`make test` and `.ci/run` set them), else started with testcontainers when Docker is there,
else the tests fail. Under CI a run in which no integration test passed, or any was skipped,
fails as a whole.
"""

import os

import pytest
from hypothesis import settings

# Generated tests check behaviour, never speed: no per-example deadline (a loaded CI machine made one of them
# fail one run in N with DeadlineExceeded).
settings.register_profile("plan", deadline=None)
settings.load_profile("plan")

_passed_real: list[str] = []
_skipped_real: list[str] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.path)
        if "/tests/integration/" in path:
            item.add_marker(pytest.mark.integration)
        elif "/tests/e2e/" in path:
            item.add_marker(pytest.mark.e2e)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    real = "tests/integration/" in report.nodeid or "tests/e2e/" in report.nodeid
    if not real:
        return
    if report.skipped:
        _skipped_real.append(report.nodeid)
    elif report.when == "call" and report.passed:
        _passed_real.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    problems = []
    if _skipped_real:
        problems.append(f"{len(_skipped_real)} integration/e2e test(s) skipped: {_skipped_real[:5]}")
    if not _passed_real:
        problems.append("no integration or e2e test passed against the real broker and database")
    if problems:
        for problem in problems:
            if reporter:
                reporter.write_line(f"CI GUARD: {problem}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter:
        reporter.write_line(f"CI guard: {len(_passed_real)} integration/e2e tests passed, none skipped")
