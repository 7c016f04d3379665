"""Composition root of the talent-card service: the only place that knows every concrete part."""

from pathlib import Path

from fastapi import FastAPI

from plan_runtime.http import service_app
from talent_card.settings import Settings


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return service_app(
        title="Talent-card service",
        description="The talent office receives green-card eligibility notices.",
        settings=settings,
        source="talent-card",
        migrations=Path(__file__).parent / "migrations",
        inboxes=lambda pool: [],
    )
