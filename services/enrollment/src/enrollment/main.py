"""Composition root of the enrollment service: the only place that knows every concrete part."""

from pathlib import Path

from fastapi import FastAPI

from enrollment.access import institution_keys
from enrollment.api import bureau_router, institution_router
from enrollment.policy import load_policy
from enrollment.settings import Settings
from plan_runtime.auth import authenticator, role_guard
from plan_runtime.http import dead_letter_router, service_app
from plan_runtime.read_audit import read_audit_router


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    policy = load_policy(settings.policy_file)
    bureau = role_guard("bureau", settings.bureau_api_key)
    app = service_app(
        title="Enrollment service",
        description="Institutions enrol trainees and report completions; the Bureau of Commerce "
        f"accredits institutions and watches progress against the plan (policy {policy.version}).",
        settings=settings,
        source="enrollment",
        migrations=Path(__file__).parent / "migrations",
        # consumes nothing: enrollment is where the events start
        routers=[institution_router(), bureau_router(bureau), dead_letter_router(bureau), read_audit_router(bureau)],
        bulk_paths=("/cohorts", "/completions", "/withdrawals"),  # up to 16 MiB (50,000 rows); every other 256 KiB
        # before any body is read: the Bureau's key, or an institution's unrevoked key (looked up every time)
        authenticate=authenticator(settings.bureau_api_key, other=institution_keys(lambda: app.state.runtime.pool)),
    )
    app.state.policy = policy
    app.state.pii_key = settings.pii_hmac_key.get_secret_value().encode()
    return app
