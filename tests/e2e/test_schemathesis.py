"""schemathesis, a fuzzer we did not write, against the three services' OpenAPI documents.

The services run as real processes on the real broker and a fresh database. For every service, with each
key that applies (each role's key, no key and a wrong key), `st run` generates requests for every operation
— examples, coverage, fuzzing (valid and invalid data) and the stateful phase, which follows the documents'
OpenAPI links (accredit an institution → read it, issue its key, suspend and reinstate it; enrol → read the
enrolment, complete it, report its outcome, withdraw it; create a payment batch → read it, pay it; register a
talent → read it, add and verify evidence, evaluate, ask why) — and fails on any 5xx, a status code or content
type the document does not declare, a body that breaks its schema, or a crash.

`SCHEMATHESIS_EXAMPLES` is the number of examples per operation and phase (CI: 40; `make api-fuzz`: 500).
"""

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from infra import kafka, postgres, secrets, services
from tests.e2e.test_plan import INPUTS
from tests.infrastructure import real_infrastructure
from tests.support.kafka import group_starts_at_end
from tests.support.people import id_number

DATABASE = "talentplan_schemathesis"
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "40"))
SEED = int(os.environ.get("SCHEMATHESIS_SEED", "20200808"))
CHECKS = (
    "not_a_server_error",  # no 5xx, whatever the input
    "status_code_conformance",  # every status answered is declared by the operation
    "content_type_conformance",
    "response_schema_conformance",  # every body matches its declared schema
    "response_headers_conformance",
    "negative_data_rejection",  # what the schema calls invalid is refused with a 4xx
    "missing_required_header",
    "unsupported_method",  # another method on a path: 405, with the envelope
    "use_after_free",
    "ensure_resource_availability",  # a created resource can be read through its link
    "ignored_auth",  # an operation that declares X-API-Key refuses a request without it
)
# Left out, on purpose: `positive_data_acceptance` (a schema-valid request must not get a 422). Our rules say more
# than JSON Schema can: an ID number's checksum, region and birth date, no control characters in text, a course's
# dates inside the plan period, the fields each kind of evidence needs, totals that must match the ledger. Such a
# request is refused with a 422 naming the field, which is right; the check would call it a failure.
WRONG_KEY = "inst_00000000000000000000000000000000_not-a-key"  # the shape of an institution key; no such key


@dataclass(frozen=True)
class Run:
    service: str
    role: str
    key: str | None
    tags: tuple[str, ...] = ()  # only the operations this key is for (none: every operation)


@pytest.fixture(scope="module")
def keys() -> Iterator[dict[str, str]]:
    """The three services on a fresh database; an institution accredited by the Bureau, with its key."""
    with real_infrastructure() as infra:
        if infra.kafka != kafka.BOOTSTRAP:
            pytest.fail("schemathesis runs against the services on the local infrastructure (`make test`)")
        services.stop_all()
        postgres.fresh_database(DATABASE)
        run = uuid.uuid4().hex[:6]
        try:
            for name in services.APIS:
                _, schema, _ = services.SERVICES[name]
                group = f"{name}-schemathesis-{run}"
                if INPUTS[name]:
                    asyncio.run(group_starts_at_end(infra.kafka, group, *INPUTS[name]))
                services.start(name, {"DATABASE_URL": postgres.service_url(schema, DATABASE), "CONSUMER_GROUP": group})
            for name in services.APIS:
                services.wait_healthy(name)
            role_keys = secrets.load()
            bureau = {"X-API-Key": role_keys["BUREAU_API_KEY"]}
            enrollment = services.url("enrollment")
            made = httpx.post(
                f"{enrollment}/institutions",
                headers=bureau,
                json={"name": f"Schemathesis Academy {run}", "mode": "both"},
                timeout=30,
            )
            assert made.status_code == 201, made.text
            issued = httpx.post(f"{enrollment}/institutions/{made.json()['id']}/keys", headers=bureau, timeout=30)
            assert issued.status_code == 201, issued.text
            yield {
                "bureau": role_keys["BUREAU_API_KEY"],
                "institution": issued.json()["api_key"],
                "finance": role_keys["FINANCE_API_KEY"],
                "talent office": role_keys["TALENT_OFFICE_API_KEY"],
            }
        finally:
            services.stop_all()


RUNS = [
    # the institution before the Bureau: the Bureau's run may suspend institutions (403s are documented)
    Run("enrollment", "institution", "institution", ("institutions",)),
    Run("enrollment", "bureau", "bureau", ("bureau", "operations")),
    Run("funding", "finance", "finance"),
    Run("talent-card", "talent office", "talent office"),
    *(
        Run(name, role, None if role == "no key" else "wrong")
        for name in services.APIS
        for role in ("no key", "wrong key")
    ),
]


def config(path: Path) -> Path:
    """Values the rules need and JSON Schema cannot say, offered often (not always) where a body has the field: valid
    ID numbers, course dates inside the plan period, a mobile number. With them the stateful phase's creations succeed
    (an enrolment, a talent) and the links after them read and change real records."""
    ids = json.dumps([id_number(f"{1970 + n % 30}0{1 + n % 9}1{n % 10}") for n in range(400)])
    path.write_text(
        f"""
[dictionaries.ids]
values = {ids}
[dictionaries.starts]
values = ["2020-03-02", "2020-06-01", "2021-02-01"]
[dictionaries.ends]
values = ["2021-06-30", "2021-10-29"]
[dictionaries.phones]
values = ["13800138000", "13912345678"]
[parameters]
"body.id_number" = {{ dictionary = "ids", probability = 0.8 }}
"body.starts_on" = {{ dictionary = "starts", probability = 0.8 }}
"body.completed_on" = {{ dictionary = "ends", probability = 0.8 }}
"body.phone" = {{ dictionary = "phones", probability = 0.8 }}

# readiness answers 503 (documented) while the broker or the database does not answer: that is its job, not a crash
[[operations]]
include-path-regex = "^/health"
checks.not_a_server_error.enabled = false
"""
    )
    return path


def schemathesis(run: Run, key: str | None, report: Path) -> tuple[int, str, dict[str, object]]:
    command = [
        str(Path(sys.executable).parent / "st"),
        "--config-file",
        str(config(report.with_name("schemathesis.toml"))),
        "run",
        f"{services.url(run.service)}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",  # hypothesis' lambda descriptions race on CPython 3.11's parser with several workers
        *(arg for tag in run.tags for arg in ("--include-tag", tag)),
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "too_slow,filter_too_much",
        "--report",
        "har",
        "--report-har-path",
        str(report),
        "--no-color",
        *(["--header", f"X-API-Key: {key}"] if key else []),
        "--header",
        "X-Actor: schemathesis",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    return done.returncode, done.stdout + done.stderr, reached(report)


def reached(har: Path) -> dict[str, int]:
    """Successful answers of the operations that need an existing record (a path with an id in it): only a link
    from a creation (the stateful phase) reaches them with an id that exists, so these show what it exercised."""
    found: dict[str, int] = {}
    entries = json.loads(har.read_text())["log"]["entries"] if har.exists() else []
    for entry in entries:
        status, url = entry["response"]["status"], entry["request"]["url"]
        path = url.split("://", 1)[-1].split("/", 1)[-1].split("?")[0]
        if 200 <= status < 300 and any(len(part) >= 32 for part in path.split("/")):
            shape = "/".join("{id}" if len(p) >= 32 else p for p in path.split("/"))
            name = f"{entry['request']['method']} /{shape}"
            found[name] = found.get(name, 0) + 1
    return found


@pytest.mark.parametrize("run", RUNS, ids=lambda r: f"{r.service}-{r.role.replace(' ', '-')}")
def test_schemathesis_finds_nothing(keys: dict[str, str], run: Run, tmp_path: Path) -> None:
    key = WRONG_KEY if run.key == "wrong" else keys[run.key] if run.key else None
    code, output, linked = schemathesis(run, key, tmp_path / "requests.har")
    tail = output[output.rfind("SUMMARY") :] if "SUMMARY" in output else output[-6000:]
    print(f"\n=== schemathesis: {run.service} as {run.role}, {EXAMPLES} examples per operation ===\n{tail}")
    print("existing records reached (2xx on a path with an id):", json.dumps(linked, sort_keys=True) or "none")
    assert code == 0, f"schemathesis found problems in {run.service} as {run.role}:\n{output[-20000:]}"
