"""The notices' workflow as a pure rule: waiting -> acknowledged -> issued | declined; every move tried."""

import pytest

from plan_runtime.errors import Conflict
from talent_card.domain import NoticeStatus, decide_notice

W, A, ISS, D = NoticeStatus.WAITING, NoticeStatus.ACKNOWLEDGED, NoticeStatus.ISSUED, NoticeStatus.DECLINED
ALLOWED = {(W, A), (W, ISS), (W, D), (A, ISS), (A, D)}


@pytest.mark.parametrize("current", list(NoticeStatus))
@pytest.mark.parametrize("to", list(NoticeStatus))
def test_a_notice_moves_only_forward(current: NoticeStatus, to: NoticeStatus) -> None:
    refusal = decide_notice(current, to)
    if (current, to) in ALLOWED:
        assert refusal is None
        return
    assert isinstance(refusal, Conflict)
    assert (refusal.code, refusal.field) == (f"notice_already_{current.value}", "notice_id")
    assert refusal.message == f"the notice is {current.value}; it cannot become {to.value}"


def test_a_decided_notice_is_final_and_an_acknowledged_one_is_not_acknowledged_twice() -> None:
    assert all(decide_notice(done, to) is not None for done in (ISS, D) for to in NoticeStatus)
    refusal = decide_notice(A, A)
    assert refusal is not None and refusal.code == "notice_already_acknowledged"
