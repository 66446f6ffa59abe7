"""The authorization request (RFC 6749 section 4.1.1, OIDC Core 3.1.2.1, contract 1.3): parsing,
validation and the pending request kept while the user logs in.

Validation first settles `client_id` and `redirect_uri`; until both are known to be good, errors are
shown on a page and never sent to the URI (RFC 6749 section 4.1.2.1). After that, errors go to the
redirect URI in the requested response mode.

The pending request is stored as JSON in the key-value store under `oauth_session:<x_ref>` for
`PENDING_TTL` seconds. Fields (readable by the hosted pages and the flow engine):

    client_id, redirect_uri, response_type ("code" | "none"), response_mode ("query" | "fragment" |
    "form_post"), scopes [..], state, nonce, prompt [..], max_age (int | null), ui_locales (str),
    login_hint (the raw URL), login_hint_login_id ({"key": "email"|"phone"|"username", "value",
    "enforce"} | null), id_token_hint, id_token_hint_sub (the verified hint's subject),
    x_page ("login" | "signup" | null), x_state, x_color_scheme, code_challenge, code_challenge_method,
    requested_at (unix seconds, float), x_settings_action, x_settings_action_query and settings_user_id
    (settings-action requests, contract 1.8), x_authentication_flow_group (the `ui.authentication_flow`
    group whose flows the hosted pages run), x_sso_enabled and x_suppress_idp_session_cookie (the raw
    values; see `suppresses_idp_session`), authentication_info (a login that made no IdP session)
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any
from urllib.parse import parse_qs, urlsplit

from werkzeug.datastructures import MultiDict

from app.crypto import random_alnum
from app.kvstore import KVStore
from app.oidc.clients import SETTINGS_ACTION_RESPONSE_TYPE, ClientRegistry, OAuthClient
from app.oidc.scopes import ScopeError, parse_scope, validate_user_scopes
from app.oidc.urls import add_query

PENDING_TTL = 20 * 60  # seconds, like Authgear's OAuth session
MAX_PARAM_LENGTH = 4096
RESPONSE_MODES = ("query", "fragment", "form_post")
KNOWN_PROMPTS = ("none", "login", "consent", "select_account")
LOGIN_HINT_PREFIX = "https://authgear.com/login_hint?"
_X_REF = re.compile(r"^[A-Za-z0-9]{32}$")
_PKCE_CHALLENGE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")  # RFC 7636 section 4.2
_MAX_AGE = re.compile(r"^[0-9]{1,10}$")
# `x_settings_action` values Gatehouse serves (contract 1.3); link_oauth / unlink_oauth name their
# provider with `x_oauth_provider_alias`.
SETTINGS_ACTIONS = (
    "change_password",
    "delete_account",
    "add_email",
    "add_phone",
    "add_username",
    "change_email",
    "change_phone",
    "change_username",
    "link_oauth",
    "unlink_oauth",
)


class AuthorizeError(Exception):
    """An error of the authorization request. With `redirect_uri` it goes to the client in
    `response_mode`; without, it is shown on a page."""

    def __init__(
        self,
        error: str,
        description: str,
        redirect_uri: str | None = None,
        response_mode: str = "query",
        state: str | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.redirect_uri = redirect_uri
        self.response_mode = response_mode
        self.state = state


@dataclass
class PendingRequest:
    client_id: str
    redirect_uri: str
    response_type: str
    response_mode: str
    scopes: list[str]
    requested_at: float
    state: str | None = None
    nonce: str | None = None
    prompt: list[str] = field(default_factory=list)
    max_age: int | None = None
    ui_locales: str | None = None
    login_hint: str | None = None
    login_hint_login_id: dict[str, Any] | None = None
    id_token_hint: str | None = None
    id_token_hint_sub: str | None = None
    x_page: str | None = None
    x_state: str | None = None
    x_color_scheme: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    x_settings_action: str | None = None
    x_settings_action_query: str | None = None
    settings_user_id: str | None = None  # set at consent: the user the settings action is for
    x_authentication_flow_group: str | None = None
    x_oauth_provider_alias: str | None = None  # the login page goes straight to this provider
    x_sso_enabled: str | None = None
    x_suppress_idp_session_cookie: str | None = None
    # Set by a flow that finished without an IdP session (app/flows/sessionless.py): `user_id`,
    # `authenticated_at` (unix seconds) and `amr` of the login, for consent to issue the code from.
    authentication_info: dict[str, Any] | None = None

    def suppresses_idp_session(self) -> bool:
        """Authgear's rule: `x_sso_enabled` decides when sent (anything but "true" keeps the browser's
        IdP session out of this request); else `x_suppress_idp_session_cookie=true`, its older name."""
        if self.x_sso_enabled:
            return self.x_sso_enabled != "true"
        return self.x_suppress_idp_session_cookie == "true"

    def error(self, error: str, description: str) -> AuthorizeError:
        return AuthorizeError(error, description, self.redirect_uri, self.response_mode, self.state)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> PendingRequest | None:
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                return None
            # Other readers may annotate the entry; keys this class does not know are not its business.
            known = {f.name for f in fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in known})
        except (ValueError, TypeError):
            return None


def _single(params: MultiDict, name: str) -> str | None:
    """One value of a parameter; a repeated parameter is an error (RFC 6749 section 3.1)."""
    values = params.getlist(name)
    if len(values) > 1:
        raise ValueError(f"{name} must not be repeated")
    if not values or values[0] == "":
        return None
    return values[0]


def redirect_allowed(client: OAuthClient, redirect_uri: str, own_origin: str | None = None) -> bool:
    """A registered URI (exact match), or a page of Gatehouse itself (`own_origin`): the SDKs open
    `<origin>/settings` through authorize to sign the browser in first (Authgear allows every URI
    of its own origin for this)."""
    if client.check_redirect_uri(redirect_uri):
        return True
    if own_origin is None or not client.is_first_party:
        return False
    parts = urlsplit(redirect_uri)
    return f"{parts.scheme}://{parts.netloc}" == own_origin and not parts.fragment


def parse_authorization_request(
    params: MultiDict, clients: ClientRegistry, now: float, own_origin: str | None = None
) -> PendingRequest:
    """Validates an authorization request; raises `AuthorizeError`. `own_origin`: the public
    origin, whose pages are redirect URIs of `response_type=none` for first-party clients."""
    oversized = next((n for n in params if any(len(v) > MAX_PARAM_LENGTH for v in params.getlist(n))), None)
    if oversized in ("client_id", "redirect_uri"):
        raise AuthorizeError("invalid_request", f"{oversized} is too long")

    try:
        client_id = _single(params, "client_id")
        redirect_uri = _single(params, "redirect_uri")
    except ValueError as exc:
        raise AuthorizeError("invalid_request", str(exc)) from None
    client = clients.get(client_id)
    if client is None:
        raise AuthorizeError("unauthorized_client", "invalid client ID")
    if redirect_uri is None:
        raise AuthorizeError("invalid_request", "redirect URI is required")
    if not redirect_allowed(client, redirect_uri, own_origin):
        raise AuthorizeError("invalid_request", "redirect URI is not allowed")

    # From here on, errors go back to the client.
    mode_values = params.getlist("response_mode")
    response_mode = mode_values[0] if len(mode_values) == 1 and mode_values[0] in RESPONSE_MODES else "query"
    state_values = params.getlist("state")
    state = state_values[0] if len(state_values) == 1 and len(state_values[0]) <= MAX_PARAM_LENGTH else None

    def fail(error: str, description: str) -> AuthorizeError:
        return AuthorizeError(error, description, redirect_uri, response_mode, state)

    if oversized is not None:
        raise fail("invalid_request", f"{oversized} is too long")
    try:
        values = {name: _single(params, name) for name in params}
    except ValueError as exc:
        raise fail("invalid_request", str(exc)) from None
    if mode_values and (len(mode_values) != 1 or mode_values[0] not in RESPONSE_MODES):
        raise fail("invalid_request", "invalid response_mode")
    if response_mode == "form_post" and urlsplit(redirect_uri).scheme not in ("http", "https"):
        # A browser can only post a form to a web URI; answer in the query instead.
        response_mode = "query"
        raise fail("invalid_request", "form_post needs an http or https redirect URI")
    # OIDC Core 6: request objects are not supported.
    if values.get("request"):
        raise fail("request_not_supported", "request objects are not supported")
    if values.get("request_uri"):
        raise fail("request_uri_not_supported", "request_uri is not supported")

    response_type = " ".join(sorted((values.get("response_type") or "").split()))
    if not response_type:
        raise fail("invalid_request", "response_type is required")
    if response_type != "none" and not client.check_redirect_uri(redirect_uri):
        # Only opening a page of Gatehouse itself may use an unregistered URI; no code goes there.
        raise AuthorizeError("invalid_request", "redirect URI is not allowed")
    if response_type not in ("code", "none", SETTINGS_ACTION_RESPONSE_TYPE):
        raise fail("unsupported_response_type", "only 'code', 'none' and settings-action response types are supported")
    # `none` (the Web SDK's cookie sessions) is always allowed for first-party clients, as Authgear
    # allows it for every client; third-party clients still need it configured.
    if not client.check_response_type(response_type) and not (response_type == "none" and client.is_first_party):
        raise fail("unauthorized_client", "response type is not allowed for this client")
    settings_action = values.get("x_settings_action")
    if response_type == SETTINGS_ACTION_RESPONSE_TYPE and settings_action not in SETTINGS_ACTIONS:
        raise fail("invalid_request", "x_settings_action is missing or not supported")
    if (
        response_type == SETTINGS_ACTION_RESPONSE_TYPE
        and settings_action in ("link_oauth", "unlink_oauth")
        and not values.get("x_oauth_provider_alias")
    ):
        raise fail("invalid_request", f"oauthProviderAlias is required for {settings_action}")

    scopes = parse_scope(values.get("scope"))
    try:
        validate_user_scopes(client, scopes)
    except ScopeError as exc:
        raise fail(exc.error, exc.description) from None

    prompt = parse_scope(values.get("prompt"))
    if any(p not in KNOWN_PROMPTS for p in prompt):
        raise fail("invalid_request", "unknown prompt value")
    max_age_raw = values.get("max_age")
    if max_age_raw is not None and not _MAX_AGE.match(max_age_raw):
        raise fail("invalid_request", "max_age must be a non-negative integer")
    max_age = int(max_age_raw) if max_age_raw is not None else None
    if "none" in prompt:
        if len(prompt) != 1:
            raise fail("invalid_request", "prompt cannot have other values when none is set")
        if max_age is not None:
            raise fail("invalid_request", "max_age cannot be present when prompt=none")

    challenge = values.get("code_challenge")
    method = values.get("code_challenge_method")
    if response_type in ("code", SETTINGS_ACTION_RESPONSE_TYPE):
        if client.is_public and not challenge:
            raise fail("invalid_request", "PKCE code challenge is required")
        if challenge or method:
            # RFC 7636 section 4.3; `plain` gives no protection against a leaked code, so only S256.
            if method != "S256":
                raise fail("invalid_request", "only 'S256' PKCE transform is supported")
            if not challenge or not _PKCE_CHALLENGE.match(challenge):
                raise fail("invalid_request", "invalid code_challenge")
    else:
        challenge = method = None

    login_hint = values.get("login_hint")
    login_hint_login_id = parse_login_hint(login_hint) if login_hint else None
    if login_hint and login_hint_login_id is None and sdk_login_hint(login_hint) is None:
        raise fail("invalid_request", "invalid login_hint")

    x_page = values.get("x_page")
    if x_page not in (None, "login", "signup"):
        raise fail("invalid_request", "x_page must be login or signup")
    x_color_scheme = values.get("x_color_scheme")
    if x_color_scheme not in (None, "light", "dark"):
        x_color_scheme = None

    return PendingRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        response_type=response_type,
        response_mode=response_mode,
        scopes=scopes,
        requested_at=now,
        state=state,
        nonce=values.get("nonce"),
        prompt=prompt,
        max_age=max_age,
        ui_locales=values.get("ui_locales"),
        login_hint=login_hint,
        login_hint_login_id=login_hint_login_id,
        id_token_hint=values.get("id_token_hint"),
        x_page=x_page,
        x_state=values.get("x_state"),
        x_color_scheme=x_color_scheme,
        code_challenge=challenge,
        code_challenge_method=method,
        x_settings_action=settings_action if response_type == SETTINGS_ACTION_RESPONSE_TYPE else None,
        x_settings_action_query=values.get("x_settings_action_query")
        if response_type == SETTINGS_ACTION_RESPONSE_TYPE
        else None,
        x_authentication_flow_group=values.get("x_authentication_flow_group"),
        x_oauth_provider_alias=(values.get("x_oauth_provider_alias") or None),
        x_sso_enabled=values.get("x_sso_enabled"),
        x_suppress_idp_session_cookie=values.get("x_suppress_idp_session_cookie"),
    )


def parse_login_hint(raw: str) -> dict[str, Any] | None:
    """Authgear's `https://authgear.com/login_hint?type=login_id&email=...` (type login_id only)."""
    if not raw.startswith(LOGIN_HINT_PREFIX):
        return None
    query = parse_qs(urlsplit(raw).query, keep_blank_values=True)
    if query.get("type") != ["login_id"]:
        return None
    keys = [k for k in ("email", "phone", "username") if k in query]
    if len(keys) != 1 or len(query[keys[0]]) != 1 or not query[keys[0]][0]:
        return None
    enforce = query.get("enforce", ["false"])
    if enforce not in (["true"], ["false"]):
        return None
    return {"key": keys[0], "value": query[keys[0]][0], "enforce": enforce == ["true"]}


def sdk_login_hint(raw: str) -> dict[str, str] | None:
    """The login hints of Authgear's SDKs (`oauth.ParseLoginHint`): `type=app_session_token` with its
    `app_session_token`, or `type=anonymous` with `promotion_code` or `jwt`; None otherwise."""
    if not raw.startswith(LOGIN_HINT_PREFIX):
        return None
    query = {k: v[0] for k, v in parse_qs(urlsplit(raw).query).items() if len(v) == 1}
    kind = query.get("type")
    if kind == "app_session_token" and query.get("app_session_token"):
        return {"type": kind, "app_session_token": query["app_session_token"]}
    if kind == "anonymous" and (query.get("promotion_code") or query.get("jwt")):
        return {"type": kind, "promotion_code": query.get("promotion_code", ""), "jwt": query.get("jwt", "")}
    return None


class PendingStore:
    """Pending authorization requests in the key-value store, one use each."""

    def __init__(self, store: KVStore) -> None:
        self.store = store

    @staticmethod
    def valid_ref(x_ref: object) -> bool:
        return isinstance(x_ref, str) and bool(_X_REF.match(x_ref))

    def save(self, request: PendingRequest) -> str:
        x_ref = random_alnum(32)
        self.store.set(f"oauth_session:{x_ref}", request.to_json(), ttl=PENDING_TTL)
        return x_ref

    def update(self, x_ref: str, request: PendingRequest) -> None:
        """Rewrites a pending request (keeping its lifetime short: PENDING_TTL from now)."""
        if self.valid_ref(x_ref):
            self.store.set(f"oauth_session:{x_ref}", request.to_json(), ttl=PENDING_TTL)

    def load(self, x_ref: str) -> PendingRequest | None:
        if not self.valid_ref(x_ref):
            return None
        raw = self.store.get(f"oauth_session:{x_ref}")
        return PendingRequest.from_json(raw) if raw is not None else None

    def consume(self, x_ref: str) -> bool:
        """Marks the request used; False when it was used already (a concurrent or replayed consent)."""
        if not self.valid_ref(x_ref):
            return False
        first = self.store.set(f"oauth_session_used:{x_ref}", "1", ttl=PENDING_TTL, only_new=True)
        self.store.delete(f"oauth_session:{x_ref}")
        return first


def custom_ui_url(client: OAuthClient, request: PendingRequest, x_ref: str) -> str:
    """The client's own login UI with the query Authgear appends (contract 1.3)."""
    assert client.custom_ui_uri is not None
    params = {
        "x_ref": x_ref,
        "client_id": request.client_id,
        "redirect_uri": request.redirect_uri,
        "state": request.state,
        "ui_locales": request.ui_locales,
        "x_state": request.x_state,
        "x_color_scheme": request.x_color_scheme,
        # A custom UI cannot read the pending request before its first API call, so it gets the
        # hints in its own URL (Authgear does the same) to decide what to offer.
        "login_hint": request.login_hint,
        "id_token_hint": request.id_token_hint,
    }
    return add_query(client.custom_ui_uri, {k: v for k, v in params.items() if v})
