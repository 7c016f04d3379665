"""The API documentation page may load only from the service itself (a Content-Security-Policy).

Swagger UI ships with the project (fastapi-offline); the policy makes the browser itself refuse anything that
is not from this service, should a later version of the bundle reach for a CDN (inline scripts and styles
are the page's own start-up code).
"""

from plan_runtime.limits_http import ASGIApp, Message, Receive, Scope, Send

DOCS_PATHS = ("/docs",)
POLICY = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    b"script-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'"
)


class DocsPolicy:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(DOCS_PATHS):
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"content-security-policy", POLICY)]
            await send(message)

        await self.app(scope, receive, with_policy)
