"""The in-memory fake passes the funding store's contract (as the PostgreSQL store does)."""

import pytest

from tests.fakes.funding import FakeFundingUnit
from tests.support.contracts.funding_store import *  # noqa: F403 (the contract's tests)


@pytest.fixture
def store() -> FakeFundingUnit:
    return FakeFundingUnit()
