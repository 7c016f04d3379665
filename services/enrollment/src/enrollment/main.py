"""Composition root of the enrollment service: the only place that knows every concrete part."""

from pathlib import Path

from fastapi import FastAPI

from enrollment.settings import Settings
from plan_runtime.http import service_app


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return service_app(
        title="Enrollment service",
        description="Institutions enrol trainees and report completions; the Bureau sees progress.",
        settings=settings,
        source="enrollment",
        migrations=Path(__file__).parent / "migrations",
        inboxes=lambda pool: [],
    )
