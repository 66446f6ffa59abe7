"""`identify`: who is this? Email, phone or username login IDs; an ID token in reauth (contract 6.4)."""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app.authenticators.failures import login_id_failed
from app.botprotection import flow as bot_protection
from app.errors import BadRequest, Invalid, NotFound, duplicated_identity
from app.flows.failures import note_mismatch
from app.flows.inputs import STRING, obj, validate
from app.flows.run import WAIT, Done, FlowRun, Outcome, register
from app.flows.steps import account_linking, oauth, passkey, select_account
from app.flows.steps.common import account_enumeration_limit, branches, choose

LOGIN_ID_TYPES = ("email", "phone", "username")
CLAIM = {"email": "email", "phone": "phone_number", "username": "preferred_username"}
CHANNEL = {"email": "email", "phone": "sms"}


def _user_not_found() -> NotFound:
    return NotFound("UserNotFound", "user not found")


@register("identify")
class Identify:
    def enter(self, run: FlowRun) -> Outcome:
        linking = account_linking.enter_oauth(run)  # the login of an account to link: its provider first
        if linking is not None:
            return linking
        if run.step.get("pre_identified"):
            # signup_login already identified the user and switched to this flow.
            run.record(run.data.get("identified", {}))
            branch = run.step["one_of"][run.step["pre_identified_index"]] if run.step.get("one_of") else {}
            return Done(list(branch.get("steps", [])))
        if run.state.type == "reauth" and run.ctx.session_user_id:
            # A caller that already holds a session re-authenticates as that user.
            run.data["user_id"] = run.ctx.session_user_id
            return Done(self._branch_steps(run, "id_token"))
        # Whether "continue as" is offered is settled once, as the step is entered (Authgear computes
        # the options when the step starts); the input checks the session again.
        select_account.offer(run)
        passkey.offer_identify(run, branches(run))
        return WAIT

    def _branch_steps(self, run: FlowRun, identification: str) -> list[dict[str, Any]]:
        for b in branches(run):
            if b.get("identification") == identification:
                return list(b.get("steps", []))
        return []

    def action(self, run: FlowRun) -> dict[str, Any]:
        if account_linking.waiting(run):  # which existing account to sign in to and link
            return account_linking.action(run)
        if oauth.waiting(run):  # a provider was chosen: its authorization URL (oauth_data)
            return oauth.action(run)
        options = oauth.identify_options(run, passkey.identify_options(run, select_account.options(run)))
        options = bot_protection.decorate(run, options, branches(run), "identification")
        kind = "account_recovery_identification_data" if run.state.type == "account_recovery" else "identification_data"
        return {"data": {"type": kind, "options": options}}

    def input(self, run: FlowRun, inp: dict[str, Any]) -> Outcome:
        if account_linking.waiting(run):
            return account_linking.take(run, inp)
        if oauth.waiting(run):  # the provider's answer: `{"query"}`
            return oauth.take_response(run, inp)
        options = branches(run)
        validate(inp, {"type": "object", "required": ["identification"]})
        if inp["identification"] == "select_account":
            chosen = next((b for b in options if b.get("identification") == "select_account"), None)
            return self._select_account(run, bot_protection.take(run, chosen, inp))
        branch = options[choose(options, "identification", inp["identification"])]
        # A branch with `bot_protection` checks the input's token before anything is looked up or sent.
        inp = bot_protection.take(run, branch, inp)
        identification = branch["identification"]
        if identification == "passkey":
            return passkey.identify(run, branch, inp)
        if identification == "oauth":
            return oauth.start(run, branch, inp)
        if identification == "id_token":
            validate(
                inp, obj({"identification": STRING, "id_token": {"type": "string", "maxLength": 8192}}, ["id_token"])
            )
            self._identify_by_id_token(run, inp["id_token"])
            return Done(list(branch.get("steps", [])))
        if identification not in LOGIN_ID_TYPES:
            raise BadRequest("AuthenticationFlowUnsupported", f"{identification} is not available")
        validate(inp, obj({"identification": STRING, "login_id": {"type": "string", "maxLength": 1000}}, ["login_id"]))
        if run.flow_type == "signup_login":
            return self._signup_login(run, branch, identification, inp["login_id"])
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
            "account_recovery": self._account_recovery,
        }[run.flow_type]
        return handler(run, branch, identified, inp["login_id"])

    # -- per flow type ----------------------------------------------------------------------------
    def _signup(self, run: FlowRun, branch: dict[str, Any], identified: dict[str, Any], raw: str) -> Outcome:
        limits = run.project["authentication"]["rate_limits"]["signup"]["per_ip"]
        run.svc.rate_limiter.check("authentication.signup", "SignupPerIP", run.ip, limits)
        if run.svc.users.find_identity(identified["identification"], raw) is not None:
            raise duplicated_identity()
        incoming = {"key": identified["key"], "type": identified["identification"], "value": identified["value"]}
        conflicts = account_linking.login_id_conflicts_of(run, incoming, branch)
        if conflicts:  # Authgear's account linking of an incoming login ID: an error, or which account to link
            return account_linking.begin_login_id(run, {**incoming, "raw": raw}, branch, conflicts)
        run.pending["identities"] = [{"key": identified["key"], "value": raw}]
        run.record(identified)
        return Done(list(branch.get("steps", [])))

    def _login(self, run: FlowRun, branch: dict[str, Any], identified: dict[str, Any], raw: str) -> Outcome:
        account_enumeration_limit(run)
        found = run.svc.users.find_identity_with_user(identified["identification"], raw)
        if found is None:
            note_mismatch(run, login_id_failed(identified["value"]))
            raise _user_not_found()
        identity, run.memo["user"] = found  # read with the identity: the later steps use it (`run.user`)
        if run.flow_type == "reauth" and run.ctx.session_user_id and identity.user_id != run.ctx.session_user_id:
            raise BadRequest("AuthenticationFlowDifferentUserID", "a different user is signed in")
        run.data["user_id"] = identity.user_id
        run.record(identified)
        return Done(list(branch.get("steps", [])))

    def _signup_login(self, run: FlowRun, branch: dict[str, Any], identification: str, raw: str) -> Outcome:
        # As Authgear, the value is looked up under every login ID key before it is checked as the
        # chosen type: an existing account goes to login whichever box named it (a username typed
        # as an email is not an invalid email address); only a new one is checked as `identification`.
        identity = run.svc.users.find_by_any_login_id(raw)
        if identity is not None and identity.login_id_type in CLAIM:
            identified = {
                "identification": identification,
                "key": identity.login_id_key,
                "value": identity.login_id,
                "claim": CLAIM[identity.login_id_type],
            }
        else:
            identity = None
            spec, norm = run.svc.users.normalize(identification, raw)
            identified = {"identification": identification, "key": spec.key, "value": norm.value}
            identified["claim"] = CLAIM[identification]
        run.data["identification"] = identification
        run.data["identified"] = identified
        target_type = "login" if identity is not None else "signup"
        target_name = branch.get(f"{target_type}_flow") or "default"
        flow = run.catalog.get(target_type, target_name)
        if flow is None:
            raise BadRequest("AuthenticationFlowUnknownFlow", "unknown authentication flow")
        run.data["effective_type"] = target_type
        run.data["effective_name"] = target_name
        if identity is not None:
            run.data["user_id"] = identity.user_id
        else:
            limits = run.project["authentication"]["rate_limits"]["signup"]["per_ip"]
            run.svc.rate_limiter.check("authentication.signup", "SignupPerIP", run.ip, limits)
            incoming = {"key": identified["key"], "type": identification, "value": identified["value"]}
            conflicts = account_linking.login_id_conflicts_of(run, incoming, branch)
            if conflicts:
                return account_linking.begin_login_id(run, {**incoming, "raw": raw}, branch, conflicts)
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
        account_enumeration_limit(run)
        identity = run.svc.users.find_identity(identified["identification"], raw)
        # Whether the account exists is not revealed: the flow goes on either way.
        # select_destination turns it into the destination (a username has none of its own).
        is_username = identified["identification"] == "username"
        run.data["recovery"] = {
            "username": identified["value"] if is_username else None,
            "identified_channel": None if is_username else CHANNEL[identified["identification"]],
            "identified_target": None if is_username else identified["value"],
            "user_id": identity.user_id if identity else None,
        }
        return Done(list(branch.get("steps", [])))

    def _select_account(self, run: FlowRun, inp: dict[str, Any]) -> Outcome:
        """Continue as the user of the caller's IdP session, chosen by the option's `index`."""
        offered = select_account.options(run)
        chosen = choose(offered, "identification", "select_account")
        validate(inp, obj({"identification": STRING, "index": {"enum": [chosen]}}, ["index"]))
        user_id = select_account.check_session(run)
        index = next(i for i, b in enumerate(branches(run)) if b.get("identification") == "select_account")
        branch = branches(run)[index]
        run.data.update(identification="select_account", user_id=user_id, select_account_session_id=run.ctx.session_id)
        run.record({"identification": "select_account"})
        if run.flow_type != "signup_login":
            return Done(list(branch.get("steps", [])))
        # It never signs up: the login flow it names goes on from its own select_account branch.
        flow = run.catalog.get("login", branch.get("login_flow") or "default")
        first = flow["steps"][0] if flow and flow["steps"] else None
        target = next(
            (
                i
                for i, b in enumerate((first or {}).get("one_of", []))
                if first and first["type"] == "identify" and b.get("identification") == "select_account"
            ),
            None,
        )
        if flow is None or first is None or target is None:
            raise BadRequest("AuthenticationFlowUnsupported", "the target flow does not accept select_account")
        run.data["effective_type"] = "login"
        run.data["effective_name"] = branch.get("login_flow") or "default"  # the flow responses name
        run.data["identified"] = {"identification": "select_account"}
        first.update({"pre_identified": True, "pre_identified_index": target})
        return Done(flow["steps"])

    def _identify_by_id_token(self, run: FlowRun, id_token: str) -> None:
        keys = run.svc.config.secrets.get("oauth", {}).get("keys", [])
        try:
            token = jwt.decode(id_token, KeySet.import_key_set({"keys": keys}), algorithms=["RS256"])
        except (JoseError, ValueError):
            raise Invalid("Invalid", "invalid ID token") from None  # Authgear's apierrors.NewInvalid
        claims = token.claims
        # Only the signature counts, as Authgear's VerifyIDToken: `iss` changes with the public
        # origin, and one ID token serves several clients (`aud`). The user still authenticates.
        if not isinstance(claims.get("sub"), str):
            raise Invalid("Invalid", "invalid ID token")
        if run.ctx.session_user_id and claims["sub"] != run.ctx.session_user_id:
            raise BadRequest("AuthenticationFlowDifferentUserID", "a different user is signed in")
        run.svc.users.get(claims["sub"])
        run.data["user_id"] = claims["sub"]
