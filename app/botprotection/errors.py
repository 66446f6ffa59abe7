"""Bot protection errors, as Authgear names them (pkg/lib/botprotection/errors.go)."""

from __future__ import annotations

from app.errors import Forbidden, ServiceUnavailable


class BotProtectionVerificationFailed(Forbidden):
    """The provider said the token is not a human's (or no longer valid): 403."""

    def __init__(self, error_codes: list[str] | None = None) -> None:
        super().__init__("BotProtectionVerificationFailed", "bot protection verification failed")
        # Kept for the log only; the client sees name, reason and message, as in Authgear.
        self.error_codes = list(error_codes or [])


class BotProtectionVerificationServiceUnavailable(ServiceUnavailable):
    """The provider could not be asked (network, timeout, its own internal error): 503."""

    def __init__(self, cause: str = "") -> None:
        super().__init__("BotProtectionVerificationServiceUnavailable", "bot protection service unavailable")
        self.cause = cause
