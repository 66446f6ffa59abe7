"""Errors of a misconfigured flow declaration (Authgear's authflow/declarative error.go and authflow errors).

`authentication_flow:` is checked for its shape when the project loads; whether a `target_step` names a
step that ran, and of a usable type, or whether a step finds what an earlier step should have left, is
only known while the flow runs. Authgear answers these at run time with the reasons below (500 for a
flow that cannot work as declared, 404 for a missing step), and its hosted pages show them as a
misconfigured project; so do Gatehouse's.
"""

from __future__ import annotations

from typing import Any

from app.errors import InternalError, NotFound

MISCONFIGURATION_REASONS = (
    "AuthenticationFlowInvalidFlowConfig",
    "AuthenticationFlowInvalidTargetStep",
    "AuthenticationFlowStepNotFound",
)


class AuthenticationFlowInvalidFlowConfig(InternalError):
    """A step depends on what no earlier step of the flow provides (e.g. select_destination first)."""

    def __init__(self, message: str) -> None:
        super().__init__("AuthenticationFlowInvalidFlowConfig", message)


class AuthenticationFlowInvalidTargetStep(InternalError):
    """`target_step` names a step of the wrong type, or one that identified no login ID."""

    def __init__(self, target_step: str, message: str = "invalid target_step", **details: Any) -> None:
        super().__init__("AuthenticationFlowInvalidTargetStep", message, {"target_step": target_step, **details})


class AuthenticationFlowStepNotFound(NotFound):
    """`target_step` names no step that has run in this flow."""

    def __init__(self) -> None:
        super().__init__("AuthenticationFlowStepNotFound", "step not found")
