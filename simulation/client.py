"""An HTTP client that survives a service restart under it: the simulator is a client that retries.

Transport errors (refused connection, reset, timeout) and 5xx answers are retried with a growing, capped
back-off for a bounded time. Every POST, PUT and DELETE carries an `Idempotency-Key` from its first attempt
on (one is added when the caller gave none), and a retry re-sends the very same request: where the service
honours the key, an attempt whose answer was lost is answered again, not applied again. Writes the services
do not key (funding's release, the talent office's verifications) are idempotent by their nature.
"""

import logging
import uuid
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

log = logging.getLogger(__name__)
RETRIED_STATUS = frozenset({500, 502, 503, 504})


class _Retryable(Exception):
    """A 5xx answer, raised so that tenacity retries it."""

    def __init__(self, request: httpx.Request, response: httpx.Response) -> None:
        super().__init__(f"{request.method} {request.url} answered {response.status_code}")
        self.response = response


def _retryable(error: BaseException) -> bool:
    return isinstance(error, httpx.TransportError | _Retryable)


class RetryingTransport(httpx.AsyncBaseTransport):
    def __init__(self, give_up_after: float = 180.0, max_wait: float = 5.0) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.give_up_after, self.max_wait = give_up_after, max_wait
        self.retries = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method in ("POST", "PUT", "DELETE") and "idempotency-key" not in request.headers:
            request.headers["Idempotency-Key"] = str(uuid.uuid4())
        body = await request.aread()  # kept, so that every attempt sends the same bytes
        attempts = AsyncRetrying(
            retry=retry_if_exception(_retryable),
            wait=wait_exponential(multiplier=0.2, max=self.max_wait),
            stop=stop_after_delay(self.give_up_after),
            reraise=True,
        )
        try:
            async for attempt in attempts:
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        self.retries += 1
                    retry = httpx.Request(request.method, request.url, headers=request.headers, content=body)
                    response = await self.inner.handle_async_request(retry)
                    if response.status_code in RETRIED_STATUS:
                        await response.aread()
                        raise _Retryable(retry, response)
                    return response
        except _Retryable as gave_up:
            return gave_up.response
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self.inner.aclose()


def client(**kwargs: Any) -> httpx.AsyncClient:
    """An httpx client for the simulator: retrying, generous timeouts for big uploads."""
    return httpx.AsyncClient(transport=RetryingTransport(), timeout=kwargs.pop("timeout", 300), **kwargs)
