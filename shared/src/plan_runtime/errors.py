"""Domain errors: what a rule refuses, in the domain's words. No HTTP status and no driver exception here.

One small hierarchy for every service and the runtime. The kind says what sort of refusal it is; the HTTP
edge (`plan_runtime.http.STATUS_OF`) is the one place that turns a kind into a status code, and the inbox
turns any of them, raised while an event is applied, into a dead letter with the code as its reason.
"""


class DomainError(Exception):
    """A refusal a caller can act on: a stable `code`, a message for people, the `field` at fault."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


class Invalid(DomainError):
    """The request itself is wrong (a value out of range, a number that cannot be real)."""


class NotFound(DomainError):
    """No such thing for this caller."""


class Conflict(DomainError):
    """A rule refuses it in the current state (already enrolled, fund exhausted, batch already paid)."""


class Forbidden(DomainError):
    """The caller may not do this now (a suspended institution)."""


class Unauthorized(DomainError):
    """The caller is not who this needs."""


class TooLarge(DomainError):
    """More than the route takes."""


class Refused(Conflict):
    """A rule refuses an event for good: the inbox parks it as a dead letter with this message as its reason."""

    def __init__(self, message: str, code: str = "refused", field: str | None = None) -> None:
        super().__init__(code, message, field)
