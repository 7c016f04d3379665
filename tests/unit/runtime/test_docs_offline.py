"""The API documentation renders on a network without internet: every asset it loads is served by the service."""

import re

import httpx
import pytest
from fastapi import FastAPI

from enrollment.main import build_app as enrollment_app
from enrollment.settings import Settings as EnrollmentSettings
from funding.main import build_app as funding_app
from funding.settings import Settings as FundingSettings
from talent_card.main import build_app as talent_card_app
from talent_card.settings import Settings as TalentCardSettings

DSN = "postgresql://nobody@127.0.0.1:1/none"  # never connected to: the lifespan does not run here


def apps() -> dict[str, FastAPI]:
    return {
        "enrollment": enrollment_app(
            EnrollmentSettings(database_url=DSN, pii_hmac_key="k", bureau_api_key="b")  # type: ignore[arg-type]
        ),
        "funding": funding_app(FundingSettings(database_url=DSN, finance_api_key="f")),  # type: ignore[arg-type]
        "talent-card": talent_card_app(
            TalentCardSettings(database_url=DSN, talent_office_api_key="t", pii_hmac_key="k")  # type: ignore[arg-type]
        ),
    }


@pytest.mark.parametrize("name", ["enrollment", "funding", "talent-card"])
async def test_docs_load_only_assets_the_service_serves(name: str) -> None:
    app = apps()[name]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
        pages = [await client.get(path) for path in ("/docs", "/redoc")]
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
