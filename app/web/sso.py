"""Social and enterprise login on the hosted pages (Authgear's authflowv2 oauth action and
`/sso/oauth2/callback/<alias>`), thin over the flow engine's `identification: oauth` branch.

The round trip, as Authgear's pages make it:

1. The login or signup page posts `x_action=oauth` with `x_provider_alias`. The page sends the flow
   `{"identification": "oauth", "alias", "redirect_uri": <this server's callback>, "response_mode":
   "form_post"}`, keeps the waiting step, and issues a single-use `state` (app/sso/state.py: stored
   hashed, 20 minutes) naming this browser, the waiting step and the page to come back to on error.
2. `/sso/oauth2/leave` shows a page that moves on to the provider by itself: a form's redirect to
   another origin would be stopped by the pages' CSP `form-action 'self'`.
3. The provider sends the browser back to `/sso/oauth2/callback/<alias>`, by GET or, for
   `form_post` (Apple always), by a cross-site POST. A POST carries no SameSite=Lax cookie, so the
   posted answer is kept server-side for five minutes under a one-time key and the browser is sent
   on (303) to the same URL by GET, a top-level navigation that does carry the cookie. The GET takes
   the state once and requires it to name the same alias and this very browser (Authgear trusts the
   state alone; Gatehouse also refuses a state issued to another browser, so a callback planted in a
   victim's browser cannot sign it in to the attacker's account).
4. The answer goes to the waiting flow as `{"query": ...}`; the flow moves on like any page's input,
   or the error (a cancel is the provider's `access_denied`) is shown on the page the user left.

`x_oauth_provider_alias` on /oauth2/authorize makes the login or signup page start step 1 by itself
once (Authgear's `OAuthProviderAlias` of the web session); after an error the page stays.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

from flask import Response, redirect, request, session
from flask_babel import gettext
from werkzeug.wrappers import Response as BaseResponse

from app.crypto import random_alnum, sha256_hex
from app.errors import AppError
from app.extensions import csrf
from app.services import services
from app.sso.errors import OAuthProviderNotFound, OAuthStateInvalid
from app.web import views
from app.web.blueprint import BROWSER_KEY, bp, engine, pending_request, web_flow_context, web_steps
from app.web.pages import options_of
from app.web.steps import WebStep

RESUME_TTL_SECONDS = 300
_RESUME_PREFIX = "web:sso:resume:"
OAUTH_PAGES = ("login", "signup", "reauth")

# How the pages name each provider type (Authgear's v2.component.oauth-branding.<type>.label);
# the generic `oidc` type is named by its alias.
PROVIDER_NAMES = {
    "google": "Google",
    "apple": "Apple",
    "facebook": "Facebook",
    "github": "GitHub",
    "linkedin": "LinkedIn",
    "azureadv2": "Microsoft",
    "azureadb2c": "Azure AD B2C",
    "adfs": "AD FS",
    "wechat": "WeChat",
}
# The small mark beside each name (static/web/brands/).
BRAND_ICONS = {
    "google": "google",
    "apple": "apple",
    "facebook": "facebook",
    "github": "github",
    "linkedin": "linkedin",
    "azureadv2": "microsoft",
    "azureadb2c": "microsoft",
    "adfs": "microsoft",
    "wechat": "wechat",
}


def provider_name(provider_type: str, alias: str = "") -> str:
    name = PROVIDER_NAMES.get(provider_type)
    if name:
        return name
    return alias[:1].upper() + alias[1:] if alias else provider_type


def oauth_buttons(options: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The identify action's oauth options as the provider buttons of the page (WeChat needs its own
    QR page and app, which the pages do not have: not offered)."""
    out = []
    for o in options:
        if o.get("identification") != "oauth" or o.get("provider_type") == "wechat":
            continue
        alias = str(o.get("alias", ""))
        kind = str(o.get("provider_type", ""))
        out.append(
            {
                "alias": alias,
                "type": kind,
                "name": provider_name(kind, alias),
                "icon": f"web/brands/{BRAND_ICONS.get(kind, 'oidc')}.svg",
                "status": str(o.get("provider_status", "")),
            }
        )
    return out


@bp.app_context_processor
def _sso_helpers() -> dict[str, Any]:
    return {"oauth_buttons": oauth_buttons, "oauth_provider_name": provider_name}


# -- 1. the page's oauth action ------------------------------------------------------------------------
def wants_oauth(page: str) -> bool:
    return page == "account_linking" or (page in OAUTH_PAGES and request.form.get("x_action") == "oauth")


def begin(page: str, x_step: str, step: WebStep, action: dict[str, Any], alias: str) -> Response:
    """Send the chosen provider to the flow and the browser on towards the provider."""
    from app.web.flow_pages import fail  # flow_pages imports this module

    if page == "account_linking":
        return link_choice(x_step, step, action)
    option = next(
        (o for o in oauth_buttons(options_of(action)) if o["alias"] == alias),
        None,
    )
    if option is None:
        return fail(page, x_step, step, OAuthProviderNotFound(), {}, "oauth", False)
    inp = {
        "identification": "oauth",
        "alias": alias,
        "redirect_uri": services().sso.callback_url(alias),
        "response_mode": "form_post",
    }
    demo = option["status"] == "using_demo_credentials"
    return _to_provider(page, x_step, step, inp, alias, option["name"], demo)


def link_choice(x_step: str, step: WebStep, action: dict[str, Any]) -> Response:
    """The account_linking page's choice (`x_index`): a login ID goes on to its authentication, an
    OAuth account to its provider."""
    from app.web.flow_pages import advance, fail

    options = options_of(action)
    raw = request.form.get("x_index", "")
    index = int(raw) if raw.isdigit() and int(raw) < len(options) else None
    if index is None:
        return fail("account_linking", x_step, step, OAuthProviderNotFound(), {}, "oauth", False)
    option = options[index]
    if option.get("identification") == "oauth":
        alias = str(option.get("alias", ""))
        inp = {"index": index, "redirect_uri": services().sso.callback_url(alias), "response_mode": "form_post"}
        name = provider_name(str(option.get("provider_type", "")), alias)
        return _to_provider("account_linking", x_step, step, inp, alias, name)
    try:
        new = engine().input(step.state_token, {"index": index}, web_flow_context())
    except AppError as exc:
        return fail("account_linking", x_step, step, exc, {}, "oauth", False)
    return advance(new, step, "account_linking")


def _to_provider(
    page: str, x_step: str, step: WebStep, inp: dict[str, Any], alias: str, name: str, demo: bool = False
) -> Response:
    from app.web.flow_pages import fail

    svc = services()
    try:
        new = engine().input(step.state_token, inp, web_flow_context())
    except AppError as exc:  # OAuthProviderMissingCredentials among them: said on the page
        return fail(page, x_step, step, exc, {}, "oauth", False)
    url = str(((new.action.get("data") or {}).get("oauth_authorization_url")) or "")
    store = web_steps()
    waiting = WebStep(state_token=new.state_token, flow_type=step.flow_type, query=step.query, extra=dict(step.extra))
    x_waiting = store.save(waiting)
    state = svc.oauth_states.generate(
        {"browser_id": store.browser_id, "x_step": x_waiting, "error_x_step": x_step, "page": page, "alias": alias}
    )
    waiting.extra.update(oauth_url=_with_state(url, state), oauth_provider=name, oauth_page=page)
    waiting.extra["oauth_back"] = x_step
    store.put(x_waiting, waiting)
    if demo:  # Authgear's confirmation before a provider on demo credentials
        return redirect(f"{DEMO_PAGE}?{urlencode({'x_step': x_waiting})}", 303)
    return redirect(f"/sso/oauth2/leave?{urlencode({'x_step': x_waiting})}", 303)


def _with_state(url: str, state: str) -> str:
    parts = urlsplit(url)
    pairs = [(k, v) for k, vs in parse_qs(parts.query, keep_blank_values=True).items() for v in vs if k != "state"]
    pairs.append(("state", state))
    return urlunsplit(parts._replace(query=urlencode(pairs)))


def _back(page: str, x_step: str) -> str:
    from app.web.flow_pages import page_url

    return page_url(page, x_step)


def auto_start(page: str, x_step: str, step: WebStep, action: dict[str, Any]) -> Response | None:
    """`x_oauth_provider_alias` of the authorization request: go to that provider at once, the first
    time the page shows (never again after an error or a back)."""
    if page not in ("login", "signup") or step.extra.get("oauth_auto") or action.get("type") != "identify":
        return None
    pending = pending_request()
    alias = getattr(pending, "x_oauth_provider_alias", None)
    if not alias or getattr(pending, "x_settings_action", None):  # link_oauth names the provider to link
        return None
    step.extra = {**step.extra, "oauth_auto": True}
    web_steps().put(x_step, step)
    return begin(page, x_step, step, action, str(alias))


# -- 2. on to the provider ------------------------------------------------------------------------------
DEMO_PAGE = "/authflow/v2/oauth_provider_demo_credential"


@bp.route(DEMO_PAGE, methods=["GET", "POST"])
def sso_demo_credential() -> BaseResponse:
    """Authgear's oauth_provider_demo_credential page: a provider on the demo credentials
    (`credentials_behavior: use_demo_credentials`) is for testing only; continue, or return to the
    page the user came from."""
    x_step = request.args.get("x_step")
    step = web_steps().load(x_step)
    if step is None or x_step is None or not step.extra.get("oauth_url"):
        return views.expired_page("login", step)
    if request.method == "POST":
        return redirect(f"/sso/oauth2/leave?{urlencode({'x_step': x_step})}", 303)
    back = str(step.extra.get("oauth_back") or "")
    page = str(step.extra.get("oauth_page") or "login")
    return views.render_simple(
        "oauth_provider_demo_credential",
        step=step,
        provider=step.extra.get("oauth_provider"),
        return_url=_back(page, back) if back else "/login",
    )


@bp.route("/sso/oauth2/leave")
def sso_leave() -> BaseResponse:
    x_step = request.args.get("x_step")
    store = web_steps()
    step = store.load(x_step)
    if step is None or x_step is None or not step.extra.get("oauth_url"):
        return views.expired_page("login", step)
    if step.extra.get("oauth_left"):
        # Back from the provider without an answer: the page the user came from, as it was.
        back = str(step.extra.get("oauth_back") or "")
        page = str(step.extra.get("oauth_page") or "login")
        return redirect(_back(page, back) if back else "/login", 302)
    step.extra = {**step.extra, "oauth_left": True}
    store.put(x_step, step)
    return views.render_simple(
        "oauth_provider_redirect", step=step, target=step.extra["oauth_url"], provider=step.extra.get("oauth_provider")
    )


# -- 3. the provider's answer ---------------------------------------------------------------------------
@bp.route("/sso/oauth2/callback/<alias>", methods=["GET", "POST"])
@csrf.exempt
def sso_callback(alias: str) -> BaseResponse:
    svc = services()
    if request.method == "POST":
        # Apple's and every form_post answer: a cross-site POST without this browser's cookies.
        key = random_alnum(32)
        body = urlencode(list(request.form.items(multi=True)))
        svc.store.set(_RESUME_PREFIX + sha256_hex(key), body, ttl=RESUME_TTL_SECONDS)
        return redirect(f"/sso/oauth2/callback/{quote(alias, safe='')}?{urlencode({'x_resume': key})}", 303)
    query = request.query_string.decode("latin-1")
    resume = request.args.get("x_resume")
    if resume is not None:
        stored_key = _RESUME_PREFIX + sha256_hex(resume[:100])
        stored = svc.store.get(stored_key)
        svc.store.delete(stored_key)
        if stored is None:
            return _invalid_state()
        query = stored.decode() if isinstance(stored, bytes) else str(stored)
    tokens = parse_qs(query).get("state") or [""]
    try:
        state = svc.oauth_states.pop(tokens[0])
    except OAuthStateInvalid:
        return _invalid_state()
    if state.get("alias") != alias or session.get(BROWSER_KEY) != state.get("browser_id"):
        return _invalid_state()
    if state.get("purpose") == "settings_link":  # a provider linked in the settings
        from app.web.settings.routes_oauth import finish as finish_settings_link

        return finish_settings_link(state, query)
    return finish(state, query)


def _invalid_state() -> Response:
    return views.error_page(OAuthStateInvalid().to_dict(), "sso_callback", status=400)


def finish(state: dict[str, Any], query: str) -> Response:
    from app.web.flow_pages import advance, fail

    store = web_steps()
    page = str(state.get("page") or "login")
    x_back = str(state.get("error_x_step") or "")
    back = store.load(x_back)
    waiting = store.load(state.get("x_step"))
    if waiting is None or back is None:
        return views.expired_page(page, back or waiting)
    try:
        result = engine().input(waiting.state_token, {"query": query}, web_flow_context())
    except AppError as exc:
        exc.info = {**exc.info, "x_provider_alias": state.get("alias")}  # for the page's sentence only
        return fail(page, x_back, back, exc, {}, "oauth", False)
    return advance(result, waiting, page)


# -- what the pages say about these errors -------------------------------------------------------------
def oauth_error_text(error: dict[str, Any]) -> str | None:
    """The sentence for an OAuth error on a page, or None when it is no OAuth error."""
    reason = str(error.get("reason", ""))
    info = error.get("info") or {}
    provider = provider_name(
        str(info.get("provider_type") or info.get("OAuthProviderTypeIncoming") or ""),
        str(info.get("x_provider_alias") or ""),
    )
    if reason == "OAuthError":
        if info.get("error") == "access_denied":
            return gettext("You cancelled signing in with %(provider)s.", provider=provider)
        return gettext("%(provider)s could not sign you in. Please try again.", provider=provider)
    if reason in ("OAuthProtocolError", "InvalidConfiguration"):
        return gettext("%(provider)s could not sign you in. Please try again.", provider=provider)
    if reason in ("OAuthProviderNotFound", "OAuthProviderMissingCredentials"):
        return gettext("This way of signing in is not available.")
    if reason == "StandardAttributesEmailRequired":
        return gettext("%(provider)s could not sign you in. Please try again.", provider=provider)
    if reason == "Invalid" and error.get("message") == "invalid state":
        return gettext("This sign-in link is invalid or has already been used. Please start again.")
    if reason == "UserNotFound" and info.get("IdentityTypeIncoming") == "oauth":
        return gettext("No account here is linked to this %(provider)s account.", provider=provider)
    if reason == "InvariantViolated" and info.get("IdentityTypeIncoming") == "oauth":
        if (info.get("cause") or {}).get("kind") == "DuplicatedIdentity":
            return gettext(
                "An account with the same email already exists. Sign in to it another way first, then link %(provider)s.",  # noqa: E501
                provider=provider,
            )
    return None
