"""What a step sees while it runs: the flow state, the services and the caller's context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs

from app.context import RequestContext
from app.flows.errors import AuthenticationFlowInvalidTargetStep, AuthenticationFlowStepNotFound
from app.flows.state import FlowState
from app.services import Services

if TYPE_CHECKING:
    from app.identities.models import User

# A flow reads a handful of its page's query parameters (client_id, ui_locales, x_ref, ...).
MAX_URL_QUERY_FIELDS = 50


def parse_url_query(url_query: str) -> dict[str, str]:
    """The first value of each parameter of a flow's `url_query`; ValueError past
    MAX_URL_QUERY_FIELDS fields (`engine.create` refuses such a query as the caller's mistake)."""
    return {k: v[0] for k, v in parse_qs(url_query, max_num_fields=MAX_URL_QUERY_FIELDS).items()}


@dataclass(frozen=True)
class FlowContext:
    """Built by the transport: who is calling, and what they already hold."""

    request: RequestContext = field(default_factory=RequestContext)
    session_id: str | None = None  # a live IdP session of the caller, if any
    session_user_id: str | None = None
    device_token: str | None = None  # the `mfa_device_token` cookie


@dataclass
class Done:
    """The step is complete; `insert` are nested steps to run next (a chosen branch's steps)."""

    insert: list[dict[str, Any]] = field(default_factory=list)


class Wait:
    """The step needs (more) input."""


WAIT = Wait()
Outcome = Done | Wait


@dataclass
class FlowRun:
    state: FlowState
    svc: Services
    ctx: FlowContext
    catalog: Any = None  # the engine's FlowCatalog, for signup_login switching to its target flow
    # What this request has loaded and will use again (never stored with the state): rows a later
    # step of the same request reads again are kept here, so the session's identity map, which
    # holds them weakly, still has them (see `user`).
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def step(self) -> dict[str, Any]:
        assert self.state.current is not None
        return self.state.current

    @property
    def local(self) -> dict[str, Any]:
        return self.state.local

    @property
    def data(self) -> dict[str, Any]:
        return self.state.data

    @property
    def flow_type(self) -> str:
        """The flow being run; a signup_login flow becomes signup or login after identify."""
        return self.data.get("effective_type", self.state.type)

    @property
    def user_id(self) -> str | None:
        return self.data.get("user_id")

    @property
    def project(self) -> dict[str, Any]:
        return self.svc.config.project

    @property
    def ip(self) -> str:
        return self.ctx.request.ip

    @property
    def locale(self) -> str:
        return self.query.get("ui_locales", "").split(" ")[0] or self.ctx.request.locale or "en"

    @property
    def query(self) -> dict[str, str]:
        return parse_url_query(self.state.url_query)

    @property
    def client(self) -> dict[str, Any] | None:
        client_id = self.query.get("client_id")
        return self.svc.config.client(client_id) if client_id else None

    def user(self) -> User:
        """The flow's user (`UserNotFound` when there is none), read once per request: the steps
        and the finish that need the row share it."""
        user = self.memo.get("user")
        if user is None or user.id != self.user_id:
            user = self.memo["user"] = self.svc.users.get(self.user_id or "")
        return user

    @property
    def signing_up(self) -> bool:
        return self.flow_type in ("signup", "promote")

    def output(self, step_name: str | None) -> dict[str, Any]:
        """What a named earlier step recorded (for `target_step`)."""
        return self.data.get("outputs", {}).get(step_name or "", {})

    def target(self, step_name: str, types: tuple[str, ...]) -> dict[str, Any]:
        """What the `target_step` named `step_name` recorded; as in Authgear, a name that no step run so
        far carries is `AuthenticationFlowStepNotFound` and a step of another type than `types`
        `AuthenticationFlowInvalidTargetStep` (a flow declared this way cannot work)."""
        seen = self.data.get("step_types", {})
        if step_name not in seen:
            raise AuthenticationFlowStepNotFound()
        if seen[step_name] not in types:
            raise AuthenticationFlowInvalidTargetStep(step_name)
        return self.output(step_name)

    def entered(self) -> None:
        """Called by the engine as the current step starts: remembers its name for `target`."""
        name = self.step.get("name")
        if name:
            self.data.setdefault("step_types", {})[name] = self.step["type"]

    def record(self, values: dict[str, Any]) -> None:
        """Record the current step's output under its name, when it has one."""
        name = self.step.get("name")
        if name:
            self.data.setdefault("outputs", {}).setdefault(name, {}).update(values)

    def add_amr(self, *values: str) -> None:
        amr = self.data.setdefault("amr", [])
        for v in values:
            if v not in amr:
                amr.append(v)

    @property
    def pending(self) -> dict[str, Any]:
        """What a signup will create when it finishes (nothing is written before)."""
        return self.data.setdefault(
            "pending", {"identities": [], "authenticators": [], "verified": [], "recovery_codes": [], "attributes": {}}
        )


class StepType(Protocol):
    def enter(self, run: FlowRun) -> Outcome: ...
    def action(self, run: FlowRun) -> dict[str, Any]: ...
    def input(self, run: FlowRun, inp: dict[str, Any]) -> Outcome: ...


REGISTRY: dict[str, StepType] = {}


def register(type_name: str) -> Any:
    def wrap(cls: type) -> type:
        REGISTRY[type_name] = cls()
        return cls

    return wrap
