"""A refusal a client can act on: the HTTP layer turns it into a 4xx with a stable code."""


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
