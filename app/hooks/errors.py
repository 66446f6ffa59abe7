"""Hook errors with Authgear's names and reasons (pkg/lib/hook/error.go).

A blocking handler that refuses answers `Forbidden/HookDisallowed`; one that cannot be reached in
time, answers badly or is not a hook Gatehouse can run fails the operation with one of the
`InternalError/HookDelivery*` or `HookInvalidResponse` errors, and nothing the operation wrote is
kept. Deno scripts fail with `BadRequest/DenoRunError` when they throw and
`Invalid/DenoCheckError` when they do not type-check.
"""

from __future__ import annotations

from typing import Any

from app.errors import BadRequest, Forbidden, InternalError, Invalid


class HookDisallowed(Forbidden):
    def __init__(self, event_type: str, reasons: list[dict[str, str]]) -> None:
        # Authgear's info: the event and one {title, reason} per refusing handler (empty strings
        # when the handler gave none).
        super().__init__(
            "HookDisallowed", "disallowed by hook event handler", {"event_type": event_type, "reasons": reasons}
        )


class HookDeliveryTimeout(InternalError):
    def __init__(self, message: str = "webhook delivery timeout", info: dict[str, Any] | None = None) -> None:
        super().__init__("HookDeliveryTimeout", message, info)


class HookInvalidResponse(InternalError):
    def __init__(self, message: str, info: dict[str, Any] | None = None) -> None:
        super().__init__("HookInvalidResponse", message, info)


class HookDeliveryUnknownFailure(InternalError):
    def __init__(self, message: str = "failed to deliver webhook") -> None:
        super().__init__("HookDeliveryUnknownFailure", message)


class DenoRunError(BadRequest):
    def __init__(self, message: str, stdout: dict[str, Any] | None, stderr: dict[str, Any] | None) -> None:
        super().__init__("DenoRunError", message, {"stdout": stdout, "stderr": stderr})


class DenoCheckError(Invalid):
    def __init__(self, message: str) -> None:
        super().__init__("DenoCheckError", message)


class InvalidJWTMutations(Invalid):
    """A token hook removed or changed a claim Gatehouse set (Authgear's jwtutil.ApplyMutations):
    handlers may only add claims."""

    def __init__(self, removed: list[str], changed: list[str]) -> None:
        super().__init__("InvalidJWTMutations", "invalid JWT mutations", {"removed": removed, "changed": changed})
