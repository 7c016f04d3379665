"""The API documentation pages may load only from the service itself (a Content-Security-Policy).

Swagger UI and ReDoc ship with the project (fastapi-offline), but ReDoc's side menu still asks a CDN for
its logo: on an office network without internet that is a failed request per page view. The policy makes
the browser itself refuse anything that is not from this service (inline scripts and styles are the
pages' own start-up code; ReDoc runs its search in a blob: worker).
"""

from plan_runtime.limits_http import ASGIApp, Message, Receive, Scope, Send

DOCS_PATHS = ("/docs", "/redoc")
POLICY = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    b"script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"
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
