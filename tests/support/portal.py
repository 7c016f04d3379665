"""The whole system for the portal's browser tests: four services as processes on a database of their own,
consumer groups of their own (starting at the end of the topics), a small simulated cohort played through
them, and helpers to drive Debian's Chromium as each role.

Screenshots: `.local/screenshots/portal/<zh|en>/<name>.png` (`.ci/run` copies them out of its clone to
`.local/ci-artifacts/screenshots/` of the checkout it was started from).
"""

import asyncio
import csv
import io
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from openpyxl import load_workbook
from playwright.sync_api import Browser, ConsoleMessage, Page, Response

from infra import kafka, postgres, secrets, services
from simulation.__main__ import endpoints
from simulation.cohort import Size
from simulation.play import Sent, play, settle
from tests.infrastructure import real_infrastructure
from tests.support.browser import OfflinePage, chromium
from tests.support.kafka import group_starts_at_end

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / ".local" / "screenshots" / "portal"
DATABASE = "talentplan_portal_e2e"
COHORT = Size(basic=120, professional=30, senior=8, fail_rate=0.1, withdraw_rate=0.05)


@dataclass
class PlanSystem:
    """The running system after a small cohort: where the portal is, each role's key, what was sent."""

    url: str
    keys: dict[str, str]  # bureau, finance, talent_office, institution
    institution_id: str
    institution_name: str
    sent: Sent
    environments: dict[str, dict[str, str]] = field(default_factory=dict)

    def api(self, service: str) -> str:
        return services.url(service)

    def call(self, service: str, method: str, path: str, role: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method, services.url(service) + path, headers={"X-API-Key": self.keys[role]}, timeout=60, **kwargs
        )


def plan_system() -> Iterator[PlanSystem]:
    """Start everything fresh, play COHORT and let it settle; stop everything after."""
    from tests.e2e.test_plan import INPUTS

    with real_infrastructure() as infra:
        if infra.kafka != kafka.BOOTSTRAP:
            raise RuntimeError("the portal's browser tests run on the local infrastructure (`make test`)")
        services.stop_all()
        postgres.fresh_database(DATABASE)
        run = uuid.uuid4().hex[:6]
        environments: dict[str, dict[str, str]] = {}
        for name, (_, schema, _) in services.SERVICES.items():
            group = f"{name}-portal-e2e-{run}"
            if INPUTS[name]:
                asyncio.run(group_starts_at_end(infra.kafka, group, *INPUTS[name]))
            environments[name] = {"DATABASE_URL": postgres.service_url(schema, DATABASE), "CONSUMER_GROUP": group}
        try:
            for name in services.SERVICES:
                services.start(name, environments[name])
            for name in services.SERVICES:
                services.wait_healthy(name)
            sent = asyncio.run(_play())
            role_keys = secrets.load()
            name, (institution_id, institution_key) = sorted(sent.institutions.items())[0]
            yield PlanSystem(
                url=services.url("portal"),
                keys={
                    "bureau": role_keys["BUREAU_API_KEY"],
                    "finance": role_keys["FINANCE_API_KEY"],
                    "talent_office": role_keys["TALENT_OFFICE_API_KEY"],
                    "institution": institution_key,
                },
                institution_id=institution_id,
                institution_name=name,
                sent=sent,
                environments=environments,
            )
        finally:
            services.stop_all()


async def _play() -> Sent:
    at = endpoints()

    def step(phase: str, advance: int, total: int | None) -> None:
        return None

    sent = await play(at, COHORT, 7, step)
    await settle(at, sent, step, timeout=300)
    return sent


# Chromium's renderer drops, silently, any download past the tenth one a frame starts within a second of the
# first of them (blink::LocalFrame::ShouldThrottleDownload, kBurstDownloadLimit = 10): no request is sent and no
# download event comes. A page of many tables exported one after another hits it; `Portal.download` spaces its
# clicks as a person's would have to (the margin covers the input's way into the renderer).
BURST_DOWNLOADS = 10
BURST_SECONDS = 1.0 + 0.25


def browser() -> Iterator[Browser]:
    with chromium() as opened:
        yield opened


class Portal:
    """One browser context (its own cookies) on the portal, refusing every host but this machine and failing
    on any script error or Content-Security-Policy violation."""

    def __init__(self, browser: Browser, url: str, lang: str = "zh") -> None:
        self.url = url
        self.context = browser.new_context(
            accept_downloads=True, locale="zh-CN", viewport={"width": 1360, "height": 900}
        )
        self.offline = OfflinePage(self.context.new_page())
        self.page: Page = self.offline.page
        self.errors: list[str] = []
        self.downloads: list[float] = []  # when each download was clicked (time.monotonic)
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        self.page.on("console", self._console)
        self.page.on("response", self._response)
        self.lang = "zh"
        if lang != "zh":
            self.goto("/")
            self.switch_language(lang)

    def _console(self, message: ConsoleMessage) -> None:
        # Chromium logs every 4xx answer as "Failed to load resource"; a page answered with a 4xx on purpose (a
        # refused form, another role's page) is what the tests check, and any other resource's 4xx/5xx is caught
        # by _response below: CSP violations and script errors remain
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"console {message.type}: {message.text}")

    def _response(self, response: Response) -> None:
        """A script, style sheet, font, image or fetch the page needed that did not load."""
        if response.request.resource_type != "document" and response.status >= 400:
            self.errors.append(f"{response.request.resource_type} {response.url}: HTTP {response.status}")

    def close(self) -> None:
        self.context.close()

    def goto(self, path: str) -> Page:
        self.page.goto(self.url + path, wait_until="load")
        return self.page

    def login(self, key: str) -> Page:
        self.goto("/login")
        self.page.fill("#key", key)
        self.page.click("#login-submit")
        self.page.wait_for_load_state("load")
        return self.page

    def logout(self) -> None:
        self.page.click("#logout")
        self.page.wait_for_load_state("load")

    def switch_language(self, lang: str) -> None:
        if self.lang != lang:
            self.page.click("#lang-switch")
            self.page.wait_for_load_state("load")
            self.lang = lang

    def shoot(self, name: str) -> Path:
        """A full-page screenshot under .local/screenshots/portal/<language>/<name>.png (charts drawn first)."""
        self.page.wait_for_timeout(300)  # ECharts animates its first draw
        path = SHOTS / self.lang / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def download(self, selector: str) -> tuple[str, bytes]:
        """Click a download link; (suggested file name, bytes). Never more than Chromium lets a page start in a
        burst (BURST_DOWNLOADS): this waits out the burst's second instead of having the click dropped."""
        recent = [t for t in self.downloads if time.monotonic() - t < BURST_SECONDS]
        if len(recent) >= BURST_DOWNLOADS:
            self.page.wait_for_timeout(max(0.0, 1000 * (recent[-BURST_DOWNLOADS] + BURST_SECONDS - time.monotonic())))
        with self.page.expect_download() as waiting:
            self.downloads.append(time.monotonic())
            self.page.click(selector)
        download = waiting.value
        path = download.path()
        assert path is not None
        return download.suggested_filename, Path(path).read_bytes()

    def clean(self) -> list[str]:
        """Script errors, CSP violations, foreign hosts and failed loads seen so far (the test asserts none)."""
        return (
            self.errors
            + [f"foreign: {u}" for u in self.offline.foreign]
            + [f"failed: {u}" for u in self.offline.failed if not u.endswith("/live")]
        )


def csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith("\ufeff".encode()), "CSV without a byte-order mark"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def xlsx_rows(data: bytes) -> list[list[Any]]:
    book = load_workbook(io.BytesIO(data), read_only=True)
    sheet = book.worksheets[0]
    return [list(row) for row in sheet.iter_rows(values_only=True)]
