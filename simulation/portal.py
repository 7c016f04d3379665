"""What the web pages show, read the way a person reads them: each of this run's institutions logs in to the
portal with its key and downloads its own tables (in English, as CSV). The reconciliation compares them with
enrollment's and funding's numbers for the same institutions, so the pages are checked against the APIs."""

import asyncio
import csv
import io
import re
import time
from collections import Counter
from typing import Any

import httpx

from infra import services
from simulation.play import TIERS, Sent

PortalCounts = Counter[tuple[str, str]]  # (tier, enrolled|completed|failed|withdrawn|approved|approved_yuan)
COLUMNS = {"Enrolled": "enrolled", "Passed": "completed", "Failed": "failed", "Withdrawn": "withdrawn"}


async def _table(http: httpx.AsyncClient, path: str, table: str) -> list[dict[str, str]]:
    answer = await http.get(path, params={"export": table, "format": "csv"})
    answer.raise_for_status()
    return list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))


def _number(text: str) -> int:
    return int(re.sub(r"[^\d-]", "", text) or 0)


async def institution_view(base: str, key: str) -> PortalCounts:
    """One institution's own counts as its overview page shows them."""
    counts: PortalCounts = Counter()
    async with httpx.AsyncClient(base_url=base, timeout=60, cookies={"lang": "en"}) as http:
        form = await http.get("/login")
        form.raise_for_status()
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        if token is None:
            raise RuntimeError("the portal's log-in form has no CSRF token")
        answer = await http.post("/login", data={"csrf": token.group(1), "key": key})
        if answer.status_code != 303:
            raise RuntimeError(f"the portal refused an institution's key: HTTP {answer.status_code}")
        for row in await _table(http, "/institution", "tiers"):
            if row["Tier"] not in TIERS:  # the total row
                continue
            for header, name in COLUMNS.items():
                counts[(row["Tier"], name)] += _number(row[header])
        for row in await _table(http, "/institution", "decisions"):
            if row["Decision"] == "approved":
                counts[(row["Tier"], "approved")] += _number(row["Completions"])
                counts[(row["Tier"], "approved_yuan")] += _number(row["Amount"])
    return counts


async def portal_numbers(sent: Sent, expected: PortalCounts, patience: float = 60) -> PortalCounts:
    """The sum of this run's institutions' pages; read again (the portal's read model follows the events a moment
    behind the services) until they equal `expected` or `patience` seconds have passed."""
    base = services.url("portal")
    deadline = time.monotonic() + patience
    while True:
        seen: PortalCounts = Counter()
        for _, key in sent.institutions.values():
            seen.update(await institution_view(base, key))
        seen = Counter({k: v for k, v in seen.items() if v})
        if seen == expected or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(1)


def expected_counts(by_institution: list[dict[str, Any]], subsidies: list[dict[str, Any]]) -> PortalCounts:
    """What the pages must show, from enrollment's progress and funding's statements of the same institutions."""
    counts: PortalCounts = Counter()
    for row in by_institution:
        for name in COLUMNS.values():
            counts[(row["tier"], name)] += row[name]
    for row in subsidies:
        if row["status"] in ("approved", "paid"):
            counts[(row["tier"], "approved")] += row["count"] or 0
            counts[(row["tier"], "approved_yuan")] += row["amount_yuan"] or 0
    return Counter({k: v for k, v in counts.items() if v})
