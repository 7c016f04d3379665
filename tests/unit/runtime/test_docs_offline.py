"""The API documentation renders on a network without internet: every asset it loads is served by the service."""

import re

import httpx
import pytest

from tests.support.docs_apps import apps


@pytest.mark.parametrize("name", ["enrollment", "funding", "talent-card"])
async def test_docs_load_only_assets_the_service_serves(name: str) -> None:
    app = apps()[name]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
        pages = [await client.get("/docs")]
        assert "/redoc" not in {getattr(route, "path", None) for route in app.routes}  # its bundle calls a CDN
        assets = set()
        for page in pages:
            assert page.status_code == 200, page.text[:200]
            assets |= set(re.findall(r'(?:src|href)=["\']([^"\']+)["\']', page.text))
            assert "cdn." not in page.text and "https://" not in page.text.split("<body>")[0]
        served = {url: (await client.get(url)) for url in assets}
    assert any(url.endswith("swagger-ui-bundle.js") for url in served)
    for url, answer in served.items():
        assert url.startswith("/"), url  # nothing from another host
        assert answer.status_code == 200 and len(answer.content) > 1_000, url


@pytest.mark.parametrize("name", ["enrollment", "funding", "talent-card"])
def test_the_openapi_document_declares_the_key_and_every_rejection_with_its_envelope(name: str) -> None:
    document = apps()[name].openapi()
    assert document["components"]["securitySchemes"]["X-API-Key"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": document["components"]["securitySchemes"]["X-API-Key"]["description"],
    }
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if not path.startswith("/health") and path != "/metrics"
    ]
    assert len(operations) > 5
    for path, method, operation in operations:
        assert operation.get("security") == [{"X-API-Key": []}], (path, method)
        for status in ("401", "404", "409", "413", "422"):
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, (path, method, status)
