"""Loading the fund policy: the shipped one is feasible, a bad one is refused with a reason."""

from pathlib import Path

import pytest

from funding.policy import PolicyError, load_policy


def test_the_shipped_policy_spends_exactly_the_fund_on_the_plan_targets() -> None:
    policy = load_policy()
    assert policy.fund_yuan == 10_000_000
    assert sum(policy.rates_yuan[t] * policy.targets[t] for t in policy.rates_yuan) == 10_000_000


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("senior = 5_000", "senior = 6_000"), "exceeds fund_yuan"),
        (("professional = 900", "professional = -1"), "positive"),
        (('version = "2020-08-v2"', ""), "version: Field required"),
        (("ends_on = 2021-12-31", "ends_on = 2019-12-31"), "ends_on is before starts_on"),
        (("fund_yuan = 10_000_000", "fund_yuan = 'lots'"), "fund_yuan"),
        (("[institution_caps_yuan]", "[institution_caps_yuan]\nnot-a-uuid = 5"), "badly formed"),
    ],
)
def test_an_invalid_policy_is_refused_naming_the_problem(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    text = (Path(__file__).resolve().parents[3] / "services/funding/src/funding/policy.toml").read_text()
    assert change[0] in text
    bad = tmp_path / "policy.toml"
    bad.write_text(text.replace(change[0], change[1], 1))
    with pytest.raises(PolicyError, match=message):
        load_policy(bad)
