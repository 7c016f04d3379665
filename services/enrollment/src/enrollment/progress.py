"""The Bureau's view: counts against the plan's targets, with rates. Pure shaping of store rows."""

from typing import Any

from enrollment.policy import Policy
from enrollment.ports import ProgressRow
from plan_events import Tier

_COUNTS = ("enrolled", "open", "completed", "failed", "withdrawn", "employed", "own_business")
_DIMENSIONS = {
    "start_year": "by_start_year",
    "completion_year": "by_completion_year",
    "target_group": "by_target_group",
    "institution_id": "by_institution",
}


def _rates(counts: dict[str, Any]) -> dict[str, Any]:
    done = counts["completed"]
    return {
        **counts,
        "completion_rate": round(done / counts["enrolled"], 4) if counts["enrolled"] else None,
        "employment_rate": round(counts["employed"] / done, 4) if done else None,
        "own_business_rate": round(counts["own_business"] / done, 4) if done else None,
    }


def shape(rows: list[ProgressRow], policy: Policy) -> dict[str, Any]:
    report: dict[str, Any] = {"policy_version": policy.version, "tiers": {}, **{v: [] for v in _DIMENSIONS.values()}}
    for tier in Tier:
        empty = dict.fromkeys(_COUNTS, 0)
        report["tiers"][tier.value] = {
            **_rates(empty),
            "targets": {k: v.get(tier, 0) for k, v in policy.targets.items()},
        }
    for row in rows:
        counts = {k: getattr(row, k) for k in _COUNTS}
        dimension = next((d for d in _DIMENSIONS if getattr(row, d) is not None), None)
        if dimension is None:
            if row.grouping == 15:  # the (tier) grouping set alone
                tier_view = report["tiers"][row.tier.value]
                tier_view.update(_rates(counts))
                target = tier_view["targets"].get("plan") or 0
                tier_view["plan_progress"] = round(counts["completed"] / target, 4) if target else None
            continue
        value = getattr(row, dimension)
        entry = {"tier": row.tier.value, dimension: value, **_rates(counts)}
        if dimension in ("start_year", "completion_year"):
            entry["target"] = policy.targets.get(str(value), {}).get(row.tier)
        report[_DIMENSIONS[dimension]].append(entry)
    return report
