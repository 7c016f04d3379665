"""The final report: progress, the fund, subsidies, green cards, dead letters — and the reconciliation."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from simulation import hostile
from simulation.client import client
from simulation.play import TIERS, Endpoints, Sent, enrollment_status, funding_status, funding_totals, notices
from simulation.portal import expected_counts, portal_numbers

RATES = {"professional": 900, "senior": 5000}


@dataclass
class Numbers:
    progress: dict[str, Any]
    fund: dict[str, Any]
    subsidies: list[dict[str, Any]]  # this run's institutions: status, tier, reason, count, amount
    plan_notices: list[dict[str, Any]]
    introduced_notices: int
    dead_letters: dict[str, int]
    identity_lookups: Counter[str] = field(default_factory=Counter)  # audit entries for this run's institutions,
    # by what was revealed: a refusal's code, or "accepted" (a next tier accepted: a passed course somewhere)
    flagged: list[dict[str, Any]] = field(default_factory=list)  # this run's institution-days flagged as probing
    suspended_now: tuple[str, str] | None = None  # the suspended institution's status: (enrollment, funding)
    portal: Counter[tuple[str, str]] | None = None  # this run's institutions' pages on the portal (None: not asked)
    portal_expected: Counter[tuple[str, str]] = field(default_factory=Counter)


async def gather(endpoints: Endpoints, sent: Sent, with_portal: bool = True) -> Numbers:
    """The services' numbers for this run; with the portal's pages of this run's institutions unless told not to."""
    async with client(timeout=60) as http:
        bureau, finance = ({"X-API-Key": k} for k in (endpoints.bureau_key, endpoints.finance_key))
        progress = (await http.get(f"{endpoints.enrollment}/progress", headers=bureau)).json()
        fund = (await http.get(f"{endpoints.funding}/fund", headers=finance)).json()
        subsidies = await funding_totals(http, endpoints, sent)
        plan = await notices(http, endpoints, "plan", sent.trainees)
        introduced = len(await notices(http, endpoints, "introduced", {t["person_id"] for t in sent.talents}))
        dead = await dead_letter_counts(http, endpoints)
        lookups = await identity_lookups(http, endpoints, sent)
        ours = {i for i, _ in sent.institutions.values()}
        since = (date.today() - timedelta(days=2)).isoformat()
        flagged = (
            await http.get(f"{endpoints.enrollment}/flagged-institutions", params={"since": since}, headers=bureau)
        ).json()
        suspended = None
        if sent.suspension is not None:
            institution_id = sent.suspension.institution_id
            suspended = (
                await enrollment_status(http, endpoints, institution_id),
                await funding_status(http, endpoints, institution_id),
            )
    expected = expected_counts([r for r in progress["by_institution"] if r["institution_id"] in ours], subsidies)
    shown = await portal_numbers(sent, expected) if with_portal else None
    return Numbers(
        progress,
        fund,
        subsidies,
        plan,
        introduced,
        dead,
        lookups,
        [f for f in flagged if str(f["institution_id"]) in ours],
        suspended,
        shown,
        expected,
    )


async def identity_lookups(http: httpx.AsyncClient, endpoints: Endpoints, sent: Sent) -> Counter[str]:
    """The Bureau's audit of what this run's institutions learnt of people's records, by what it was."""
    actors = {f"institution:{i}" for i, _ in sent.institutions.values()}
    found: Counter[str] = Counter()
    offset = 0
    while True:  # newest first: stop at the first entry older than the run
        page = (
            await http.get(
                f"{endpoints.enrollment}/identity-lookups",
                params={"limit": 1000, "offset": offset},
                headers={"X-API-Key": endpoints.bureau_key},
            )
        ).json()
        fresh = [e for e in page if e["id"] > sent.audit_before]
        found.update(str(e["reason"]).rpartition(": ")[2] for e in fresh if e["actor"] in actors)
        if len(page) < 1000 or len(fresh) < len(page):
            return found
        offset += 1000


async def dead_letter_counts(http: httpx.AsyncClient, endpoints: Endpoints) -> dict[str, int]:
    """How many dead letters (not yet replayed) each service holds right now."""
    counts = {}
    for name, url, key in (
        ("enrollment", endpoints.enrollment, endpoints.bureau_key),
        ("funding", endpoints.funding, endpoints.finance_key),
        ("talent-card", endpoints.talent_card, endpoints.office_key),
    ):
        counts[name] = 0
        while True:
            answer = await http.get(
                f"{url}/dead-letters", params={"limit": 1000, "offset": counts[name]}, headers={"X-API-Key": key}
            )
            answer.raise_for_status()
            page = answer.json()
            counts[name] += len(page)
            if len(page) < 1000:
                break
    return counts


def reconcile(sent: Sent, numbers: Numbers) -> list[tuple[str, object, object]]:
    """(what, what the simulator sent or was told, what the services say): every pair must be equal."""
    ours = {i for i, _ in sent.institutions.values()}
    by_institution = [r for r in numbers.progress["by_institution"] if r["institution_id"] in ours]

    def enrolled(tier: str, column: str) -> int:
        return sum(r[column] for r in by_institution if r["tier"] == tier)

    def subsidies(status: str, tier: str | None = None, reason: str | None = None, field: str = "count") -> int:
        return sum(
            r[field] or 0
            for r in numbers.subsidies
            if r["status"] == status
            and (tier is None or r["tier"] == tier)
            and (reason is None or r["reason"] == reason)
        )

    checks: list[tuple[str, object, object]] = []
    for tier in TIERS:
        checks += [
            (f"{tier}: enrolments accepted = enrollment's count", sent.accepted[tier], enrolled(tier, "enrolled")),
            (f"{tier}: passed = enrollment's completed", sent.passed[tier], enrolled(tier, "completed")),
            (f"{tier}: failed = enrollment's failed", sent.failed[tier], enrolled(tier, "failed")),
            (f"{tier}: withdrawn = enrollment's withdrawn", sent.withdrawn[tier], enrolled(tier, "withdrawn")),
        ]
    for tier in ("professional", "senior"):
        approved = subsidies("approved", tier) + subsidies("paid", tier)
        checks += [
            (
                f"{tier}: passed = funding's approved + fund-exhausted",
                sent.passed[tier],
                approved + subsidies("rejected", tier, "fund_exhausted"),
            ),
            (
                f"{tier}: failed = funding's assessment-failed",
                sent.failed[tier],
                subsidies("rejected", tier, "assessment_failed"),
            ),
            (
                f"{tier}: approved yuan = approvals x rate",
                approved * RATES[tier],
                subsidies("approved", tier, field="amount_yuan") + subsidies("paid", tier, field="amount_yuan"),
            ),
        ]
    checks += hostile_checks(sent, numbers)
    if numbers.portal is not None:
        checks.append(
            (
                "the portal's pages of these institutions = enrollment's and funding's numbers",
                dict(sorted(numbers.portal_expected.items())),
                dict(sorted(numbers.portal.items())),
            )
        )
    checks += [
        ("nothing left reserved for finished courses", 0, subsidies("reserved")),
        ("nothing left held for a suspended institution", 0, subsidies("held")),
        (
            "senior approvals = talent office's plan-route notices",
            subsidies("approved", "senior") + subsidies("paid", "senior"),
            len(numbers.plan_notices),
        ),
        (
            "introduced talents over the thresholds = introduced-route notices",
            sent.expected_introduced,
            numbers.introduced_notices,
        ),
        (
            "new dead letters in the three services during the run",
            0,
            sum(numbers.dead_letters.values()) - sum(sent.dead_letters_before.values()),
        ),
    ]
    return checks


def hostile_checks(sent: Sent, numbers: Numbers) -> list[tuple[str, object, object]]:
    """The hostile rows: each refused with its code, never a second person, audited, the enrolment left open."""

    def played(kinds: dict[str, str]) -> tuple[int, int]:
        rows = [(kind, code, n) for (kind, code), n in sent.hostile.items() if kind in kinds]
        return sum(n for _, _, n in rows), sum(n for kind, code, n in rows if code == kinds[kind])

    enrolments, completions = played(hostile.ENROLMENT_KINDS), played(hostile.BAD_COMPLETIONS)
    checks: list[tuple[str, object, object]] = [
        ("hostile enrolment rows = refused with their expected code", enrolments[0], enrolments[1]),
        ("hostile completion rows = refused with their expected code", completions[0], completions[1]),
        (
            "people accepted = enrollment's distinct trainees (another spelling is no one new)",
            len(sent.people),
            len(sent.trainees),
        ),
        (
            "refused completions = their enrolments found still open",
            sent.completions_refused_then_open[0],
            sent.completions_refused_then_open[1],
        ),
        (
            "revealing refusals, next-tier acceptances = the Bureau's identity-lookup audit entries",
            (
                sum(sent.refused[code] for code in hostile.REVEALING),
                sent.accepted["professional"] + sent.accepted["senior"],
            ),
            (sum(numbers.identity_lookups[code] for code in hostile.REVEALING), numbers.identity_lookups["accepted"]),
        ),
    ]
    suspension = sent.suspension
    if suspension is not None:
        checks += [
            (
                "completions reported while suspended (passed, failed) = funding's (held, assessment-failed)",
                (suspension.passed, suspension.failed),
                (suspension.held_seen, suspension.rejected_seen),
            ),
            (
                "finance's release = the suspended institution's reserved + held yuan",
                suspension.committed_yuan,
                suspension.released_yuan,
            ),
            (
                "releasing an active institution's reservations is refused",
                "institution_not_suspended",
                suspension.release_active_refusal,
            ),
            (
                "the suspended institution is active again (enrollment, funding)",
                ("active", "active"),
                numbers.suspended_now,
            ),
        ]
    return checks


def render(
    console: Console, sent: Sent, numbers: Numbers, checks: list[tuple[str, object, object]], wall_seconds: float
) -> bool:
    progress = numbers.progress
    table = Table(title="Progress against the plan's targets (all institutions)", show_lines=False)
    table.add_column("tier", no_wrap=True, min_width=12)
    for column in (
        "enrolled",
        "completed",
        "withdrawn",
        "failed",
        "2020 target",
        "2020 completed",
        "plan target",
        "of plan",
        "employed",
        "own business",
    ):
        table.add_column(column, justify="right")
    for tier in TIERS:
        view = progress["tiers"][tier]
        done_2020 = sum(
            r["completed"] for r in progress["by_completion_year"] if r["tier"] == tier and r["completion_year"] == 2020
        )
        table.add_row(
            tier,
            f"{view['enrolled']:,}",
            f"{view['completed']:,}",
            f"{view['withdrawn']:,}",
            f"{view['failed']:,}",
            f"{view['targets'].get('2020', 0):,}",
            f"{done_2020:,}",
            f"{view['targets']['plan']:,}",
            _pct(view.get("plan_progress")),
            _pct(view["employment_rate"]),
            _pct(view["own_business_rate"]),
        )
    console.print(table)

    groups = Table(title="Completed (passed) by target group")
    groups.add_column("target group")
    for tier in TIERS:
        groups.add_column(tier, justify="right")
    cells: dict[str, Counter[str]] = {}
    for row in progress["by_target_group"]:
        cells.setdefault(row["target_group"], Counter())[row["tier"]] += row["completed"]
    for group, counts in sorted(cells.items()):
        groups.add_row(group, *(f"{counts[t]:,}" for t in TIERS))
    console.print(groups)

    fund = numbers.fund
    money = Table(title=f"The fund (policy {fund['policy_version']}), yuan")
    for column in ("total", "approved", "paid", "reserved", "available", "burn / day", "runs out"):
        money.add_column(column, justify="right")
    money.add_row(
        f"{fund['total_yuan']:,}",
        f"{fund['approved_yuan']:,}",
        f"{fund['paid_yuan']:,}",
        f"{fund['reserved_yuan']:,}",
        f"{fund['available_yuan']:,}",
        f"{fund['burn_rate_yuan_per_day'] or 0:,.0f}",
        str(fund["projected_exhaustion"] or "-"),
    )
    console.print(money)

    decisions = Table(title=f"Subsidy decisions for this run's institutions (run {sent.run})")
    for column in ("status", "tier", "reason", "count", "yuan"):
        decisions.add_column(column, justify="right")
    merged: Counter[tuple[str, str, str]] = Counter()
    yuan: Counter[tuple[str, str, str]] = Counter()
    for row in numbers.subsidies:
        if row["status"] in ("approved", "rejected", "paid", "reversed"):
            merged[(row["status"], row["tier"], row["reason"] or "")] += row["count"]
            yuan[(row["status"], row["tier"], row["reason"] or "")] += row["amount_yuan"] or 0
    for key in sorted(merged):
        decisions.add_row(*key, f"{merged[key]:,}", f"{yuan[key]:,}")
    console.print(decisions)
    console.print(
        f"Green-card notices this run: plan route {len(numbers.plan_notices)}, "
        f"introduced route {numbers.introduced_notices}"
    )
    console.print(f"Enrolment rows refused (by code): {dict(sent.refused.most_common())}")
    console.print(f"Completion rows refused (by code): {dict(sent.completion_refused.most_common())}")
    rows = sum(sent.accepted.values()) + sum(sent.refused.values())
    hostile_rows = sum(n for (kind, _), n in sent.hostile.items() if kind in hostile.ENROLMENT_KINDS)
    bad = sum(n for (kind, _), n in sent.hostile.items() if kind in hostile.BAD_COMPLETIONS)
    console.print(
        f"Hostile rows: {hostile_rows:,} of {rows:,} enrolment rows ({hostile_rows / max(rows, 1):.1%}), "
        f"{bad:,} completion rows; other spellings of known people: {dict(sent.respelled.most_common())}"
    )
    kinds = Table(title="Hostile rows by kind and the answer they got")
    for column in ("kind", "answer", "rows"):
        kinds.add_column(column, justify="right" if column == "rows" else "left")
    for (kind, code), count in sorted(sent.hostile.items(), key=lambda item: list(hostile.EXPECTED).index(item[0][0])):
        kinds.add_row(kind, code if code == hostile.EXPECTED[kind] else f"[red]{code}[/red]", f"{count:,}")
    console.print(kinds)
    if sent.suspension is not None:
        s = sent.suspension
        console.print(
            f"Suspension: {s.institution} ({s.reason}); while suspended it reported {s.passed} passed and "
            f"{s.failed} failed professional completions, funding held {s.held_seen} and saw it "
            f"{s.funding_status}; finance released {s.released_count} reservations ({s.released_yuan:,} yuan); "
            f"reinstated — now {' / '.join(numbers.suspended_now or ('?', '?'))} (enrollment / funding)"
        )
    flagged = ", ".join(f"{f['name']} {f['refused']}/{f['rows']} on {f['day']}" for f in numbers.flagged) or "none"
    console.print(
        f"Identity lookups audited for this run (by what they revealed): {dict(numbers.identity_lookups.most_common())}"
        f"; institutions flagged for the Bureau (refused share of a day's rows over the policy's): {flagged}"
    )
    console.print(f"Dead letters now: {numbers.dead_letters} (before the run: {sent.dead_letters_before})")

    failed = [(what, a, b) for what, a, b in checks if a != b]
    for what, a, b in failed:
        console.print(f"[red]MISMATCH[/red] {what}: sent {a}, services say {b}")
    sent_total = sum(sent.accepted.values())
    line = (
        f"RECONCILIATION {'OK' if not failed else 'FAILED'}: {len(checks) - len(failed)}/{len(checks)} checks "
        f"agree — {sent_total:,} enrolments, {sum(sent.passed.values()):,} passed, "
        f"{subsidies_total(numbers):,} subsidies approved, {len(numbers.plan_notices) + numbers.introduced_notices}"
        f" green-card notices; wall time {wall_seconds:.1f}s"
    )
    console.print(f"[bold {'green' if not failed else 'red'}]{line}[/]")
    return not failed


def subsidies_total(numbers: Numbers) -> int:
    return sum(r["count"] for r in numbers.subsidies if r["status"] in ("approved", "paid"))


def _pct(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "-"
