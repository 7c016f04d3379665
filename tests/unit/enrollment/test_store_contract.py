"""The store contract (tests/support/contracts/enrollment_store.py) on the in-memory fake."""

import pytest

from tests.fakes.enrollment import FakeStore
from tests.support.contracts.enrollment_store import *  # noqa: F403 (the contract's tests, run here on the fake)
from tests.support.contracts.enrollment_store import Reads


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def reads(store: FakeStore) -> Reads:
    async def recorded() -> list[tuple[str, str, str]]:
        return list(store.state.reads)

    return recorded
