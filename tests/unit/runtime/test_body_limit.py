"""Bodies are bounded while they are read, and a request without a key is refused before its body is read."""

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Request
from pydantic import BaseModel

from plan_runtime.limits_http import BodyLimit


class Item(BaseModel):
    name: str


def app() -> FastAPI:
    api = FastAPI()
    reads: list[int] = []

    @api.post("/items")
    async def items(item: Item) -> dict[str, str]:
        return {"name": item.name}

    @api.post("/cohorts")
    async def cohorts(request: Request) -> dict[str, int]:
        body = await request.body()
        reads.append(len(body))
        return {"bytes": len(body)}

    @api.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    api.state.reads = reads
    api.add_middleware(BodyLimit, default=1_000, bulk=10_000, bulk_paths={"/cohorts"})
    return api


async def chunks(total: int, size: int = 500) -> AsyncIterator[bytes]:
    for _ in range(total // size):
        yield b"x" * size


async def test_limits_by_route_declared_and_streamed() -> None:
    api = app()
    key = {"X-API-Key": "k"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://t") as client:
        small = await client.post("/items", json={"name": "Liu"}, headers=key)
        declared = await client.post("/items", content=b"{" + b" " * 2_000 + b"}", headers=key)
        bulk_ok = await client.post("/cohorts", content=b"x" * 9_000, headers=key)
        bulk_big = await client.post("/cohorts", content=b"x" * 20_000, headers=key)
        streamed = await client.post("/cohorts", content=chunks(20_000), headers=key)
        streamed_json = await client.post(
            "/items", content=chunks(5_000), headers={**key, "Content-Type": "application/json"}
        )
        no_key = await client.post("/cohorts", content=b"x" * 20_000)
        open_route = await client.get("/health")
        bad_length = await client.post("/items", content=b"{}", headers={**key, "Content-Length": "lots"})

    assert small.status_code == 200 and bulk_ok.json() == {"bytes": 9_000}
    for answer in (declared, bulk_big, streamed, streamed_json):
        assert answer.status_code == 413, answer.text
        assert answer.json()["error"]["code"] == "body_too_large"
    assert no_key.status_code == 401 and no_key.json()["error"]["field"] == "X-API-Key"
    assert open_route.status_code == 200
    assert bad_length.status_code == 400
    assert api.state.reads == [9_000]  # no oversized body was ever handed to a route whole


async def test_a_wrong_key_is_refused_before_any_byte_of_the_body_is_read() -> None:
    api = app()
    asked: list[str] = []

    async def authenticate(key: str) -> bool:
        asked.append(key)
        return key == "right"

    api.user_middleware.clear()
    api.add_middleware(BodyLimit, default=1_000, bulk=10_000, bulk_paths={"/cohorts"}, authenticate=authenticate)
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(10):
            pulled += 1
            yield b"x" * 500

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://t") as client:
        wrong = await client.post("/cohorts", content=body(), headers={"X-API-Key": "wrong"})
        wrong_declared = await client.post("/items", content=b"{" + b" " * 5_000 + b"}", headers={"X-API-Key": "w"})
        right = await client.post("/cohorts", content=b"x" * 9_000, headers={"X-API-Key": "right"})
        open_route = await client.get("/health", headers={"X-API-Key": "wrong"})

    for answer in (wrong, wrong_declared):  # 401 first, whatever the size
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"] == {
            "code": "unauthorized",
            "message": "X-API-Key is not a valid key",
            "field": "X-API-Key",
        }
    assert right.json() == {"bytes": 9_000} and open_route.status_code == 200
    assert asked == ["wrong", "w", "right"]  # open routes ask nothing
    assert pulled == 0  # the refused body was never read, not even its first chunk
    assert api.state.reads == [9_000]
