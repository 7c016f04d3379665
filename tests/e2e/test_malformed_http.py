"""Our own malformed-input tier over every route of the three running services (schemathesis is the other).

For every operation of every service's OpenAPI document, with every key the service knows (and none), the
test sends hand-written hostile values — in each path parameter, each query parameter and each body field — and
bodies that are not what the route takes at all (bytes that are not UTF-8, JSON that nests 100,000 deep,
numbers no integer holds, the wrong content type), then hypothesis-generated JSON bodies whose fields hold any
JSON value with any Unicode. Every answer must be a documented status, never a 5xx or a dropped connection, and
every refusal must carry the error envelope `{"error": {"code", "message", "field"}}`.

`MALFORMED_EXAMPLES` is the number of generated bodies per operation and key (CI: 15; `make api-fuzz`: 200).
"""

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra import services
from tests.e2e.test_schemathesis import WRONG_KEY, keys  # noqa: F401  (the fixture: three services, an institution)

EXAMPLES = int(os.environ.get("MALFORMED_EXAMPLES", "15"))
KEYS_OF = {
    "enrollment": ("bureau", "institution"),
    "funding": ("finance",),
    "talent-card": ("talent office", "bureau"),
}

# as text in a path or query (percent-encoded where it must be): what a careless or hostile client sends
HOSTILE_TEXT = [
    "",
    "\x00",
    "a\x00b",
    "\x01\x1b[31m",
    "\ud800",  # a lone surrogate: not encodable, sent as its UTF-8-ish bytes below
    "-1",
    "0",
    str(2**63),
    str(-(2**63) - 1),
    "9" * 400,
    "1e309",
    "NaN",
    "１２３",  # full-width digits
    "../../etc/passwd",
    "' OR 1=1 --",
    "😀" * 50,
    "x" * 10_000,
    "00000000-0000-0000-0000-000000000000",
    "inst_00000000000000000000000000000000_x",
]
RAW_PATH_SEGMENTS = ["%00", "%ZZ", "%ED%A0%80", "%FF%FE", "%C0%AF", "%2e%2e", "%0A"]

# as a JSON value in a body field
HOSTILE_JSON: list[Any] = [
    None,
    True,
    0,
    -1,
    2**53 + 1,
    2**63,
    -(2**63) - 1,
    10**400,
    1.5,
    1e308,
    "",
    "\x00",
    "name\x00",
    "\x07bell",
    "\u202e\u200b",
    "😀" * 1000,
    "x" * 5_000,
    [],
    {},
    [None] * 1000,
    {"nested": {"deeper": [1, "2", None]}},
]

# whole bodies that are not what any route takes
RAW_BODIES: list[tuple[bytes, str]] = [
    (b"", "application/json"),
    (b"{", "application/json"),
    (b"\xff\xfe\x00\x00", "application/json"),
    (b'{"a": "\\ud800"}', "application/json"),  # a lone surrogate as a JSON escape
    (b'{"a": 1, "a": 2}', "application/json"),
    (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    (b"9" * 100_000, "application/json"),
    (b"1e999999", "application/json"),
    (b"null", "application/json"),
    (b"[]", "application/json"),
    (b'"text"', "application/json"),
    (b"<xml/>", "application/xml"),
    (b"a,b\r\n\x00,\xff", "text/csv"),
    (b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\ny\r\n--b--", "multipart/form-data; boundary=b"),
    (b"\x1f\x8b\x08\x00garbage", "application/json"),
]


@dataclass
class Operation:
    service: str
    method: str
    path: str
    spec: dict[str, Any]
    document: dict[str, Any]
    answers: list[tuple[str, int]] = field(default_factory=list)

    @property
    def documented(self) -> set[int]:
        return {int(s) for s in self.spec.get("responses", {}) if s.isdigit()}

    def parameters(self, where: str) -> list[str]:
        return [p["name"] for p in self.spec.get("parameters", []) if p["in"] == where]

    def body_fields(self) -> list[str]:
        content = self.spec.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema", {})
        while "$ref" in schema:
            schema = self.document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return list(schema.get("properties", {}))


def operations() -> Iterator[Operation]:
    for name in services.APIS:
        document = httpx.get(f"{services.url(name)}/openapi.json", timeout=30).json()
        for path, item in document["paths"].items():
            for method, spec in item.items():
                if method in ("get", "post", "put", "patch", "delete"):
                    yield Operation(name, method.upper(), path, spec, document)


def fill(path: str, value: str, raw: bool = False) -> str:
    """The path with every {parameter} set to `value` (percent-encoded unless `raw`)."""
    encoded = value if raw else quote(value.encode("utf-8", "surrogatepass"), safe="")
    out, rest = "", path
    while "{" in rest:
        head, _, tail = rest.partition("{")
        out += head + encoded
        rest = tail.partition("}")[2]
    return out + rest


class Verdicts:
    """Every answer checked; the failures gathered so one run reports all of them."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.count = 0

    def check(self, op: Operation, answer: httpx.Response | Exception, what: str) -> None:
        self.count += 1
        where = f"{op.service} {op.method} {op.path} [{what[:120]!r}]"
        if isinstance(answer, Exception):
            self.failures.append(f"{where}: {type(answer).__name__}: {answer}")
            return
        status = answer.status_code
        if status >= 500:
            self.failures.append(f"{where}: {status} {answer.text[:200]}")
        elif status not in op.documented:
            self.failures.append(f"{where}: {status} is not documented ({sorted(op.documented)})")
        elif status >= 400:
            try:
                error = answer.json()["error"]
                assert isinstance(error["code"], str) and isinstance(error["message"], str) and "field" in error
            except Exception:
                self.failures.append(f"{where}: {status} without the error envelope: {answer.text[:200]}")


def send(
    client: httpx.Client, op: Operation, key: str | None, url: str, body: bytes | None = None, ctype: str | None = None
) -> httpx.Response | Exception:
    headers = {"X-API-Key": key} if key else {}
    if ctype:
        headers["Content-Type"] = ctype
    try:
        return client.request(op.method, url, content=body, headers=headers)
    except httpx.HTTPError as error:
        return error


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as client:
        yield client


def test_hand_written_hostile_values_in_every_parameter_and_field_of_every_route(
    keys: dict[str, str],  # noqa: F811
    client: httpx.Client,
) -> None:
    verdicts = Verdicts()
    for op in operations():
        base = services.url(op.service)
        for role in (*KEYS_OF[op.service], None, "wrong"):
            key = WRONG_KEY if role == "wrong" else keys[role] if role else None
            label = "no key" if role is None else role
            if "{" in op.path:
                for value in HOSTILE_TEXT:
                    verdicts.check(op, send(client, op, key, base + fill(op.path, value)), f"{label}: path {value}")
                for raw in RAW_PATH_SEGMENTS:
                    verdicts.check(op, send(client, op, key, base + fill(op.path, raw, raw=True)), f"{label}: {raw}")
            path = fill(op.path, "00000000-0000-0000-0000-000000000001")
            for name in op.parameters("query"):
                for value in HOSTILE_TEXT:
                    url = f"{base}{path}?{quote(name)}={quote(value.encode('utf-8', 'surrogatepass'), safe='')}"
                    verdicts.check(op, send(client, op, key, url), f"{label}: ?{name}={value}")
            if op.method in ("POST", "PUT", "PATCH"):
                for raw_body, ctype in RAW_BODIES:
                    what = f"{label}: body {raw_body[:40]!r} as {ctype}"
                    verdicts.check(op, send(client, op, key, base + path, raw_body, ctype), what)
                for name in op.body_fields():
                    for value in HOSTILE_JSON:
                        body = json.dumps({name: value}).encode()
                        what = f"{label}: {name}={str(value)[:40]}"
                        verdicts.check(op, send(client, op, key, base + path, body, "application/json"), what)
    print(f"\nmalformed HTTP tier: {verdicts.count} hand-written requests, {len(verdicts.failures)} failures")
    assert verdicts.failures == [], "\n".join(verdicts.failures[:40])


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def fuzz_bodies(client: httpx.Client, keys: dict[str, str], op: Operation, verdicts: Verdicts) -> None:  # noqa: F811
    """`EXAMPLES` generated JSON bodies on one operation: its own fields holding any JSON, or any fields at all."""
    url = services.url(op.service) + fill(op.path, "00000000-0000-0000-0000-000000000001")
    names = op.body_fields() or ["x"]

    @settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
    @given(
        body=st.fixed_dictionaries({}, optional={n: JSON_VALUES for n in names})
        | st.dictionaries(st.text(), JSON_VALUES, max_size=5),
        role=st.sampled_from([*KEYS_OF[op.service], None]),
    )
    def one(body: dict[str, Any], role: str | None) -> None:
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
        answer = send(client, op, keys[role] if role else None, url, raw, "application/json")
        verdicts.check(op, answer, f"{role or 'no key'}: generated {raw[:80]!r}")

    one()


def test_generated_bodies_on_every_route_with_every_key(keys: dict[str, str], client: httpx.Client) -> None:  # noqa: F811
    verdicts = Verdicts()
    writable = [op for op in operations() if op.method in ("POST", "PUT", "PATCH")]
    for op in writable:
        fuzz_bodies(client, keys, op, verdicts)
    print(f"\nmalformed HTTP tier: {verdicts.count} generated bodies over {len(writable)} routes")
    assert verdicts.failures == [], "\n".join(verdicts.failures[:40])
