"""The Authentication Flow engine: one code path for the JSON API, the hosted pages and the settings UI.

A flow runs its steps in order. A step either completes at once (`Done`), possibly inserting the
nested steps of the branch it chose, or waits for input (`Wait`). Each accepted input commits what
it wrote and yields a new state token; an input error leaves the state as it was, still usable.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.crypto import random_alnum, sha256_hex
from app.errors import AppError, BadRequest, Forbidden, InputSchemaInvalid, ValidationFailed
from app.extensions import db
from app.flows import promote, sessionless
from app.flows import steps as _steps  # noqa: F401  (registers the step types)
from app.flows.definitions import FLOW_TYPES, FlowCatalog
from app.flows.failures import record_refused_input
from app.flows.inputs import STRING, obj, validate
from app.flows.run import MAX_URL_QUERY_FIELDS, REGISTRY, Done, FlowContext, FlowRun, Wait, parse_url_query
from app.flows.state import AuthenticationFlowNotFound, FlowState, FlowStateStore, new_flow_id
from app.flows.steps import account_linking, account_recovery, prompt_create_passkey
from app.hooks import effects as hook_effects
from app.hooks.sink import pending_events
from app.services import Services
from app.sso.service import IncomingOAuth

log = logging.getLogger(__name__)

CREATE_SCHEMA = obj(
    {
        "type": {"enum": list(FLOW_TYPES)},
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "url_query": {"type": "string", "maxLength": 8192},
        "batch_input": {"type": "array", "maxItems": 20, "items": {"type": "object"}},
        "bot_protection": {"type": "object"},
    },
    required=["type", "name"],
)
INPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "state_token": STRING,
        "input": {"type": "object"},
        "batch_input": {"type": "array", "minItems": 1, "maxItems": 20, "items": {"type": "object"}},
    },
    "required": ["state_token"],
    "oneOf": [{"required": ["input"]}, {"required": ["batch_input"]}],
}
# Without a state token (Authgear's resolveStateTokenFromInput): one input, a reset link's code.
RESTORE_SCHEMA = obj({"state_token": {"type": "string"}, "input": {"type": "object"}}, required=["input"])
GET_SCHEMA = obj({"state_token": STRING}, required=["state_token"])


# -- which inputs wrote: only those commit before the next input of the same request --------------
# An input that only read (an identify step's lookup) leaves its transaction open for the next input
# of the batch instead of committing it: no COMMIT, and no BEGIN for the next one.
# Writes are told from the statements sent (`_note_write`), which sees the unit of work, Core
# statements and raw connection writes alike; anything but a plain SELECT (or a BEGIN) counts as a write.
_writes: ContextVar[list[bool] | None] = ContextVar("gatehouse_flow_writes", default=None)
_READS = frozenset({"SELECT", "BEGIN"})  # BEGIN: how a SQLite transaction opens (app/db.py)


@event.listens_for(Engine, "before_cursor_execute")
def _note_write(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
    seen = _writes.get()
    if seen is None or seen[0]:
        return
    compiled = getattr(context, "compiled", None)
    locks = getattr(getattr(compiled, "statement", None), "_for_update_arg", None) is not None
    words = statement.split(None, 1)
    if locks or not words or words[0].upper() not in _READS:
        seen[0] = True  # a lock taken is held until COMMIT, like a write


def _check_url_query(url_query: str) -> None:
    try:
        parse_url_query(url_query)
    except ValueError:
        cause = {"location": "/url_query", "kind": "maxProperties", "details": {"expected": MAX_URL_QUERY_FIELDS}}
        raise ValidationFailed([cause], f"url_query has more than {MAX_URL_QUERY_FIELDS} fields") from None


class AuthenticationFlowUnknownFlow(BadRequest):
    def __init__(self) -> None:
        super().__init__("AuthenticationFlowUnknownFlow", "unknown authentication flow")


@dataclass
class FlowResult:
    state_token: str
    state: FlowState
    action: dict[str, Any]
    session_token: str | None = None  # set once, when a flow that signs in finishes
    device_token: str | None = None  # set when the user asked to remember this device

    def to_api(self) -> dict[str, Any]:
        # A signup_login flow becomes the signup or login flow its identify step chose (Authgear
        # switches flows), and every later response names that flow.
        data = self.state.data
        return {
            "state_token": self.state_token,
            "type": data.get("effective_type", self.state.type),
            "name": data.get("effective_name", self.state.name),
            "action": self.action,
        }


class FlowEngine:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.catalog = FlowCatalog(svc.config.project)
        self.states = FlowStateStore(svc.store)

    # -- public API -----------------------------------------------------------------------------
    def create(self, body: dict[str, Any], ctx: FlowContext) -> FlowResult:
        validate(body, CREATE_SCHEMA)
        _check_url_query(body.get("url_query", ""))
        flow_type, name = body["type"], body["name"]
        flow = self.catalog.get(flow_type, name)
        if flow is None:
            raise AuthenticationFlowUnknownFlow()
        state = FlowState(flow_id=new_flow_id(), type=flow_type, name=name, url_query=body.get("url_query", ""))
        run = FlowRun(state, self.svc, ctx, self.catalog)
        self._check_allowed(run)
        if flow_type == "signup" and self.svc.config.project["authentication"]["public_signup_disabled"]:
            # Authgear refuses it while the new flow reacts, so the error names the flow type.
            raise Forbidden("AuthenticationFlowNoPublicSignup", "public signup is disabled", {"FlowType": flow_type})
        state.queue = flow["steps"]
        # authentication.pre_initialize: a refusal is the creation's error
        started = self._apply(run, lambda: hook_effects.pre_initialize(run), last=False)
        return self._feed(run, body.get("batch_input", []), started)

    def input(self, state_token: Any, inp: Any, ctx: FlowContext) -> FlowResult:
        return self._feed(self._resume(state_token, ctx), [inp])

    def input_request(self, body: dict[str, Any], ctx: FlowContext) -> FlowResult:
        """`POST .../states/input`: one input or a batch, applied in order."""
        if isinstance(body, dict) and not body.get("state_token") and "batch_input" not in body:
            # Authgear's input without a state token: a reset link's code opens its flow.
            validate(body, RESTORE_SCHEMA)
            return self._restore_account_recovery(body["input"], ctx)
        validate(body, INPUT_SCHEMA)
        return self._feed(self._resume(body["state_token"], ctx), body.get("batch_input") or [body["input"]])

    def get(self, body: dict[str, Any], ctx: FlowContext) -> FlowResult:
        """`POST .../states`: re-read a state without changing it."""
        validate(body, GET_SCHEMA)
        state = self.states.load(body["state_token"])
        run = FlowRun(state, self.svc, ctx, self.catalog)
        return FlowResult(body["state_token"], state, self._action(run))

    def _restore_account_recovery(self, inp: dict[str, Any], ctx: FlowContext) -> FlowResult:
        """A new flow of the type and name that sent the reset link, at its verify step, fed the
        link's code (Authgear's resolveStateTokenFromInput); anything else is no flow."""
        if set(inp) != {"account_recovery_code"}:
            raise AuthenticationFlowNotFound()
        flow, recovery = account_recovery.restore(self.svc, inp, ctx.request.ip)
        if not flow.get("steps") or self.catalog.get(flow.get("type", ""), flow.get("name", "")) is None:
            raise AuthenticationFlowNotFound()
        state = FlowState(flow_id=new_flow_id(), type=flow["type"], name=flow["name"])
        state.data["recovery"] = recovery
        state.queue = flow["steps"]
        run = FlowRun(state, self.svc, ctx, self.catalog)
        started = self._apply(run, lambda: hook_effects.pre_initialize(run), last=False)
        return self._feed(run, [inp], started)

    # -- running --------------------------------------------------------------------------------
    def _resume(self, state_token: Any, ctx: FlowContext) -> FlowRun:
        state = self.states.load(state_token)
        if state.finished or self.states.is_finished(state.flow_id):
            raise AuthenticationFlowNotFound()
        return FlowRun(state, self.svc, ctx, self.catalog)

    def _feed(self, run: FlowRun, inputs: list[Any], finish: dict[str, Any] | None = None) -> FlowResult:
        """Apply inputs in order, each committed on its own, then save the state once under a new token:
        the states between the inputs of a batch are never handed out, so they are not stored."""
        finish = finish or {}
        for n, inp in enumerate(inputs, 1):
            if run.state.finished:
                raise AuthenticationFlowNotFound()
            if not isinstance(inp, dict):
                validate(inp, {"type": "object"})
            step = REGISTRY[run.step["type"]]
            finish = self._apply(run, lambda step=step, inp=inp: step.input(run, inp), last=n == len(inputs))
        if not inputs:
            db.session.commit()  # what the creation read (pre_initialize, the first step's enter)
        # A finished flow's state was stored as it claimed the finish (`_apply`).
        token = run.memo.pop(_FINISHED_TOKEN, None) or self.states.save(run.state)
        return FlowResult(token, run.state, self._action(run), **finish)

    def _apply(self, run: FlowRun, apply: Any, last: bool = True) -> dict[str, Any]:
        """Apply an input and advance; commit, or roll back and raise. An input that is not the
        request's `last` and wrote nothing leaves its transaction open for the next one."""
        writes = [False]
        watching = _writes.set(writes)
        try:
            outcome = apply()
            if isinstance(outcome, Done):
                self._complete_current(run, outcome)
            finish = self._advance(run)
            if run.state.finished:
                # Two inputs racing to finish one flow: only the first may sign in. The finished
                # state is stored with the claim (one round trip); no later input can change it.
                token = self.states.claim_finish_and_save(run.state)
                if token is None:
                    raise AuthenticationFlowNotFound()
                run.memo[_FINISHED_TOKEN] = token
            if last or writes[0] or _unsaved(db.session()):
                db.session.commit()
        except Exception as exc:
            run.memo.pop(_FINISHED_TOKEN, None)
            db.session.rollback()
            # A refused authentication leaves its audit row, committed on its own.
            record_refused_input(run, exc)
            if isinstance(exc, AppError) and not isinstance(exc, InputSchemaInvalid):
                # As Authgear: an error of the flow's reaction to an input names the flow type.
                # (a signup_login flow that switched names its signup or login flow)
                exc.info = {**exc.info, "FlowType": run.flow_type}
            raise
        finally:
            _writes.reset(watching)
        return finish

    def _complete_current(self, run: FlowRun, outcome: Done) -> None:
        hook_effects.step_completed(run)  # authentication.post_identified after an identify step
        run.state.queue[0:0] = outcome.insert
        run.state.current = None
        run.state.local = {}

    def _advance(self, run: FlowRun) -> dict[str, Any]:
        while run.state.current is None:
            # authentication.pre_authenticated, then a step per unmet AMR constraint of the hooks
            if not run.state.queue and not hook_effects.before_finish(run):
                return self._finish(run)
            run.state.current = run.state.queue.pop(0)
            run.state.local = {}
            run.entered()
            outcome = REGISTRY[run.step["type"]].enter(run)
            if isinstance(outcome, Wait):
                break
            self._complete_current(run, outcome)
        return {}

    def _action(self, run: FlowRun) -> dict[str, Any]:
        if run.state.finished:
            return {"type": "finished", "data": dict(run.state.finish)}
        action: dict[str, Any] = {"type": run.step["type"]}
        action.update(REGISTRY[run.step["type"]].action(run))
        return action

    def _check_allowed(self, run: FlowRun) -> None:
        """A client's `x_authentication_flow_allowlist` limits the flows it may start."""
        client = run.client
        allow = (client or {}).get("x_authentication_flow_allowlist")
        if not allow:
            return
        allowed = {(f["type"], f["name"]) for f in allow.get("flows", [])}
        groups = {g["name"] for g in allow.get("groups", [])}
        for group in self.svc.config.project["ui"].get("authentication_flow", {}).get("groups", []):
            if group["name"] in groups:
                allowed |= {(f["type"], f["name"]) for f in group.get("flows", [])}
        if (run.state.type, run.state.name) not in allowed:
            raise Forbidden("AuthenticationFlowNotAllowed", "this client may not use this flow")

    # -- finishing ------------------------------------------------------------------------------
    def _finish(self, run: FlowRun) -> dict[str, Any]:
        out: dict[str, Any] = {}
        flow_type = run.flow_type
        if flow_type in ("signup", "promote"):
            run.data["user_id"] = self._create_signed_up_user(run)
        if flow_type == "login":
            account_linking.link_pending(run)  # an incoming identity that chose to log in and link
        if flow_type in ("signup", "promote", "login"):
            token = self._sign_in(run)
            if token is not None:
                out["session_token"] = token
        elif flow_type == "reauth":
            self._reauthenticate(run)
        if run.data.get("device_token_requested") and run.user_id:
            out["device_token"] = self._issue_device_token(run.user_id)
        run.state.finished = True
        run.state.current = None
        run.state.finish = {"finish_redirect_uri": self._finish_redirect_uri(run)}
        return out

    def _create_signed_up_user(self, run: FlowRun) -> str:
        svc, pending = self.svc, run.pending
        anonymous = None
        if run.flow_type == "promote":
            # The anonymous user becomes this signup's user: same ID, new identities (app/flows/promote.py).
            user, anonymous = promote.take_anonymous_user(run)
            for i in pending["identities"]:
                svc.users.add_login_id(user, i["key"], i["value"], run.ctx.request)
            user.standard_attributes = {**(user.standard_attributes or {}), **pending["attributes"]}
        else:
            user = svc.users.create_user(
                [(i["key"], i["value"]) for i in pending["identities"]],
                run.ctx.request,
                standard_attributes=pending["attributes"],
                user_id=pending.get("user_id"),
            )
        for spec in pending.get("oauth_identities", []):
            # A provider account that signed up (app/flows/steps/oauth.py); it fills the profile.
            svc.oauth_identities.create(user, IncomingOAuth.from_dict(spec), run.ctx.request, populate=True)
        for a in pending["authenticators"]:
            if a["type"] == "password":
                svc.passwords.create_from_hash(user.id, a["password_hash"], a["kind"])
            elif a["type"] == "totp":
                svc.totp.create(user.id, a["secret"], a["display_name"], run.ctx.request)
            else:
                svc.oob.create(user.id, a["channel"], a["target"], a["kind"], run.ctx.request)
        for claim in pending["verified"]:
            svc.users.mark_verified(user.id, claim["name"], claim["value"])
        if pending["recovery_codes"]:
            svc.recovery_codes.replace(user.id, pending["recovery_codes"])
        prompt_create_passkey.create_pending(run, user.id)
        if anonymous is not None:
            promote.finish(run, anonymous)
            return user.id
        hook_effects.user_event("user.pre_create", user, run.ctx.request, identities=True)
        svc.audit.write("user.signed_up", run.ctx.request, user.id)
        return user.id

    def _sign_in(self, run: FlowRun) -> str | None:
        """A new IdP session and its token; None when the login continued the caller's session
        (`select_account`), which is kept as it is, as Authgear does."""
        user = run.user()
        self.svc.users.record_login(user)
        continued = run.data.get("select_account_session_id")
        if continued:
            if run.data.get("terminate_other_sessions"):
                self.svc.sessions.revoke_all(user.id, except_session_id=continued, ctx=run.ctx.request)
            payload = {"continue_from_session": {"id": continued}}
            self.svc.audit.write("user.authenticated", run.ctx.request, user.id, payload)
            return None
        amr = list(run.data.get("amr", []))
        if len(run.data.get("factors", [])) > 1 and "mfa" not in amr:
            amr.append("mfa")
        if sessionless.suppressed(run):
            # x_suppress_idp_session_cookie / x_sso_enabled: no IdP session, no cookie (app/flows/sessionless.py).
            sessionless.hand_to_consent(run, user.id, amr)
            self.svc.audit.write("user.authenticated", run.ctx.request, user.id, {"amr": amr})
            return None
        session, token = self.svc.sessions.create(user.id, amr, run.ctx.request)
        if run.data.get("terminate_other_sessions"):
            self.svc.sessions.revoke_all(user.id, except_session_id=session.id, ctx=run.ctx.request)
        self.svc.audit.write("user.authenticated", run.ctx.request, user.id, {"amr": amr})
        return token

    def _reauthenticate(self, run: FlowRun) -> None:
        if run.ctx.session_id and run.ctx.session_user_id == run.user_id:
            from app.sessions.models import IdPSession

            session = db.session.get(IdPSession, run.ctx.session_id)
            if session is not None:
                session.authenticated_at = self.svc.clock()
                session.amr = sorted(set(session.amr) | set(run.data.get("amr", [])))
        self.svc.audit.write("user.reauthenticated", run.ctx.request, run.user_id)

    def _issue_device_token(self, user_id: str) -> str:
        token = random_alnum(32)
        days = self.svc.config.project["authentication"]["device_token"]["expire_in_days"]
        self.svc.store.set(f"device_token:{sha256_hex(token)}", user_id, ttl=timedelta(days=days).total_seconds())
        return token

    def _finish_redirect_uri(self, run: FlowRun) -> str:
        origin = self.svc.config.public_origin
        x_ref = run.query.get("x_ref")
        if x_ref:
            return f"{origin}/oauth2/consent?{urlencode({'x_ref': x_ref})}"
        ui = self.svc.config.project["ui"]
        return ui.get("default_redirect_uri") or f"{origin}/settings"


_FINISHED_TOKEN = "finished_state_token"  # noqa: S105 (a memo key)


def _unsaved(session: Any) -> bool:
    """Changes or hook events of the session that only a commit would write."""
    return bool(session.new or session.dirty or session.deleted or pending_events(session))


def device_token_user(svc: Services, token: str | None) -> str | None:
    """The user a remembered-device token belongs to, if it is still valid."""
    if not token or len(token) > 100:
        return None
    raw = svc.store.get(f"device_token:{sha256_hex(token)}")
    return raw.decode() if raw else None
