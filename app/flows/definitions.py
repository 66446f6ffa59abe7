"""Flow declarations (contract 6.8): validation of `authentication_flow:` and the generated defaults.

Flows are data. A flow is `{"name", "steps": [step...]}`; a step is `{"type", "name"?, "one_of"?: [branch...],
...}` and a branch may carry nested `steps`. The `default` flow of each type is generated from the identity,
authentication, authenticator and verification config, so a project without custom flows behaves like
Authgear's defaults.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema

from app.botprotection import requirements as bot_protection
from app.botprotection.schema import FLOW_BRANCH_SCHEMA as BOT_PROTECTION_BRANCH
from app.config import ConfigError

FLOW_TYPES = ("signup", "promote", "login", "signup_login", "reauth", "account_recovery")
CONFIG_KEY = {t: f"{t}_flows" for t in FLOW_TYPES}

# Step types each flow type may declare (contract 6.3).
ALLOWED_STEPS = {
    "signup": [
        "identify",
        "create_authenticator",
        "verify",
        "fill_in_user_profile",
        "view_recovery_code",
        "prompt_create_passkey",
    ],
    "promote": [
        "identify",
        "create_authenticator",
        "verify",
        "fill_in_user_profile",
        "view_recovery_code",
        "prompt_create_passkey",
    ],
    "login": [
        "identify",
        "authenticate",
        "check_account_status",
        "terminate_other_sessions",
        "change_password",
        "prompt_create_passkey",
    ],
    "signup_login": ["identify"],
    "reauth": ["identify", "authenticate"],
    "account_recovery": ["identify", "select_destination", "verify_account_recovery_code", "reset_password"],
}

IDENTIFICATIONS = ["email", "phone", "username", "oauth", "passkey", "id_token", "ldap", "select_account"]
# Continuing as the signed-in user only makes sense where a login may happen (Authgear's design).
SELECT_ACCOUNT_FLOWS = ("login", "signup_login")
AUTHENTICATIONS = [
    "primary_password",
    "primary_passkey",
    "primary_oob_otp_email",
    "primary_oob_otp_sms",
    "secondary_password",
    "secondary_totp",
    "secondary_oob_otp_email",
    "secondary_oob_otp_sms",
    "recovery_code",
    "device_token",
]


def _step_schema(flow_type: str, depth: int = 0) -> dict[str, Any]:
    branch: dict[str, Any] = {
        "type": "object",
        "properties": {
            "identification": {"enum": IDENTIFICATIONS},
            "authentication": {"enum": AUTHENTICATIONS},
            "target_step": {"type": "string"},
            "signup_flow": {"type": "string"},
            "login_flow": {"type": "string"},
            "channel": {"enum": ["email", "sms", "whatsapp"]},
            "otp_form": {"enum": ["code", "link"]},
            "bot_protection": BOT_PROTECTION_BRANCH,
        },
    }
    if depth < 3:
        branch["properties"]["steps"] = {"type": "array", "items": _step_schema(flow_type, depth + 1)}
    return {
        "type": "object",
        "required": ["type"],
        "properties": {
            "name": {"type": "string", "pattern": r"^[a-zA-Z_][a-zA-Z0-9_]*$"},
            "type": {"enum": ALLOWED_STEPS[flow_type]},
            "one_of": {"type": "array", "items": branch},
            "optional": {"type": "boolean"},
            "target_step": {"type": "string"},
            "user_profile": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["pointer"],
                    "properties": {"pointer": {"type": "string"}, "required": {"type": "boolean"}},
                },
            },
            "enumerate_destinations": {"type": "boolean"},
            "allowed_channels": {"type": "array"},
        },
    }


def _flows_schema() -> dict[str, Any]:
    props: dict[str, Any] = {"rate_limits": {"type": "object"}}
    for flow_type in FLOW_TYPES:
        props[CONFIG_KEY[flow_type]] = {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "steps"],
                "properties": {
                    "name": {"type": "string", "pattern": r"^[a-zA-Z_][a-zA-Z0-9_]*$"},
                    "steps": {"type": "array", "minItems": 1, "items": _step_schema(flow_type)},
                },
            },
        }
    return {"type": "object", "properties": props}


_SCHEMA = _flows_schema()


def validate_flows(section: dict[str, Any]) -> None:
    """Raises ConfigError naming the first problem in `authentication_flow:`."""
    errors = sorted(jsonschema.Draft202012Validator(_SCHEMA).iter_errors(section), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path)
        raise ConfigError(f"authgear.yaml /authentication_flow/{where}: {err.message}")
    for flow_type in FLOW_TYPES:
        names = [f["name"] for f in section.get(CONFIG_KEY[flow_type], [])]
        if len(set(names)) != len(names):
            raise ConfigError(f"authgear.yaml /authentication_flow/{CONFIG_KEY[flow_type]}: duplicated flow name")
    for flow_type in FLOW_TYPES:
        if flow_type not in SELECT_ACCOUNT_FLOWS and _declares_select_account(section.get(CONFIG_KEY[flow_type], [])):
            raise ConfigError(
                f"authgear.yaml /authentication_flow/{CONFIG_KEY[flow_type]}: select_account is only for login flows"
            )
    for flow in section.get("signup_login_flows", []):
        for step in flow["steps"]:
            for branch in step.get("one_of", []):
                if branch.get("identification") == "select_account" and branch.get("signup_flow"):
                    # It continues an existing account: there is nothing to sign up.
                    raise ConfigError(
                        "authgear.yaml /authentication_flow/signup_login_flows: select_account has no signup_flow"
                    )
                for key, kind in (("signup_flow", "signup"), ("login_flow", "login")):
                    ref = branch.get(key)
                    known = [f["name"] for f in section.get(CONFIG_KEY[kind], [])]
                    if ref and ref != "default" and ref not in known:
                        raise ConfigError(
                            f"authgear.yaml /authentication_flow/signup_login_flows: {key} {ref!r} is not declared"
                        )


def _declares_select_account(items: list[dict[str, Any]]) -> bool:
    """Whether flows (or steps) declare `identification: select_account` at any depth."""
    for item in items:
        for step in item.get("steps", []) if "steps" in item else [item]:
            for branch in step.get("one_of", []):
                if branch.get("identification") == "select_account" or _declares_select_account(
                    [{"steps": branch.get("steps", [])}]
                ):
                    return True
    return False


class FlowCatalog:
    """Looks up a flow declaration by type and name; `default` flows are generated from config."""

    def __init__(self, project: dict[str, Any]) -> None:
        self.project = project
        section = project.get("authentication_flow") or {}
        validate_flows(section)
        self.declared = {t: {f["name"]: f for f in section.get(CONFIG_KEY[t], [])} for t in FLOW_TYPES}

    def get(self, flow_type: str, name: str) -> dict[str, Any] | None:
        if flow_type not in FLOW_TYPES:
            return None
        if name in self.declared[flow_type]:
            return copy.deepcopy(self.declared[flow_type][name])
        if name == "default":
            return DefaultFlows(self.project).build(flow_type)
        return None


class DefaultFlows:
    """Authgear's default flows, derived from `identity`, `authentication` and `verification`."""

    def __init__(self, project: dict[str, Any]) -> None:
        self.project = project
        auth = project["authentication"]
        self.login_id_types = list(dict.fromkeys(k["type"] for k in project["identity"]["login_id"]["keys"]))
        self.primary = auth["primary_authenticators"]
        self.secondary = auth["secondary_authenticators"]
        self.mode = auth["secondary_authentication_mode"]
        self.recovery_codes = not auth["recovery_code"]["disabled"]
        # Passkeys: an identity of the login flows, and a primary authenticator (prompted for after
        # a login ID's login or signup).
        self.passkey_identity = "passkey" in auth.get("identities", [])
        self.passkey = "passkey" in self.primary
        claims = project["verification"]["claims"]
        self.verify_claims = {
            "email": claims["email"]["enabled"] and claims["email"]["required"],
            "phone": claims["phone_number"]["enabled"] and claims["phone_number"]["required"],
        }

    def build(self, flow_type: str) -> dict[str, Any]:
        steps = {
            "signup": self.signup,
            "promote": self.signup,
            "login": self.login,
            "signup_login": self.signup_login,
            "reauth": self.reauth,
            "account_recovery": self.account_recovery,
        }[flow_type]()
        # `bot_protection.requirements` on the branches, as Authgear generates them.
        return {"name": "default", "steps": bot_protection.apply(self.project, flow_type, steps)}

    def _primary_oob(self, login_id_type: str) -> str | None:
        wanted = {"email": "oob_otp_email", "phone": "oob_otp_sms"}.get(login_id_type)
        return wanted if wanted in self.primary else None

    def _secondary_branches(self) -> list[dict[str, Any]]:
        names = {
            "totp": "secondary_totp",
            "oob_otp_email": "secondary_oob_otp_email",
            "oob_otp_sms": "secondary_oob_otp_sms",
            "password": "secondary_password",
        }
        return [{"authentication": names[s]} for s in self.secondary if s in names]

    def _with_oauth(
        self, login_id_branches: list[dict[str, Any]], oauth_branch: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The login ID branches with the social/enterprise login one (when providers are configured),
        in the order of `authentication.identities`, as Authgear generates them."""
        ids = self.project["authentication"]["identities"]
        if "oauth" not in ids or not (self.project["identity"].get("oauth") or {}).get("providers"):
            return login_id_branches
        if "login_id" not in ids:
            return [oauth_branch]
        if ids.index("oauth") > ids.index("login_id"):
            return [*login_id_branches, oauth_branch]
        return [oauth_branch, *login_id_branches]

    def signup(self) -> list[dict[str, Any]]:
        branches = []
        for t in self.login_id_types:
            nested: list[dict[str, Any]] = []
            if self.verify_claims.get(t):
                nested.append({"type": "verify", "target_step": "signup_identify"})
            create: list[dict[str, Any]] = []
            if "password" in self.primary:
                create.append({"authentication": "primary_password"})
            oob = self._primary_oob(t)
            if oob:
                create.append({"authentication": f"primary_{oob}", "target_step": "signup_identify"})
            if create:
                nested.append({"type": "create_authenticator", "one_of": create})
            branches.append({"identification": t, "steps": nested})
        branches = self._with_oauth(branches, {"identification": "oauth"})
        steps: list[dict[str, Any]] = [{"name": "signup_identify", "type": "identify", "one_of": branches}]
        if self.mode == "required" and self._secondary_branches():
            steps.append({"type": "create_authenticator", "one_of": self._secondary_branches()})
            if self.recovery_codes:
                steps.append({"type": "view_recovery_code"})
        if self.passkey:
            steps.append({"type": "prompt_create_passkey"})
        return steps

    def login(self) -> list[dict[str, Any]]:
        primary: list[dict[str, Any]] = []
        if "password" in self.primary:
            primary.append({"authentication": "primary_password"})
        for t in self.login_id_types:
            oob = self._primary_oob(t)
            if oob:
                primary.append({"authentication": f"primary_{oob}", "target_step": "login_identify"})
        # As in Authgear, the authentication belongs to the login ID branches, so that continuing as
        # the signed-in user (`select_account`, always offered first) asks for no password again;
        # the steps after identify run for every branch.
        authenticate: list[dict[str, Any]] = [
            {"name": "authenticate_primary", "type": "authenticate", "one_of": primary}
        ]
        if self.mode != "disabled" and self._secondary_branches():
            secondary = self._secondary_branches()
            if self.recovery_codes:
                secondary.append({"authentication": "recovery_code"})
            if not self.project["authentication"]["device_token"]["disabled"]:
                secondary.append({"authentication": "device_token"})
            authenticate.append({"type": "authenticate", "optional": self.mode != "required", "one_of": secondary})
        authenticate.append({"type": "change_password", "target_step": "authenticate_primary"})
        if self.passkey:
            # primary_passkey needs no second factor and has no password to change (Authgear), so
            # what follows the primary step moves under the other primary options.
            for option in primary:
                option["steps"] = copy.deepcopy(authenticate[1:])
            primary.append({"authentication": "primary_passkey"})
            del authenticate[1:]
        branches: list[dict[str, Any]] = [{"identification": "select_account"}]
        branches += self._with_oauth(
            [{"identification": t, "steps": copy.deepcopy(authenticate)} for t in self.login_id_types],
            {"identification": "oauth"},
        )
        if self.passkey_identity:
            branches.append({"identification": "passkey"})
        steps: list[dict[str, Any]] = [
            {"name": "login_identify", "type": "identify", "one_of": branches},
            {"type": "check_account_status"},
            {"type": "terminate_other_sessions"},
        ]
        if self.passkey:
            steps.append({"type": "prompt_create_passkey"})
        return steps

    def signup_login(self) -> list[dict[str, Any]]:
        return [
            {
                "type": "identify",
                "one_of": [{"identification": "select_account", "login_flow": "default"}]
                + self._with_oauth(
                    [
                        {"identification": t, "signup_flow": "default", "login_flow": "default"}
                        for t in self.login_id_types
                    ],
                    {"identification": "oauth", "signup_flow": "default", "login_flow": "default"},
                )
                # A passkey only signs in: Authgear has no signup with a passkey identity.
                + ([{"identification": "passkey", "login_flow": "default"}] if self.passkey_identity else []),
            }
        ]

    def reauth(self) -> list[dict[str, Any]]:
        options = [{"authentication": "primary_password"}] if "password" in self.primary else []
        if self.passkey:
            options.append({"authentication": "primary_passkey"})
        for t in self.login_id_types:
            oob = self._primary_oob(t)
            if oob:
                options.append({"authentication": f"primary_{oob}"})
        options += self._secondary_branches()
        return [
            {"type": "identify", "one_of": [{"identification": "id_token"}]},
            {"type": "authenticate", "one_of": options},
        ]

    def account_recovery(self) -> list[dict[str, Any]]:
        ids = [t for t in self.login_id_types if t in ("email", "phone")]
        return [
            {"type": "identify", "one_of": [{"identification": t} for t in ids]},
            {"type": "select_destination"},
            {"type": "verify_account_recovery_code"},
            {"type": "reset_password"},
        ]
