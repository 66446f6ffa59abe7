"""Account linking of an incoming OAuth identity at signup (Authgear's IntentAccountLinking,
`account_linking.oauth[]` of authgear.yaml).

When a provider account signs up, its claim (`oauth_claim`, default `/email`) is looked up among the
other users' identities by the profile field `user_profile` names (`/email`, `/phone_number` or
`/preferred_username`: login IDs of that type, and OAuth identities whose claims hold it). The rules
are the items whose `alias` is the provider's, else Authgear's default (email to email, `error`).
An identify branch of the flow may override an item's `action` and `login_flow` by its `name`
(`account_linking.oauth[]` of the branch).

- Any conflict whose action is `error`: `InvariantViolated` / `DuplicatedIdentity` with Authgear's
  details (`IdentityTypeIncoming`, `ExistingIdentities`, ...).
- Otherwise (`login_and_link`) the identify step asks which account to sign in to:
  `account_linking_identification_data` with one option per conflict (`identification`,
  `masked_display_name`, `action`, and for OAuth `provider_type`, `alias`, `provider_status`), taking
  `{"index", "redirect_uri"?, "response_mode"?}`. The flow then becomes the login flow (`login_flow`,
  else the current flow's name) of that user: a login ID option is already identified and goes on to
  authentication; an OAuth option goes to that provider first, which must answer with that very
  identity. When the login finishes, the incoming identity is linked to the user.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.errors import BadRequest, InvariantViolated
from app.extensions import db
from app.flows.inputs import obj, validate
from app.flows.run import WAIT, Done, FlowRun, Outcome
from app.identities.models import Identity
from app.messaging.service import mask_address
from app.sso.service import IncomingOAuth

POINTER_CLAIM = {"/email": "email", "/phone_number": "phone_number", "/preferred_username": "preferred_username"}
CLAIM_LOGIN_ID_TYPE = {"email": "email", "phone_number": "phone", "preferred_username": "username"}
DEFAULT_OAUTH_ITEM = {"oauth_claim": {"pointer": "/email"}, "user_profile": {"pointer": "/email"}, "action": "error"}
URI = {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": "^[A-Za-z][A-Za-z0-9+.-]*:"}


def oauth_items(run: FlowRun, alias: str) -> list[dict[str, Any]]:
    config = run.project.get("account_linking") or {}
    items = [i for i in config.get("oauth") or [] if isinstance(i, dict) and i.get("alias") == alias]
    return items or [DEFAULT_OAUTH_ITEM]


def _override(item: dict[str, Any], branch: dict[str, Any], kind: str = "oauth") -> tuple[str, str]:
    """The branch's override of the item's action and login flow, matched by `name`."""
    action, login_flow = str(item.get("action") or "error"), ""
    name = item.get("name")
    if name:
        for o in ((branch.get("account_linking") or {}).get(kind)) or []:
            if isinstance(o, dict) and o.get("name") == name:
                action = o.get("action") or action
                login_flow = o.get("login_flow") or login_flow
    return action, login_flow


def _holders(run: FlowRun, claim: str, value: str) -> list[Identity]:
    """Identities holding `value` as `claim` (Authgear's ListByClaim): login IDs of that type, then
    OAuth identities whose stored claims carry it."""
    found: list[Identity] = []
    login_id_type = CLAIM_LOGIN_ID_TYPE[claim]
    keys = [k for k in run.project["identity"]["login_id"].get("keys") or [] if k.get("type") == login_id_type]
    for key in keys:
        try:
            identity = run.svc.users.find_identity(key["key"], value)
        except Exception:  # noqa: BLE001 - a value this key refuses holds nothing under it
            identity = None
        if identity is not None and identity not in found:
            found.append(identity)
    # The claim is compared in SQL (every login-ID signup asks), not over every OAuth identity loaded.
    stmt = select(Identity).where(Identity.type == "oauth", Identity.claims[claim].as_string() == value)
    found += [i for i in db.session.scalars(stmt) if i not in found]
    return found


def conflicts_of(run: FlowRun, spec: IncomingOAuth, branch: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in oauth_items(run, spec.provider_alias):
        claim = POINTER_CLAIM.get(str((item.get("oauth_claim") or {}).get("pointer")), "email")
        value = spec.claims.get(claim)
        if not isinstance(value, str) or not value:
            continue
        profile = POINTER_CLAIM.get(str((item.get("user_profile") or {}).get("pointer")), "email")
        action, login_flow = _override(item, branch)
        for identity in _holders(run, profile, value):
            if identity.id in seen:
                continue
            seen.add(identity.id)
            out.append({"identity_id": identity.id, "action": action, "login_flow": login_flow})
    return out


# -- an incoming login ID (Authgear's linkByIncomingLoginIDSpec, `account_linking.login_id[]`) ----------
LOGIN_ID_POINTER = {"email": "/email", "phone": "/phone_number", "username": "/preferred_username"}


def login_id_items(run: FlowRun, key: str, login_id_type: str) -> list[dict[str, Any]]:
    """The items of the login ID key, else Authgear's default of its type (same claim, `error`)."""
    config = run.project.get("account_linking") or {}
    items = [i for i in config.get("login_id") or [] if isinstance(i, dict) and i.get("key") == key]
    return items or [{"user_profile": {"pointer": LOGIN_ID_POINTER[login_id_type]}, "action": "error"}]


def login_id_conflicts_of(run: FlowRun, incoming: dict[str, Any], branch: dict[str, Any]) -> list[dict[str, Any]]:
    """Other users' identities holding the new login ID (`incoming`: key, type, normalized value)
    under the claim each item's `user_profile` names."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in login_id_items(run, incoming["key"], incoming["type"]):
        profile = POINTER_CLAIM.get(str((item.get("user_profile") or {}).get("pointer")), "email")
        action, login_flow = _override(item, branch, "login_id")
        for identity in _holders(run, profile, incoming["value"]):
            if identity.id in seen:
                continue
            seen.add(identity.id)
            out.append({"identity_id": identity.id, "action": action, "login_flow": login_flow})
    return out


def begin_login_id(
    run: FlowRun, incoming: dict[str, Any], branch: dict[str, Any], conflicts: list[dict[str, Any]]
) -> Outcome:
    """As `begin`, for a login ID being signed up with."""
    from app.flows.steps.oauth import _one

    errors = [c for c in conflicts if c["action"] != "login_and_link"]
    if errors:
        existing = [_identity(c) for c in errors]
        err = InvariantViolated("DuplicatedIdentity", "identity already exists")
        err.info.update({"IdentityTypeIncoming": "login_id", "LoginIDTypeIncoming": incoming["type"]})
        first = existing[0]
        err.info["IdentityTypeExisting"] = first.type
        if first.type == "login_id":
            err.info["LoginIDTypeExisting"] = first.login_id_type
        elif first.type == "oauth":
            err.info["OAuthProviderTypeExisting"] = first.provider_type
        err.info["ExistingIdentities"] = [_one(i) for i in existing]
        raise err
    run.local["account_linking"] = {"login_id": incoming, "conflicts": conflicts, "branch": branch}
    return WAIT


def _identity(conflict: dict[str, Any]) -> Identity:
    identity = db.session.get(Identity, conflict["identity_id"])
    if identity is None:  # removed meanwhile
        raise BadRequest("AuthenticationFlowUnsupported", "the account to link no longer exists")
    return identity


def duplicated(spec: IncomingOAuth, existing: list[Identity]) -> InvariantViolated:
    from app.flows.steps.oauth import _details

    err = InvariantViolated("DuplicatedIdentity", "identity already exists")
    err.info.update(_details(spec, existing))
    return err


def begin(run: FlowRun, spec: IncomingOAuth, branch: dict[str, Any], conflicts: list[dict[str, Any]]) -> Outcome:
    """An error conflict refuses the signup; login_and_link ones become the options to choose from."""
    errors = [c for c in conflicts if c["action"] != "login_and_link"]
    if errors:
        raise duplicated(spec, [_identity(c) for c in errors])
    run.local.pop("oauth", None)
    run.local["account_linking"] = {"spec": spec.to_dict(), "conflicts": conflicts, "branch": branch}
    return WAIT


def waiting(run: FlowRun) -> bool:
    return "account_linking" in run.local


def _option(run: FlowRun, conflict: dict[str, Any]) -> dict[str, Any] | None:
    identity = db.session.get(Identity, conflict["identity_id"])
    if identity is None:
        return None
    option: dict[str, Any] = {"action": conflict["action"]}
    if identity.type == "login_id":
        value = identity.login_id or ""
        option["identification"] = identity.login_id_type
        if identity.login_id_type == "email":
            option["masked_display_name"] = mask_address(value)
        elif identity.login_id_type == "phone":
            option["masked_display_name"] = value[:-4] + "****" if len(value) > 6 else "****"
        else:
            option["masked_display_name"] = value
    elif identity.type == "oauth":
        option["identification"] = "oauth"
        option["masked_display_name"] = str((identity.claims or {}).get("email") or identity.provider_subject_id or "")
        option["provider_type"] = identity.provider_type
        option["alias"] = identity.provider_alias
        conf = next((p for p in run.svc.sso.providers() if p["alias"] == identity.provider_alias), None)
        option["provider_status"] = run.svc.sso.status(conf) if conf else "missing_credentials"
    else:
        return None
    return option


def _choices(run: FlowRun) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    out = []
    for c in run.local["account_linking"]["conflicts"]:
        option = _option(run, c)
        if option is not None:
            out.append((option, c))
    return out


def action(run: FlowRun) -> dict[str, Any]:
    incoming = run.local["account_linking"].get("login_id")
    return {
        "identification": incoming["type"] if incoming else "oauth",
        "data": {"type": "account_linking_identification_data", "options": [o for o, _ in _choices(run)]},
    }


def take(run: FlowRun, inp: dict[str, Any]) -> Outcome:
    """`{"index"}` (with `redirect_uri` for an OAuth option): the flow becomes that user's login."""
    choices = _choices(run)
    one_of = []
    for index, (option, _) in enumerate(choices):
        props: dict[str, Any] = {"index": {"const": index}}
        required = ["index"]
        if option["identification"] == "oauth":
            props.update(redirect_uri=URI, response_mode={"enum": ["form_post", "query"]})
            required.append("redirect_uri")
        one_of.append(obj(props, required))
    validate(inp, {"type": "object", "oneOf": one_of} if one_of else {"type": "object", "required": ["index"]})
    option, conflict = choices[inp["index"]]
    identity = _identity(conflict)
    linking = run.local["account_linking"]
    current_name = run.data.get("effective_name") or run.state.name
    login_name = conflict.get("login_flow") or current_name
    flow = run.catalog.get("login", login_name)
    steps = (flow or {}).get("steps") or []
    first = steps[0] if steps else None
    wanted = option["identification"]
    index = next(
        (i for i, b in enumerate((first or {}).get("one_of", [])) if b.get("identification") == wanted),
        None,
    )
    if first is None or first.get("type") != "identify" or index is None:
        raise BadRequest("AuthenticationFlowUnsupported", "the login flow does not accept this identification")
    run.data.update(effective_type="login", effective_name=login_name)
    run.data["account_linking"] = {
        "spec": linking.get("spec"),
        "login_id": linking.get("login_id"),
        "user_id": identity.user_id,
    }
    run.state.queue = []  # the rest of the signup flow gives way to the login flow (Authgear rewrites the flow)
    if wanted == "oauth":
        first["account_linking_oauth"] = {
            "index": index,
            "alias": identity.provider_alias,
            "redirect_uri": inp["redirect_uri"],
            "response_mode": inp.get("response_mode", ""),
        }
    else:
        identified = {
            "identification": wanted,
            "key": identity.login_id_key,
            "value": identity.login_id,
            "claim": {"email": "email", "phone": "phone_number", "username": "preferred_username"}[wanted],
        }
        run.data.update(identification=wanted, identified=identified, user_id=identity.user_id)
        first.update({"pre_identified": True, "pre_identified_index": index})
    return Done(steps)


def enter_oauth(run: FlowRun) -> Outcome | None:
    """The login flow's identify step of an OAuth option: straight to that provider."""
    from app.flows.steps import oauth

    pending = run.step.get("account_linking_oauth")
    if not pending:
        return None
    branch = run.step["one_of"][pending["index"]]
    inp = {"identification": "oauth", "alias": pending["alias"], "redirect_uri": pending["redirect_uri"]}
    if pending.get("response_mode"):
        inp["response_mode"] = pending["response_mode"]
    return oauth.start(run, branch, inp)


def check_login(run: FlowRun, user_id: str) -> None:
    """The login of an OAuth option must be the account chosen."""
    target = (run.data.get("account_linking") or {}).get("user_id")
    if target and target != user_id:
        raise BadRequest("AuthenticationFlowDifferentUserID", "a different user is signed in")


def link_pending(run: FlowRun) -> None:
    """At the end of the login: the incoming identity joins the user (Authgear's NodeDoCreateIdentity)."""
    linking = run.data.get("account_linking")
    if not linking or run.flow_type != "login" or run.user_id != linking["user_id"]:
        return
    if linking.get("login_id"):  # an incoming login ID: added to the user, unless taken meanwhile
        incoming = linking["login_id"]
        if run.svc.users.find_identity(incoming["key"], incoming["value"]) is not None:
            from app.errors import duplicated_identity

            raise duplicated_identity()
        run.svc.users.add_login_id(run.svc.users.get(run.user_id), incoming["key"], incoming["raw"], run.ctx.request)
        run.data.pop("account_linking", None)
        return
    spec = IncomingOAuth.from_dict(linking["spec"])
    if run.svc.oauth_identities.find(spec) is not None:
        raise duplicated(spec, [run.svc.oauth_identities.find(spec)])  # type: ignore[list-item]
    user = run.svc.users.get(run.user_id)
    run.svc.oauth_identities.create(user, spec, run.ctx.request)
    run.data.pop("account_linking", None)
