"""Hostile HTTP against the running portal (no browser): every route, every parameter, every form field.

The routes are read from the portal's own app (`portal.main.build_app`: whatever page groups exist), and the
pages are crawled as each role (logged in through /login with its key, cookies kept) to find concrete paths,
the query parameters their links use and the fields of their forms. Then, for each role in turn:

- every path parameter, query parameter and form field gets each hostile value of a hand list (NUL, lone
  surrogates, 10k characters, RTL marks, `../`, SQL, HTML and script, huge and negative numbers, empty) and
  PORTAL_FUZZ_EXAMPLES generated ones (hypothesis, derandomized; CI 15, `make portal-fuzz` 200): never a 5xx,
  never a hostile script or tag reflected unescaped, never a redirect off the site;
- no session: a role's page leads to the log-in, a form is refused; another role's session: 403 `wrong_role`;
- a form without this session's CSRF token, with another session's, or from another site (Origin) is a 403 and
  changes nothing (the services' own state, read through their APIs, is the same after as before);
- a body over the limit is a 413 (declared, or chunked without a length), uploads at 16 MiB, forms at 64 KiB;
- hostile cookies (session, CSRF, language) never make a 5xx.

Forms posted with the right token DO act on the system (that is the point: a hostile value must be refused or
stored harmlessly), so this module runs after the package's other modules (tests/e2e/portal/conftest.py).
"""

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Mount, Route

from tests.support.portal import PlanSystem

EXAMPLES = int(os.environ.get("PORTAL_FUZZ_EXAMPLES", "15"))
ROLES = ("institution", "talent_office", "finance", "bureau")  # the bureau last: its forms may revoke keys
PUBLIC_ROLE = "public"  # not logged in
HOME = {"bureau": "/bureau", "finance": "/finance", "talent_office": "/talent", "institution": "/institution"}
PUBLIC = ("/", "/login", "/logout", "/lang", "/open", "/live", "/health", "/static")
FORM_LIMIT, UPLOAD_LIMIT = 64 * 1024, 16 * 1024 * 1024
MAX_PAGES = 40  # crawled per role
CODE = re.compile(r"[a-z][a-z0-9]*(?:[_-][a-z0-9]+)*")  # what a code looks like (free text in a code column is not one)
EXTRA_QUERY = ("export", "format", "ok")  # what every page reads (portal.web.page), linked or not

SCRIPT = '<script>alert("pq7")</script>'
TAG = '"><img src=x onerror=alert("pq7")>'
HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",  # a lone surrogate: sent as its (invalid) UTF-8 bytes
    "\udfff\ud800",
    "x" * 10_000,
    "\u202e\u2066abc\u200f",  # right-to-left override, isolate, mark
    "\ufeff\u200b",
    "../../../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "/\\evil.example",
    "//evil.example",
    "https://evil.example/",
    "' OR 1=1 --",
    "1; DROP TABLE sessions; --",
    SCRIPT,
    TAG,
    "{{7*7}}{% raw %}",
    "-1",
    "0",
    "-99999999999999999999",
    str(2**63),
    "9" * 400,
    "1e309",
    "NaN",
    "１２３",
    "2020-02-30",
    "00000000-0000-0000-0000-000000000000",
    "\r\nSet-Cookie: evil=1",
    "😀" * 200,
]
GENERATED = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=50).map(lambda t: f"<b>{t}</b><script>{t}</script>"),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
)


# --- what the portal serves -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteInfo:
    path: str  # the template, e.g. /bureau/institutions/{institution_id}
    methods: frozenset[str]
    params: tuple[str, ...]  # path parameters
    query: tuple[str, ...]  # declared query parameters

    @property
    def owner(self) -> str | None:
        """The role whose pages these are (None: public)."""
        owners = (role for role, home in HOME.items() if self.path == home or self.path.startswith(home + "/"))
        return next(owners, None)

    def matches(self, path: str) -> bool:
        parts = re.split(r"(\{[^}]+\})", self.path)
        pattern = "".join(
            (".*" if part.endswith(":path}") or self.path.startswith("/static") else "[^/]+")
            if part.startswith("{")
            else re.escape(part)
            for part in parts
        )
        return re.fullmatch(pattern, path) is not None


def portal_routes() -> list[RouteInfo]:
    from portal.main import build_app
    from portal.settings import Settings

    app = build_app(Settings(database_url="postgresql://unused", portal_session_secret="unused"))  # not started
    found: list[RouteInfo] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            if hasattr(route, "original_router"):  # FastAPI's included router, its routes resolved lazily
                walk(route.original_router.routes, prefix + getattr(route.include_context, "prefix", ""))
            elif isinstance(route, APIRoute):
                query = tuple(p.alias for p in route.dependant.query_params)
                path = prefix + route.path
                found.append(RouteInfo(path, frozenset(route.methods), tuple(route.param_convertors), query))
            elif isinstance(route, Route) and route.methods:
                params = tuple(route.param_convertors)
                found.append(RouteInfo(prefix + route.path, frozenset(route.methods), params, ()))
            elif isinstance(route, Mount):
                found.append(RouteInfo(prefix + route.path + "/{path}", frozenset({"GET"}), ("path",), ()))

    walk(list(app.routes), "")
    return [r for r in found if r.methods & {"GET", "POST"}]


# --- what a page holds: links and forms -------------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    multipart: bool
    fields: dict[str, str]  # name -> a value the page offered (hidden values, the first option ...)
    files: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, tuple[str, ...]]:
        return self.action, tuple(sorted(self.fields))


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.forms: list[Form] = []
        self.codes: list[str] = []  # the text of every table cell showing a code (`<td class="code">`)
        self._select: str | None = None
        self._code: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "td" and "code" in a.get("class", "").split():
            self._code = []
        if tag == "a" and a.get("href", "").startswith("/"):
            self.links.append(a["href"])
        elif tag == "form":
            self.forms.append(
                Form(a.get("action", ""), a.get("method", "get").upper(), "multipart" in a.get("enctype", ""), {})
            )
        elif self.forms and tag in ("input", "textarea", "button") and a.get("name"):
            if a.get("type") == "file":
                self.forms[-1].files.append(a["name"])
            elif a.get("type") in ("checkbox", "radio"):
                self.forms[-1].fields.setdefault(a["name"], a.get("value", "on"))
            else:
                self.forms[-1].fields.setdefault(a["name"], a.get("value", ""))
        elif self.forms and tag == "select" and a.get("name"):
            self._select = a["name"]
            self.forms[-1].fields.setdefault(a["name"], "")
        elif self.forms and tag == "option" and self._select and not self.forms[-1].fields.get(self._select):
            self.forms[-1].fields[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        if tag == "td" and self._code is not None:
            self.codes.append("".join(self._code).strip())
            self._code = None

    def handle_data(self, data: str) -> None:
        if self._code is not None:
            self._code.append(data)


# --- a role's browser-less session --------------------------------------------------------------------------


class Visitor:
    """An httpx client with a role's session (logged in through the log-in form, as a browser does)."""

    def __init__(self, system: PlanSystem, role: str | None) -> None:
        self.system, self.role = system, role
        self.http = httpx.Client(base_url=system.url, timeout=60, follow_redirects=False)
        self.csrf = ""
        if role is not None:
            self.login()
        else:
            self.csrf = _csrf_of(self.http.get("/login").text)

    def login(self) -> None:
        assert self.role is not None
        self.http.cookies.clear()
        form = self.http.get("/login")
        token = _csrf_of(form.text)
        answer = self.http.post("/login", data={"csrf": token, "key": self.system.keys[self.role], "next": ""})
        assert answer.status_code == 303, (self.role, answer.status_code, answer.text[:300])
        assert answer.headers["location"] == HOME[self.role]
        self.csrf = _csrf_of(self.http.get(HOME[self.role]).text)

    def logged_in(self) -> bool:
        if self.role is None:
            return True
        answer = self.http.get(HOME[self.role])
        return answer.status_code != 303  # not sent to the log-in (a page not written yet is a 404 for anyone)

    def ensure(self) -> None:
        """A hostile form may have ended the session (a log-out, a revoked key): log in again if it can."""
        if self.role is None:
            self.csrf = self.http.cookies.get("plan_csrf") or _csrf_of(self.http.get("/login").text)
        elif not self.logged_in():
            with contextlib.suppress(AssertionError):  # its key was revoked by a form: checked without a session
                self.login()

    def close(self) -> None:
        self.http.close()


def _csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


@dataclass
class Surface:
    """Everything found by crawling, per role: concrete paths, query parameters seen in links, forms."""

    routes: list[RouteInfo]
    paths: dict[str, set[str]] = field(default_factory=dict)  # role -> concrete GET paths
    queries: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # role -> path -> {name: value}
    forms: dict[str, list[Form]] = field(default_factory=dict)  # role -> forms (deduplicated)
    pages_of_form: dict[tuple[str, str], str] = field(default_factory=dict)  # (role, action) -> the page
    untranslated: set[tuple[str, str, str]] = field(default_factory=set)  # (role, page, code) shown untranslated

    def route_of(self, path: str) -> RouteInfo | None:
        return next((r for r in self.routes if r.matches(path)), None)


Crawled = tuple[set[str], dict[str, dict[str, str]], list[Form], dict[str, str], set[tuple[str, str]]]


def crawl(system: PlanSystem, role: str) -> Crawled:
    visitor = Visitor(system, None if role == PUBLIC_ROLE else role)
    home = HOME.get(role, "/open")
    try:
        start = [home, "/open", "/", "/login"]
        seen: set[str] = set()
        queries: dict[str, dict[str, str]] = {}
        forms: dict[tuple[str, tuple[str, ...]], Form] = {}
        page_of: dict[str, str] = {}
        untranslated: set[tuple[str, str]] = set()  # (page, code shown as it is, in Chinese)
        queue = list(start)
        while queue and len(seen) < MAX_PAGES:
            link = queue.pop(0)
            parts = urlsplit(link)
            if parts.path in seen or parts.path.startswith("/static"):
                continue
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
            kept = {k: v for k, v in params.items() if k not in ("export", "format")}
            queries.setdefault(parts.path, {}).update(kept)
            if "export" in params:
                continue  # a download: its page is crawled without it
            answer = visitor.http.get(link)
            seen.add(parts.path)
            if answer.status_code != 200 or "text/html" not in answer.headers.get("content-type", ""):
                continue
            parser = _Page()
            parser.feed(answer.text)
            untranslated |= {(parts.path, c) for c in parser.codes if CODE.fullmatch(c)}  # shown as it is
            for href in parser.links:
                target = urlsplit(href)
                queries.setdefault(target.path, {}).update(
                    {k: v for k, v in parse_qsl(target.query, keep_blank_values=True) if k not in ("export", "format")}
                )
                if target.path not in seen and (target.path.startswith(home) or target.path == "/open"):
                    queue.append(href)
            for form in parser.forms:
                if form.method == "POST" and form.action.startswith("/"):
                    forms.setdefault(form.key, form)
                    page_of.setdefault(form.action, parts.path)
        return seen, queries, list(forms.values()), page_of, untranslated
    finally:
        visitor.close()


@pytest.fixture(scope="module")
def surface(system: PlanSystem) -> Surface:
    found = Surface(portal_routes())
    for role in (*ROLES, PUBLIC_ROLE):
        paths, queries, forms, page_of, untranslated = crawl(system, role)
        found.paths[role], found.queries[role], found.forms[role] = paths, queries, forms
        found.untranslated |= {(role, page, code) for page, code in untranslated}
        found.pages_of_form.update({(role, action): page for action, page in page_of.items()})
    return found


@pytest.fixture(scope="module")
def visitors(system: PlanSystem) -> Iterator[dict[str, Visitor]]:
    opened = {role: Visitor(system, role) for role in ROLES}
    opened[PUBLIC_ROLE] = Visitor(system, None)
    yield opened
    for visitor in opened.values():
        visitor.close()


# --- the checks every answer must pass ---------------------------------------------------------------------


def _encoded(value: str) -> str:
    """Percent-encoded UTF-8, lone surrogates as the bytes a careless client would send."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def _form_body(fields: dict[str, str]) -> bytes:
    return "&".join(f"{_encoded(k)}={_encoded(v)}" for k, v in fields.items()).encode()


FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


def check(answer: httpx.Response, value: str, what: str) -> None:
    assert answer.status_code < 500, f"{what}: {answer.status_code}\n{answer.text[:600]}"
    assert "default-src 'self'" in answer.headers.get("content-security-policy", ""), f"{what}: no CSP"
    assert answer.headers.get("x-content-type-options") == "nosniff", f"{what}: no nosniff"
    if 300 <= answer.status_code < 400:
        location = answer.headers.get("location", "")
        read = location.strip("".join(chr(c) for c in range(0x21))).replace("\\", "/")
        read = read.replace("\t", "").replace("\n", "").replace("\r", "")
        assert read.startswith("/") and not read.startswith("//"), f"{what}: redirect off the site: {location!r}"
    assert "set-cookie: evil" not in str(answer.headers).lower(), f"{what}: a header was injected"
    if answer.headers.get("content-type", "").startswith("text/html"):
        body = answer.text
        for marker in ('<script>alert("pq7")', 'onerror=alert("pq7")'):
            if marker in value:
                assert marker not in body, f"{what}: {marker!r} reflected unescaped"
        if "<" in value and len(value) >= 8:
            assert value not in body, f"{what}: the value came back unescaped"


def _concrete(route: RouteInfo, surface: Surface, role: str) -> list[str]:
    """Concrete paths of a route seen while crawling as `role` (or the template with a plausible id)."""
    seen = sorted(p for p in surface.paths.get(role, set()) if route.matches(p))
    if seen:
        return seen[:2]
    forms = [f.action for f in surface.forms.get(role, []) if route.matches(f.action)]
    if forms:
        return sorted(set(forms))[:2]
    return [re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", route.path)]


def _with_param(route: RouteInfo, concrete: str, name: str, value: str) -> str:
    """`concrete` with the path parameter `name` replaced by `value` (percent-encoded)."""
    template = route.path.split("/")
    parts = concrete.split("/")
    return "/".join(
        _encoded(value) if t == "{" + name + "}" or t == "{" + name + ":path}" else p
        for t, p in zip(template, parts, strict=False)
    )


def _get(visitor: Visitor, url: str) -> httpx.Response:
    if url.split("?")[0] == "/live":  # a stream: its status and headers are the answer
        with visitor.http.stream("GET", url) as answer:
            return answer
    return visitor.http.get(url)


def _some_forms_of_each_route(surface: Surface, role: str, each: int = 2) -> list[Form]:
    """A page lists one form per row (a notice's buttons, a decision's reversal): two of each route suffice."""
    chosen: list[Form] = []
    taken: dict[str, int] = {}
    for form in surface.forms.get(role, []):
        route = surface.route_of(form.action)
        template = route.path if route is not None else form.action
        if taken.get(template, 0) < each:
            taken[template] = taken.get(template, 0) + 1
            chosen.append(form)
    return chosen


def attack(visitor: Visitor, surface: Surface, role: str, value: str) -> int:
    """One hostile value in every path parameter, query parameter and form field reachable as `role`."""
    sent = 0
    for route in surface.routes:
        if "GET" not in route.methods or route.owner != (None if role == PUBLIC_ROLE else role):
            continue  # a role attacks its own pages; the public pages are attacked without a session
        for concrete in _concrete(route, surface, role):
            for name in route.params:
                url = _with_param(route, concrete, name, value)
                check(_get(visitor, url), value, f"{role} GET {url[:200]}")
                sent += 1
            known = {**surface.queries.get(role, {}).get(concrete, {}), **dict.fromkeys(route.query, "")}
            for name in [*known, *EXTRA_QUERY]:
                query = "&".join(
                    f"{_encoded(k)}={_encoded(value if k == name else v)}" for k, v in {**known, name: ""}.items()
                )
                url = f"{concrete}?{query}"
                check(_get(visitor, url), value, f"{role} GET {concrete}?{name}=…")
                sent += 1
    for form in _some_forms_of_each_route(surface, role):
        for name in [n for n in form.fields if n != "csrf"] + form.files:
            sent += 1
            if name in form.files:
                files = {f: ("hostile.csv", value.encode("utf-8", "surrogatepass"), "text/csv") for f in form.files}
                answer = visitor.http.post(form.action, data={**form.fields, "csrf": visitor.csrf}, files=files)
            else:
                fields = {**form.fields, name: value, "csrf": visitor.csrf}
                answer = visitor.http.post(form.action, content=_form_body(fields), headers=FORM_TYPE)
            check(answer, value, f"{role} POST {form.action} {name}=…")
            assert 'data-code="csrf_token_invalid"' not in answer.text, f"{form.action}: the session's token refused"
            if answer.status_code == 303 and answer.headers.get("location", "").startswith("/login"):
                visitor.ensure()
        route = surface.route_of(form.action)
        if route is not None:  # the form's own path parameters too
            for name in route.params:
                url = _with_param(route, form.action, name, value)
                fields = {**form.fields, "csrf": visitor.csrf}
                check(visitor.http.post(url, content=_form_body(fields), headers=FORM_TYPE), value, f"POST {url[:200]}")
                sent += 1
    visitor.ensure()
    return sent


# --- the tests ---------------------------------------------------------------------------------------------


def test_every_route_of_the_portal_is_attacked(surface: Surface) -> None:
    """Whatever page groups exist: each of their routes is reached (crawled, or its template filled in)."""
    paths = {r.path for r in surface.routes}
    assert {"/", "/login", "/logout", "/lang", "/live"} <= paths
    for route in surface.routes:
        roles = [route.owner] if route.owner else list(ROLES)
        assert any(_concrete(route, surface, role) for role in roles), route.path
    for role in (*ROLES, PUBLIC_ROLE):
        print(
            f"\n{role}: {len(surface.paths[role])} pages crawled, {len(surface.forms[role])} forms: "
            + ", ".join(sorted({f.action for f in surface.forms[role]}))
        )
    for role in ROLES:
        assert HOME[role] in surface.paths[role] or not any(r.owner == role for r in surface.routes), role
        assert any(f.action == "/lang" for f in surface.forms[role]), "every page has the language switch"


@pytest.mark.parametrize("role", (PUBLIC_ROLE, *ROLES))
def test_hand_written_hostile_values_everywhere(
    system: PlanSystem, surface: Surface, visitors: dict[str, Visitor], role: str
) -> None:
    visitor = visitors[role]
    visitor.ensure()
    sent = sum(attack(visitor, surface, role, value) for value in HOSTILE)
    print(f"\n{role}: {sent} hostile requests")
    assert sent >= len(HOSTILE) * 2  # at least the language switch's two fields on every page


@pytest.mark.parametrize("role", (PUBLIC_ROLE, *ROLES))
def test_generated_hostile_values_everywhere(
    system: PlanSystem, surface: Surface, visitors: dict[str, Visitor], role: str
) -> None:
    visitor = visitors[role]

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(value=GENERATED)
    def attacked(value: str) -> None:
        attack(visitor, surface, role, value)

    visitor.ensure()
    attacked()


def test_every_code_a_page_shows_is_in_chinese(surface: Surface) -> None:
    """Cells of kind `code` (tiers, statuses, reasons ...) never show a code as it is on a crawled page: each
    has its Chinese in codes.po (a free text a page puts in a code column is shown as it was typed)."""
    assert sorted(surface.untranslated) == []


def test_without_a_session_a_page_leads_to_the_log_in_and_a_form_is_refused(
    system: PlanSystem, surface: Surface
) -> None:
    stranger = Visitor(system, None)
    try:
        for route in surface.routes:
            for concrete in _concrete(route, surface, route.owner or "bureau"):
                if "GET" in route.methods:
                    answer = _get(stranger, concrete)
                    check(answer, "", f"GET {concrete}")
                    if route.owner is not None:
                        assert answer.status_code == 303, concrete
                        assert answer.headers["location"].startswith("/login?next="), concrete
                if "POST" in route.methods:
                    for fields in ({}, {"csrf": ""}, {"csrf": "forged"}):
                        answer = stranger.http.post(concrete, content=_form_body(fields), headers=FORM_TYPE)
                        check(answer, "", f"POST {concrete}")
                        assert answer.status_code in (303, 403), (concrete, answer.status_code)
                        if answer.status_code == 303:
                            assert answer.headers["location"].startswith("/login"), concrete
    finally:
        stranger.close()


def test_another_roles_session_is_refused_every_page_and_form(
    system: PlanSystem, surface: Surface, visitors: dict[str, Visitor]
) -> None:
    for route in surface.routes:
        if route.owner is None:
            continue
        for concrete in _concrete(route, surface, route.owner):
            for role in ROLES:
                if role == route.owner:
                    continue
                visitor = visitors[role]
                visitor.ensure()
                if not visitor.logged_in():
                    continue  # its key was revoked by an earlier hostile form
                if "GET" in route.methods:
                    answer = visitor.http.get(concrete)
                    assert answer.status_code == 403, (role, concrete, answer.status_code)
                    assert 'data-code="wrong_role"' in answer.text
                if "POST" in route.methods:
                    answer = visitor.http.post(concrete, content=_form_body({"csrf": visitor.csrf}), headers=FORM_TYPE)
                    assert answer.status_code == 403, (role, concrete, answer.status_code)


def test_any_method_on_any_route_is_answered_without_a_server_error(
    system: PlanSystem, surface: Surface, visitors: dict[str, Visitor]
) -> None:
    """GET of a form's route, POST of a page, and methods no route has (the owner's session, its token)."""
    served: dict[str, set[str]] = {}
    for route in surface.routes:
        served.setdefault(route.path, set()).update(route.methods)
    for route in surface.routes:
        role = route.owner or "bureau"
        visitor = visitors[role]
        visitor.ensure()
        for concrete in _concrete(route, surface, role)[:1]:
            for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"):
                if method in served[route.path] or (method == "HEAD" and "GET" in served[route.path]):
                    continue
                if concrete.split("?")[0] == "/live" and method == "GET":
                    continue
                fields = _form_body({"csrf": visitor.csrf}) if method != "GET" else None
                answer = visitor.http.request(method, concrete, content=fields, headers=FORM_TYPE)
                check(answer, "", f"{method} {concrete}")
                assert 300 <= answer.status_code < 500, (method, concrete, answer.status_code)


def world(system: PlanSystem) -> str:
    """The services' state as their APIs show it, for `changes nothing`."""
    reads = [
        ("enrollment", "/institutions", "bureau"),
        ("enrollment", "/progress", "bureau"),
        ("enrollment", "/enrollments?limit=1000", "institution"),
        ("funding", "/fund", "finance"),
        ("funding", "/subsidies?limit=1000", "finance"),
        ("funding", "/payment-batches", "finance"),
        ("talent-card", "/notices/summary", "talent_office"),
        ("talent-card", "/notices?limit=1000", "talent_office"),
        ("talent-card", "/talents", "talent_office"),
    ]
    state = {}
    for service, path, role in reads:
        answer = system.call(service, "GET", path, role)
        state[f"{service}{path}"] = [answer.status_code, answer.json() if answer.content else None]
    return json.dumps(state, sort_keys=True, default=str)


def test_a_form_without_the_right_token_or_from_another_site_changes_nothing(
    system: PlanSystem, surface: Surface, visitors: dict[str, Visitor]
) -> None:
    before = world(system)
    tried = 0
    for role in ROLES:
        visitor = visitors[role]
        visitor.ensure()
        other = visitors[next(r for r in ROLES if r != role)].csrf
        for form in surface.forms[role]:
            if form.action == "/logout":
                continue  # its refusal is checked below, without losing the session first
            valid = {k: v for k, v in form.fields.items() if k != "csrf"}
            for fields, headers in (
                (valid, {}),
                ({**valid, "csrf": ""}, {}),
                ({**valid, "csrf": "x" * 43}, {}),
                ({**valid, "csrf": other}, {}),
                ({**valid, "csrf": visitor.csrf.upper()}, {}),
                ({**valid, "csrf": visitor.csrf}, {"Origin": "http://evil.example"}),
                ({**valid, "csrf": visitor.csrf}, {"Origin": "null"}),
            ):
                answer = visitor.http.post(form.action, content=_form_body(fields), headers={**FORM_TYPE, **headers})
                assert answer.status_code == 403, (role, form.action, fields.get("csrf"), headers, answer.status_code)
                assert re.search(r'data-code="(csrf_token_invalid|cross_site_form)"', answer.text), form.action
                tried += 1
        answer = visitor.http.post("/logout", content=_form_body({"csrf": "forged"}), headers=FORM_TYPE)
        assert answer.status_code == 403
        assert visitor.logged_in(), "a forged log-out ended the session"
    assert tried >= len(ROLES) * 7
    assert world(system) == before, "a refused form changed the services' state"


def test_a_body_over_the_limit_is_413(system: PlanSystem, surface: Surface, visitors: dict[str, Visitor]) -> None:
    from portal.main import UPLOADS

    posts = sorted(r.path for r in surface.routes if "POST" in r.methods and not r.params)
    for role in ROLES:
        visitor = visitors[role]
        visitor.ensure()
        for path in posts:
            route = surface.route_of(path)
            if route is not None and route.owner not in (None, role):
                continue
            limit = UPLOAD_LIMIT if path in UPLOADS else FORM_LIMIT
            body = b"csrf=" + visitor.csrf.encode() + b"&x=" + b"a" * limit
            answer = visitor.http.post(path, content=body, headers=FORM_TYPE)
            assert answer.status_code == 413, (role, path, answer.status_code)

            def chunks(size: int = limit + 1) -> Iterator[bytes]:
                sent = 0
                while sent < size:
                    yield b"a" * min(65536, size - sent)
                    sent += 65536

            if path in UPLOADS:  # a file, as the upload form sends it, streamed without a Content-Length
                head = b'--b0\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
                body_type = {"Content-Type": "multipart/form-data; boundary=b0"}
                answer = visitor.http.post(path, content=_chained(head, chunks()), headers=body_type)
            else:
                answer = visitor.http.post(path, content=chunks(), headers=FORM_TYPE)  # no Content-Length
            assert answer.status_code == 413, (role, path, "chunked", answer.status_code)
    assert visitors["bureau"].logged_in()


def _chained(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield head
    yield from rest


@pytest.mark.parametrize(
    "cookies",
    [
        {"plan_session": "x" * 10_000},
        {"plan_session": "' OR 1=1 --"},
        {"plan_session": ""},
        {"plan_csrf": "x" * 10_000},
        {"plan_csrf": '"><script>'},
        {"lang": "../../etc/passwd"},
        {"lang": "x" * 5000},
        {"lang": "en", "plan_session": "%00"},
    ],
)
def test_hostile_cookies_never_break_a_page(system: PlanSystem, surface: Surface, cookies: dict[str, str]) -> None:
    stranger = Visitor(system, None)
    try:
        for name, value in cookies.items():
            stranger.http.cookies.set(name, value)
        for route in surface.routes:
            for concrete in _concrete(route, surface, route.owner or "bureau")[:1]:
                if "GET" in route.methods:
                    check(_get(stranger, concrete), "", f"GET {concrete} with {cookies}")
                if "POST" in route.methods:
                    answer = stranger.http.post(concrete, content=_form_body({"csrf": "x"}), headers=FORM_TYPE)
                    check(answer, "", f"POST {concrete} with {cookies}")
                    assert answer.status_code in (303, 403)
    finally:
        stranger.close()


def test_a_log_in_never_redirects_off_the_site(system: PlanSystem) -> None:
    for target in ["//evil.example", "/\\evil.example", "https://evil.example", "/\t/evil.example", "/bureau//x"]:
        visitor = Visitor(system, None)
        try:
            page = visitor.http.get("/login", params={"next": target})
            check(page, target, "GET /login?next")
            fields = {"csrf": _csrf_of(page.text), "key": system.keys["bureau"], "next": target}
            answer = visitor.http.post("/login", content=_form_body(fields), headers=FORM_TYPE)
            check(answer, target, "POST /login")
            assert answer.status_code == 303
            lang = visitor.http.post(
                "/lang",
                content=_form_body({"csrf": _csrf_of(visitor.http.get("/bureau").text), "lang": "en", "next": target}),
                headers=FORM_TYPE,
            )
            check(lang, target, "POST /lang")
        finally:
            visitor.close()
