"""`identification: oauth` of the identify step: sign up, log in or re-authenticate with a social or
enterprise provider (Authgear's NodeOAuth and NodeLookupIdentityOAuth).

Two inputs. `{"identification": "oauth", "alias", "redirect_uri", "response_mode"?}` chooses the
provider; the step stays on `identify` with `oauth_data` (the provider's authorization URL). The
caller sends the browser there and, once the provider redirects back to `redirect_uri`, sends
`{"query": "<the callback's query or posted form>"}` (or the older `{"code"}` / `{"error", ...}`).
The code is exchanged, the ID token checked, and the provider's account becomes the identity that
signs up, logs in or re-authenticates. The nonce and PKCE verifier stay in the flow's server-side
state, so a callback replayed into another flow does not verify.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from app.errors import BadRequest, InvariantViolated, NotFound
from app.flows.inputs import obj, validate
from app.flows.run import WAIT, Done, FlowRun, Outcome
from app.flows.steps import account_linking
from app.flows.steps.common import account_enumeration_limit
from app.identities.models import Identity
from app.sso.service import IncomingOAuth

URI = {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": "^[A-Za-z][A-Za-z0-9+.-]*:"}
TEXT = {"type": "string", "maxLength": 4000}
RESPONSE_SCHEMA = {
    "type": "object",
    "oneOf": [
        obj({"query": {"type": "string", "maxLength": 16384}}, ["query"]),
        obj({"code": {"type": "string", "minLength": 1, "maxLength": 4000}, "state": TEXT}, ["code"]),
        obj(
            {
                "error": {"type": "string", "minLength": 1, "maxLength": 200},
                "error_description": TEXT,
                "error_uri": TEXT,
                "state": TEXT,
            },
            ["error"],
        ),
    ],
}


def waiting(run: FlowRun) -> bool:
    """Whether the identify step waits for the provider's answer."""
    return "oauth" in run.local


def options(run: FlowRun) -> list[dict[str, Any]]:
    """The `oauth` branch as one option per provider (Authgear's NewIdentificationOptionsOAuth)."""
    return run.svc.sso.identification_options()


def start(run: FlowRun, branch: dict[str, Any], inp: dict[str, Any]) -> Outcome:
    aliases = [o["alias"] for o in options(run)]
    validate(
        inp,
        obj(
            {
                "identification": {"const": "oauth"},
                "alias": {"enum": aliases} if aliases else {"type": "string", "maxLength": 0, "minLength": 1},
                "redirect_uri": URI,
                "response_mode": {"enum": ["form_post", "query"]},
            },
            ["alias", "redirect_uri"],
        ),
    )
    alias, redirect_uri, mode = inp["alias"], inp["redirect_uri"], inp.get("response_mode", "")
    begun = run.svc.sso.start(alias, redirect_uri, mode, _prompt(run))
    run.local["oauth"] = {
        "alias": alias,
        "redirect_uri": redirect_uri,
        "response_mode": mode,
        "url": begun.url,
        "nonce": begun.nonce,
        "code_verifier": begun.code_verifier,
        "branch": branch,
    }
    return WAIT


def _prompt(run: FlowRun) -> list[str]:
    """The authorization request's `prompt` reaches the provider (Authgear's uiparam)."""
    from app.flows.steps.select_account import oauth_request

    prompt = (oauth_request(run) or {}).get("prompt") or run.query.get("prompt", "")
    return prompt.split() if isinstance(prompt, str) else [p for p in prompt if isinstance(p, str)]


def action(run: FlowRun) -> dict[str, Any]:
    state = run.local["oauth"]
    return {"identification": "oauth", "data": run.svc.sso.oauth_data(state["alias"], state["url"])}


def response_query(inp: dict[str, Any]) -> str:
    validate(inp, RESPONSE_SCHEMA)
    if "query" in inp:
        return str(inp["query"])
    return urlencode({k: v for k, v in inp.items() if isinstance(v, str)})


def take_response(run: FlowRun, inp: dict[str, Any]) -> Outcome:
    """The provider's answer: the incoming identity, then the flow type's use of it."""
    state = run.local["oauth"]
    query = response_query(inp)
    spec = run.svc.sso.finish(state["alias"], query, state["redirect_uri"], state["nonce"], state["code_verifier"])
    branch = state["branch"]
    identified = {"identification": "oauth", "alias": state["alias"], "provider_type": spec.provider_type}
    run.data["identification"] = "oauth"
    run.data["identified"] = identified
    if run.flow_type in ("signup", "promote"):
        return _signup(run, branch, spec, identified)
    if run.flow_type == "signup_login":
        return _signup_login(run, branch, spec, identified)
    return _login(run, branch, spec, identified)


# -- per flow type ------------------------------------------------------------------------------------
def _details(spec: IncomingOAuth, existing: list[Identity]) -> dict[str, Any]:
    """Authgear's identityFillDetails: what came in, and which identities it ran into."""
    info: dict[str, Any] = {"IdentityTypeIncoming": "oauth", "OAuthProviderTypeIncoming": spec.provider_type}
    if existing:
        first = existing[0]
        info["IdentityTypeExisting"] = first.type
        if first.type == "login_id":
            info["LoginIDTypeExisting"] = first.login_id_type
        elif first.type == "oauth":
            info["OAuthProviderTypeExisting"] = first.provider_type
        info["ExistingIdentities"] = [_one(i) for i in existing]
    return info


def _one(identity: Identity) -> dict[str, Any]:
    out: dict[str, Any] = {"IdentityType": identity.type}
    if identity.type == "login_id":
        out["LoginIDType"] = identity.login_id_type
    elif identity.type == "oauth":
        out["OAuthProviderType"] = identity.provider_type
    return out


def conflicting(run: FlowRun, spec: IncomingOAuth) -> list[Identity]:
    """Identities of other accounts with the incoming email (Authgear's CheckDuplicated on claims)."""
    from sqlalchemy import select

    from app.extensions import db

    email = spec.claims.get("email")
    if not isinstance(email, str) or not email:
        return []
    found: list[Identity] = []
    try:
        login_id = run.svc.users.find_identity("email", email)
    except Exception:  # noqa: BLE001 - no email login ID key, or a value it refuses: no conflict there
        login_id = None
    if login_id is not None:
        found.append(login_id)
    others = db.session.scalars(select(Identity).where(Identity.type == "oauth")).all()
    found += [i for i in others if (i.claims or {}).get("email") == email and i not in found]
    return found


def _signup(run: FlowRun, branch: dict[str, Any], spec: IncomingOAuth, identified: dict[str, Any]) -> Outcome:
    limits = run.project["authentication"]["rate_limits"]["signup"]["per_ip"]
    run.svc.rate_limiter.check("authentication.signup", "SignupPerIP", run.ip, limits)
    existing = run.svc.oauth_identities.find(spec)
    if existing is not None:
        raise _duplicated(spec, [existing])
    conflicts = account_linking.conflicts_of(run, spec, branch)
    if conflicts:  # Authgear's account linking: an error, or a choice of the account to sign in to
        return account_linking.begin(run, spec, branch, conflicts)
    run.pending.setdefault("oauth_identities", []).append(spec.to_dict())
    run.record(identified)
    return Done(list(branch.get("steps", [])))


def _duplicated(spec: IncomingOAuth, existing: list[Identity]) -> InvariantViolated:
    err = InvariantViolated("DuplicatedIdentity", "identity already exists")
    err.info.update(_details(spec, existing))
    return err


def _user_not_found(run: FlowRun, spec: IncomingOAuth) -> NotFound:
    return NotFound("UserNotFound", "user not found", _details(spec, conflicting(run, spec)[:1]))


def _login(run: FlowRun, branch: dict[str, Any], spec: IncomingOAuth, identified: dict[str, Any]) -> Outcome:
    account_enumeration_limit(run)
    identity = run.svc.oauth_identities.find(spec)
    if identity is None:
        raise _user_not_found(run, spec)
    if run.flow_type == "reauth" and run.ctx.session_user_id and identity.user_id != run.ctx.session_user_id:
        raise BadRequest("AuthenticationFlowDifferentUserID", "a different user is signed in")
    account_linking.check_login(run, identity.user_id)  # the account chosen to link to
    run.svc.oauth_identities.refresh(identity, spec)
    run.data["user_id"] = identity.user_id
    run.record(identified)
    return Done(list(branch.get("steps", [])))


def _signup_login(run: FlowRun, branch: dict[str, Any], spec: IncomingOAuth, identified: dict[str, Any]) -> Outcome:
    """A known account logs in, a new one signs up: the flow becomes the branch's login or signup
    flow, whose own identify step is answered already (Authgear's ErrorSwitchFlow)."""
    identity = run.svc.oauth_identities.find(spec)
    target_type = "login" if identity is not None else "signup"
    target_name = branch.get(f"{target_type}_flow") or "default"
    flow = run.catalog.get(target_type, target_name)
    if flow is None:
        raise BadRequest("AuthenticationFlowUnknownFlow", "unknown authentication flow")
    steps = flow["steps"]
    first = steps[0] if steps else None
    index = next(
        (i for i, b in enumerate((first or {}).get("one_of", [])) if b.get("identification") == "oauth"),
        None,
    )
    if first is None or first["type"] != "identify" or index is None:
        raise BadRequest("AuthenticationFlowUnsupported", "the target flow does not accept oauth")
    run.data["effective_type"] = target_type
    run.data["effective_name"] = target_name
    if identity is not None:
        run.svc.oauth_identities.refresh(identity, spec)
        run.data["user_id"] = identity.user_id
    else:
        limits = run.project["authentication"]["rate_limits"]["signup"]["per_ip"]
        run.svc.rate_limiter.check("authentication.signup", "SignupPerIP", run.ip, limits)
        conflicts = account_linking.conflicts_of(run, spec, branch)
        if conflicts:
            return account_linking.begin(run, spec, branch, conflicts)
        run.pending.setdefault("oauth_identities", []).append(spec.to_dict())
    first.update({"pre_identified": True, "pre_identified_index": index})
    return Done(steps)


def identify_options(run: FlowRun, offered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The identify options with the `oauth` one replaced by one option per provider."""
    out: list[dict[str, Any]] = []
    for o in offered:
        if o.get("identification") == "oauth":
            out += options(run)
        else:
            out.append(o)
    return out
