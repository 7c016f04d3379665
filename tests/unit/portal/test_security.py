"""portal.security and the parts of portal.web that guard the site: sealed keys, tokens, redirects after
log-in, CSRF-checked forms and the headers of every answer."""

import string
from collections.abc import Iterator

import httpx
import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import example, given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from portal import i18n
from portal.security import CSRF_COOKIE, Sealer, fingerprint, new_token, same, token_hash
from portal.web import BadForm, Edge, Viewer, checked_form, safe_next

# --- the sealed key kept with a session -------------------------------------------------------------------


@given(key=st.text(max_size=600), secret=st.text(min_size=1, max_size=80), token=st.text(min_size=1, max_size=60))
def test_a_sealed_key_opens_again_under_its_own_token_hash(key: str, secret: str, token: str) -> None:
    sealer = Sealer(secret.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
    key = key.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    sealed = sealer.seal(key, token_hash(token))
    assert len(key.encode()) < 8 or key.encode() not in sealed  # the key is not kept in the clear
    assert sealer.open(sealed, token_hash(token)) == key


def test_a_sealed_key_does_not_open_under_another_token_hash_or_another_secret() -> None:
    sealer = Sealer("the portal's secret")
    bound = token_hash(new_token())
    sealed = sealer.seal("bureau-key-123", bound)
    with pytest.raises(InvalidTag):
        sealer.open(sealed, token_hash(new_token()))  # copied to another session's row
    with pytest.raises(InvalidTag):
        Sealer("another secret").open(sealed, bound)  # the portal's secret changed
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(InvalidTag):
        sealer.open(bytes(tampered), bound)


def test_sealing_twice_gives_different_bytes() -> None:
    sealer, bound = Sealer("s"), token_hash("t")
    assert sealer.seal("k", bound) != sealer.seal("k", bound)  # a fresh nonce each time


def test_tokens_are_random_and_only_their_hash_is_kept() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200 and all(len(t) >= 43 for t in tokens)
    assert all(set(t) <= set(string.ascii_letters + string.digits + "-_") for t in tokens)
    token = new_token()
    assert token_hash(token) == token_hash(token) and len(token_hash(token)) == 32
    assert token.encode() not in token_hash(token)
    assert len(fingerprint("a key")) == 8 and fingerprint("a key") != fingerprint("another key")


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [("x", "x", True), ("x", "y", False), ("", "", False), (None, None, False), ("x", None, False), ("", "x", False)],
)
def test_csrf_tokens_compare_equal_only_when_both_are_there_and_equal(
    a: str | None, b: str | None, equal: bool
) -> None:
    assert same(a, b) is equal


# --- redirects after log-in never leave the site ------------------------------------------------------------


def _as_a_browser_reads_it(location: str) -> str:
    """What a browser's URL parser makes of a relative Location before resolving it (WHATWG URL): leading and
    trailing C0 controls and spaces stripped, tabs and newlines removed, a backslash read as a slash."""
    trimmed = location.strip("".join(chr(c) for c in range(0x21)))
    return trimmed.replace("\t", "").replace("\n", "").replace("\r", "").replace("\\", "/")


def _stays_on_the_site(location: str) -> bool:
    read = _as_a_browser_reads_it(location)
    return read.startswith("/") and not read.startswith("//")


def _location(target: str) -> str:
    return RedirectResponse(target, status_code=303).headers["location"]


HOSTILE_NEXT = [
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
    "/\t/evil.example",
    "/\n/evil.example",
    "\t//evil.example",
    " //evil.example",
    "/\r\n/evil.example",
    "\x00//evil.example",
    "/\x00/evil.example",
    "\x01/evil.example",
    "/\x7f/evil.example",
    "//%2Fevil.example",
    "///evil.example",
    "/%2F/evil.example",
    "",
    "bureau",
]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_safe_next_refuses_every_way_out_of_the_site(target: str) -> None:
    kept = safe_next(target, "/fallback")
    assert _stays_on_the_site(kept), repr(kept)
    assert _stays_on_the_site(_location(kept)), repr(_location(kept))
    assert not any(ord(ch) < 0x20 or ch == "\x7f" for ch in kept), repr(kept)


@given(st.text(max_size=80) | st.text(alphabet="/\\\t\n\r :.%2Fevil@\x00\x0b\x0c\x1f\x7f", max_size=20))
@example("//evil")
@example("/\\evil")
@example("https://evil")
@example("/\t/evil")
def test_safe_next_keeps_a_path_of_this_site_or_falls_back(target: str) -> None:
    kept = safe_next(target, "/home")
    assert kept in (target, "/home")
    assert _stays_on_the_site(kept), repr(kept)
    if kept == target:  # a path that stays is a plain one: no control character, no backslash
        assert target.startswith("/") and "\\" not in target
        assert not any(ord(ch) < 0x20 or ch == "\x7f" for ch in target), repr(target)
        assert _stays_on_the_site(_location(target.encode("utf-8", "replace").decode("utf-8", "replace")))


@pytest.mark.parametrize("target", ["/bureau", "/bureau/institutions?page=2", "/finance#fund", "/open?lang=zh"])
def test_safe_next_keeps_the_sites_own_paths(target: str) -> None:
    assert safe_next(target, "/") == target


# --- forms and the edge, on a tiny app with the portal's own parts ------------------------------------------

VIEWER = Viewer("bureau", "the-key", "session-csrf", b"h" * 32)


def _form_app(viewer: Viewer | None) -> Starlette:
    async def post(request: Request) -> Response:
        try:
            form = await checked_form(request, viewer)
        except BadForm as refusal:
            return PlainTextResponse(refusal.code, refusal.status)
        return PlainTextResponse(f"ok {form.get('x')}")

    async def get(request: Request) -> Response:
        return PlainTextResponse(f"{i18n.LANG.get()} {request.scope['portal.csrf']}")

    app = Starlette(routes=[Route("/form", post, methods=["POST"]), Route("/", get)])
    return Edge(app)  # type: ignore[return-value]


@pytest.fixture
def client() -> Iterator[httpx.AsyncClient]:
    yield httpx.AsyncClient(transport=httpx.ASGITransport(app=_form_app(VIEWER)), base_url="http://portal.test")


async def test_a_form_with_the_sessions_token_from_this_site_passes(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/form", data={"csrf": "session-csrf", "x": "1"}, headers={"Origin": "http://portal.test"}
    )
    assert (answer.status_code, answer.text) == (200, "ok 1")
    answer = await client.post("/form", data={"csrf": "session-csrf", "x": "2"})  # no Origin (an old browser)
    assert (answer.status_code, answer.text) == (200, "ok 2")


@pytest.mark.parametrize(
    ("data", "headers", "status", "code"),
    [
        ({"x": "1"}, {}, 403, "csrf_token_invalid"),
        ({"csrf": "", "x": "1"}, {}, 403, "csrf_token_invalid"),
        ({"csrf": "another", "x": "1"}, {}, 403, "csrf_token_invalid"),
        ({"csrf": "session-csrf"}, {"Origin": "http://evil.test"}, 403, "cross_site_form"),
        ({"csrf": "session-csrf"}, {"Origin": "null"}, 403, "cross_site_form"),
        ({"csrf": "session-csrf"}, {"Origin": "http://portal.test.evil.test"}, 403, "cross_site_form"),
    ],
)
async def test_a_form_without_the_right_token_or_from_another_site_is_refused(
    client: httpx.AsyncClient, data: dict[str, str], headers: dict[str, str], status: int, code: str
) -> None:
    answer = await client.post("/form", data=data, headers=headers)
    assert (answer.status_code, answer.text) == (status, code)


async def test_a_body_that_is_not_a_form_is_refused(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/form", content=b"--x\r\nbroken", headers={"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert answer.status_code in (400, 403)


async def test_before_log_in_the_form_carries_the_browsers_csrf_cookie() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_form_app(None)), base_url="http://p.test") as c:
        first = await c.get("/")
        token = first.cookies[CSRF_COOKIE]
        assert first.text == f"zh {token}"
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert (await c.post("/form", data={"csrf": token, "x": "y"})).text == "ok y"
        assert (await c.post("/form", data={"csrf": new_token(), "x": "y"})).status_code == 403
        c.cookies.clear()
        assert (await c.post("/form", data={"csrf": token, "x": "y"})).status_code == 403  # another browser


async def test_every_answer_carries_the_security_headers_and_the_language_comes_from_the_cookie() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_form_app(None)), base_url="http://p.test") as c:
        answer = await c.get("/")
        csp = answer.headers["content-security-policy"]
        for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"):
            assert directive in csp
        assert "unsafe-inline" not in csp and "http" not in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["cache-control"] == "no-store"
        for cookie, lang in (("en", "en"), ("zh", "zh"), ("fr", "zh"), ("", "zh"), ("en\x00", "zh")):
            c.cookies.set("lang", cookie)
            assert (await c.get("/")).text.split()[0] == lang, cookie
        c.cookies.clear()
        c.cookies.set(CSRF_COOKIE, "x" * 500)  # an absurd cookie is replaced, not trusted
        answer = await c.get("/")
        assert CSRF_COOKIE in answer.headers.get("set-cookie", "")


# --- macros imported without `with context` ---------------------------------------------------------------------

NO_CONTEXT = """{% extends "base.html" %}{% from "macros.html" import table, csrf_field, field_error %}
{% block content %}<form method="post" action="/x">{{ csrf_field() }}{{ field_error("reason") }}</form>
{{ table(tables.t) }}{% endblock %}"""


async def test_macros_imported_without_context_carry_the_csrf_token_the_flash_and_the_export_links() -> None:
    from jinja2 import ChoiceLoader, DictLoader

    from portal.tables import Column, Table
    from portal.web import Ctx, Flash, page, templates

    table = Table("t", "Subsidies", [Column("n", "Count", "int")], [{"n": 1}])

    async def render(request: Request) -> Response:
        flash = Flash("error", "bad!", "reason")
        return page(request, "test/no-context.html", VIEWER, Ctx(tables=[table]), flash=flash)

    original = templates.env.loader
    templates.env.loader = ChoiceLoader([DictLoader({"test/no-context.html": NO_CONTEXT}), original])
    try:
        app = Edge(Starlette(routes=[Route("/page", render)]))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p.test") as c:
            html = (await c.get("/page", params={"tier": "senior"})).text
    finally:
        templates.env.loader = original
    assert html.count('name="csrf" value="session-csrf"') == 3  # the form, the language switch, the log-out
    assert '<span class="field-error">bad!</span>' in html
    assert 'href="/page?tier=senior&amp;export=t&amp;format=csv"' in html
