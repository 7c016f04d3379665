"""The store contract (tests/support/contracts/talent_card_store.py) on the in-memory fake."""

import pytest

from tests.fakes.talent_card import FakeTalentCardStore
from tests.support.contracts.talent_card_store import *  # noqa: F403  (the suite's tests, collected here)
from tests.support.contracts.talent_card_store import Reads


@pytest.fixture
def store() -> FakeTalentCardStore:
    return FakeTalentCardStore()


@pytest.fixture
def reads(store: FakeTalentCardStore) -> Reads:
    async def audited() -> list[tuple[str, str, str]]:
        return list(store.reads)

    return audited
