"""Composition root of the funding service: the only place that knows every concrete part."""

from pathlib import Path

from fastapi import FastAPI

from funding.settings import Settings
from plan_runtime.http import service_app


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return service_app(
        title="Funding service",
        description="Finance turns completions into subsidies against the skills-training fund.",
        settings=settings,
        source="funding",
        migrations=Path(__file__).parent / "migrations",
        inboxes=lambda pool: [],
    )
