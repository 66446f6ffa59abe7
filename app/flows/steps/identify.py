"""`identify`: who is this? Email, phone or username login IDs; an ID token in reauth (contract 6.4)."""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app.authenticators.failures import login_id_failed
from app.errors import BadRequest, NotFound, duplicated_identity
from app.flows.failures import note_mismatch
from app.flows.inputs import STRING, obj, validate
from app.flows.run import WAIT, Done, FlowRun, Outcome, register
from app.flows.steps.common import branches, choose

LOGIN_ID_TYPES = ("email", "phone", "username")
CLAIM = {"email": "email", "phone": "phone_number", "username": "preferred_username"}
CHANNEL = {"email": "email", "phone": "sms"}


def _user_not_found() -> NotFound:
    return NotFound("UserNotFound", "user not found")


@register("identify")
class Identify:
    def enter(self, run: FlowRun) -> Outcome:
        if run.step.get("pre_identified"):
            # signup_login already identified the user and switched to this flow.
            run.record(run.data.get("identified", {}))
            branch = run.step["one_of"][run.step["pre_identified_index"]] if run.step.get("one_of") else {}
            return Done(list(branch.get("steps", [])))
        if run.state.type == "reauth" and run.ctx.session_user_id:
            # A caller that already holds a session re-authenticates as that user.
            run.data["user_id"] = run.ctx.session_user_id
            return Done(self._branch_steps(run, "id_token"))
        return WAIT

    def _branch_steps(self, run: FlowRun, identification: str) -> list[dict[str, Any]]:
        for b in branches(run):
            if b.get("identification") == identification:
                return list(b.get("steps", []))
        return []

    def action(self, run: FlowRun) -> dict[str, Any]:
        options = [{"identification": b["identification"]} for b in branches(run)]
        kind = "account_recovery_identification_data" if run.state.type == "account_recovery" else "identification_data"
        return {"data": {"type": kind, "options": options}}

    def input(self, run: FlowRun, inp: dict[str, Any]) -> Outcome:
        options = branches(run)
        validate(inp, {"type": "object", "required": ["identification"]})
        branch = options[choose(options, "identification", inp["identification"])]
        identification = branch["identification"]
        if identification == "id_token":
            validate(
                inp, obj({"identification": STRING, "id_token": {"type": "string", "maxLength": 8192}}, ["id_token"])
            )
            self._identify_by_id_token(run, inp["id_token"])
            return Done(list(branch.get("steps", [])))
        if identification not in LOGIN_ID_TYPES:
            raise BadRequest("AuthenticationFlowUnsupported", f"{identification} is not available")
        validate(inp, obj({"identification": STRING, "login_id": {"type": "string", "maxLength": 1000}}, ["login_id"]))
        spec, norm = run.svc.users.normalize(identification, inp["login_id"])
        identified = {
            "identification": identification,
            "key": spec.key,
            "value": norm.value,
            "claim": CLAIM[identification],
        }
        run.data["identification"] = identification
        run.data["identified"] = identified
        handler = {
            "signup": self._signup,
            "promote": self._signup,
            "login": self._login,
            "reauth": self._login,
            "signup_login": self._signup_login,
            "account_recovery": self._account_recovery,
        }[run.flow_type]
        return handler(run, branch, identified, inp["login_id"])

    # -- per flow type ----------------------------------------------------------------------------
    def _signup(self, run: FlowRun, branch: dict[str, Any], identified: dict[str, Any], raw: str) -> Outcome:
        limits = run.project["authentication"]["rate_limits"]["signup"]["per_ip"]
        run.svc.rate_limiter.check("authentication.signup", "SignupPerIP", run.ip, limits)
        if run.svc.users.find_identity(identified["identification"], raw) is not None:
            raise duplicated_identity()
        run.pending["identities"] = [{"key": identified["key"], "value": raw}]
        run.record(identified)
        return Done(list(branch.get("steps", [])))

    def _login(self, run: FlowRun, branch: dict[str, Any], identified: dict[str, Any], raw: str) -> Outcome:
        limits = run.project["authentication"]["rate_limits"]["account_enumeration"]["per_ip"]
        run.svc.rate_limiter.check("authentication.account_enumeration", "AccountEnumerationPerIP", run.ip, limits)
        identity = run.svc.users.find_identity(identified["identification"], raw)
        if identity is None:
            note_mismatch(run, login_id_failed(identified["value"]))
            raise _user_not_found()
        if run.flow_type == "reauth" and run.ctx.session_user_id and identity.user_id != run.ctx.session_user_id:
            raise BadRequest("AuthenticationFlowDifferentUserID", "a different user is signed in")
        run.data["user_id"] = identity.user_id
        run.record(identified)
        return Done(list(branch.get("steps", [])))

    def _signup_login(self, run: FlowRun, branch: dict[str, Any], identified: dict[str, Any], raw: str) -> Outcome:
        identity = run.svc.users.find_identity(identified["identification"], raw)
        target_type = "login" if identity is not None else "signup"
        flow = run.catalog.get(target_type, branch.get(f"{target_type}_flow") or "default")
        if flow is None:
            raise BadRequest("AuthenticationFlowUnknownFlow", "unknown authentication flow")
        run.data["effective_type"] = target_type
        if identity is not None:
            run.data["user_id"] = identity.user_id
        else:
            limits = run.project["authentication"]["rate_limits"]["signup"]["per_ip"]
            run.svc.rate_limiter.check("authentication.signup", "SignupPerIP", run.ip, limits)
            run.pending["identities"] = [{"key": identified["key"], "value": raw}]
        steps = flow["steps"]
        first = steps[0] if steps else None
        if first and first["type"] == "identify":
            # The target flow's own identify step is already answered.
            index = next(
                (
                    i
                    for i, b in enumerate(first.get("one_of", []))
                    if b.get("identification") == identified["identification"]
                ),
                None,
            )
            if index is None:
                raise BadRequest("AuthenticationFlowUnsupported", "the target flow does not accept this login ID")
            first.update({"pre_identified": True, "pre_identified_index": index})
        return Done(steps)

    def _account_recovery(self, run: FlowRun, branch: dict[str, Any], identified: dict[str, Any], raw: str) -> Outcome:
        limits = run.project["authentication"]["rate_limits"]["account_enumeration"]["per_ip"]
        run.svc.rate_limiter.check("authentication.account_enumeration", "AccountEnumerationPerIP", run.ip, limits)
        identity = run.svc.users.find_identity(identified["identification"], raw)
        # Whether the account exists is not revealed: the flow goes on either way.
        run.data["recovery"] = {
            "channel": CHANNEL[identified["identification"]],
            "target": identified["value"],
            "user_id": identity.user_id if identity else None,
        }
        return Done(list(branch.get("steps", [])))

    def _identify_by_id_token(self, run: FlowRun, id_token: str) -> None:
        keys = run.svc.config.secrets.get("oauth", {}).get("keys", [])
        try:
            token = jwt.decode(id_token, KeySet.import_key_set({"keys": keys}), algorithms=["RS256"])
        except (JoseError, ValueError):
            raise BadRequest("InvalidIDToken", "invalid ID token") from None
        claims = token.claims
        if claims.get("iss") != run.svc.config.public_origin or not isinstance(claims.get("sub"), str):
            raise BadRequest("InvalidIDToken", "invalid ID token")
        if run.ctx.session_user_id and claims["sub"] != run.ctx.session_user_id:
            raise BadRequest("AuthenticationFlowDifferentUserID", "a different user is signed in")
        run.svc.users.get(claims["sub"])
        run.data["user_id"] = claims["sub"]
