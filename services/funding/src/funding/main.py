"""Composition root of the funding service: the only place that knows every concrete part."""

from functools import partial
from pathlib import Path

from fastapi import FastAPI

from funding import handlers
from funding.api import build_router
from funding.policy import Policy, load_policy
from funding.settings import Settings
from funding.store import FundingStore, ensure_fund
from plan_runtime.auth import authenticator, role_guard
from plan_runtime.http import dead_letter_router, service_app


def build_app(settings: Settings | None = None, policy: Policy | None = None) -> FastAPI:
    """`policy`: the one in `settings.policy_file` unless given (tests give a policy of their own)."""
    settings = settings or Settings()
    policy = policy or load_policy(settings.policy_file)  # refuses an invalid policy before anything starts
    guard = role_guard("finance", settings.finance_api_key)

    app = service_app(
        title="Funding service",
        description="Finance turns completions into subsidies against the skills-training fund "
        f"(policy {policy.version}).",
        settings=settings,
        source="funding",
        migrations=Path(__file__).parent / "migrations",
        consumes=handlers.consumes(policy),
        unit=FundingStore,
        routers=[build_router(guard), dead_letter_router(guard)],
        prepare=partial(ensure_fund, total=policy.fund_yuan),  # the fund row, at the policy's total
        authenticate=authenticator(settings.finance_api_key),  # a wrong key: 401 before the body is read
    )
    app.state.policy = policy
    return app
