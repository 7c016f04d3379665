"""/docs renders in a real browser (Debian's Chromium) with no network beyond this machine.

Each service's app is served by uvicorn on a free local port; the page may load only from 127.0.0.1: any
other host is refused and fails the test. Rendered means Swagger UI drew one block per operation of the
service's OpenAPI document. (/redoc is not served: ReDoc's bundle asks a CDN for its logo on every view.)
"""

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser

from tests.support.browser import OfflinePage, chromium
from tests.support.docs_apps import apps

SHOTS = Path(__file__).resolve().parents[2] / ".local" / "screenshots" / "docs"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


Served = tuple[str, str, dict[str, object]]  # service name, base URL, its OpenAPI document


@pytest.fixture(params=["enrollment", "funding", "talent-card"])
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    app = apps()[request.param]
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield request.param, f"http://127.0.0.1:{port}", app.openapi()
    finally:
        server.should_exit = True
        thread.join(10)


def _operations(document: dict[str, object]) -> int:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return sum(1 for item in paths.values() for method in item if method in ("get", "post", "put", "patch", "delete"))


def test_swagger_ui_renders_every_operation_offline(browser: Browser, served: Served) -> None:
    name, base, document = served
    page = OfflinePage(browser.new_page())
    page.page.goto(f"{base}/docs", wait_until="networkidle")
    page.page.wait_for_selector(".swagger-ui .opblock", timeout=15_000)
    blocks = page.page.locator(".swagger-ui .opblock").count()
    title = page.page.locator(".swagger-ui .info .title").inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.page.screenshot(path=str(SHOTS / f"{name}-swagger.png"), full_page=True)
    assert page.foreign == [], f"/docs asked another host: {page.foreign}"
    assert page.failed == [], f"/docs failed to load: {page.failed}"
    assert blocks == _operations(document)
    assert str(document["info"]["title"]) in title  # type: ignore[index]
