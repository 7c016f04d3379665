"""Each running part reports whether its last attempt worked; /health shows them all."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class Health:
    parts: dict[str, tuple[bool, str, datetime]] = field(default_factory=dict)

    def ok(self, part: str, detail: str = "ok") -> None:
        self.parts[part] = (True, detail, datetime.now(UTC))

    def failing(self, part: str, error: BaseException) -> None:
        self.parts[part] = (False, f"{type(error).__name__}: {error}", datetime.now(UTC))

    @property
    def healthy(self) -> bool:
        return all(ok for ok, _, _ in self.parts.values())

    def report(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.healthy else "unhealthy",
            "parts": {
                name: {"ok": ok, "detail": detail, "at": at.isoformat()}
                for name, (ok, detail, at) in sorted(self.parts.items())
            },
        }
