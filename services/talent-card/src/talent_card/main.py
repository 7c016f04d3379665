"""Composition root of the talent-card service: the only place that knows every concrete part."""

from pathlib import Path

from fastapi import FastAPI

from plan_runtime.auth import authenticator, role_guard
from plan_runtime.http import dead_letter_router, service_app
from plan_runtime.read_audit import read_audit_router
from talent_card import handlers
from talent_card.api import build_router
from talent_card.rules import load_rules
from talent_card.settings import Settings
from talent_card.store import TalentCardStore


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    rules = load_rules(settings.rules_file)
    office = role_guard("talent-office", settings.talent_office_api_key)
    bureau = role_guard("bureau", settings.bureau_api_key)
    app = service_app(
        title="Talent-card service",
        description="The talent office receives green-card eligibility notices, each with its evidence and "
        f"the rule that fired (rules {rules.plan.id} v{rules.plan.version}, "
        f"{rules.introduced.id} v{rules.introduced.version}).",
        settings=settings,
        source="talent-card",
        migrations=Path(__file__).parent / "migrations",
        consumes=handlers.consumes(rules),
        unit=TalentCardStore,
        routers=[build_router(office), dead_letter_router(office), read_audit_router(bureau)],
        authenticate=authenticator(
            settings.talent_office_api_key, settings.bureau_api_key
        ),  # a wrong key: 401 before the body is read
    )
    app.state.rules = rules
    app.state.pii_key = settings.pii_hmac_key.get_secret_value().encode()
    return app
