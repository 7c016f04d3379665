"""Composition root of the funding service: the only place that knows every concrete part."""

from pathlib import Path

from fastapi import FastAPI
from plan_runtime.http import service_app

from funding.settings import Settings


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # type: ignore[call-arg]
    return service_app(
        title="Funding service",
        description="Finance turns completions into subsidies against the skills-training fund.",
        settings=settings,
        source="funding",
        migrations=Path(__file__).parent / "migrations",
        inboxes=lambda pool: [],
    )
