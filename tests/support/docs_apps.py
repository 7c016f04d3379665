"""Each service's app built without its lifespan: enough to serve /docs and /openapi.json."""

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
            TalentCardSettings(  # type: ignore[arg-type]
                database_url=DSN, talent_office_api_key="t", pii_hmac_key="k", bureau_api_key="b"
            )
        ),
    }
