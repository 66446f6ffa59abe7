"""The hosted pages' blueprint and what every page shares: the engine, the browser's steps, the
caller as the engine sees it, cookies for language and colour scheme, and the page chrome."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlencode

from babel import Locale, UnknownLocaleError
from flask import Blueprint, Response, current_app, g, request, session, url_for

from app.flows.engine import FlowEngine
from app.flows.run import FlowContext
from app.i18n import LOCALE_COOKIE, babel_locale_name, current_language, text_direction
from app.services import services
from app.transport import flow_context
from app.web.steps import WebSteps, new_browser_id, valid_browser_id
from app.web.theme import COLOR_SCHEME_COOKIE, SCHEMES, Theme, color_scheme, theme_of

bp = Blueprint("web", __name__)

BROWSER_KEY = "wb"  # the browser ID inside the signed `web_session` cookie
HTML_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:{extra}; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def engine() -> FlowEngine:
    return current_app.extensions["gatehouse.flows"]


def web_steps() -> WebSteps:
    browser_id = session.get(BROWSER_KEY)
    if not valid_browser_id(browser_id):
        browser_id = new_browser_id()
        session[BROWSER_KEY] = browser_id
    return WebSteps(services().store, browser_id)


def web_flow_context() -> FlowContext:
    """The engine's context, speaking the page's language (codes are mailed in it)."""
    ctx = flow_context()
    return dataclasses.replace(ctx, request=dataclasses.replace(ctx.request, locale=current_language()))


def theme() -> Theme:
    cached = g.get("_gatehouse_theme")
    if cached is None:
        cached = theme_of(services().config.project)
        g._gatehouse_theme = cached
    return cached


def pending_request() -> Any:
    """The pending authorization request named by `x_ref`, if the OIDC provider knows it."""
    if "_gatehouse_pending" in g:
        return g._gatehouse_pending
    pending = None
    x_ref = request.args.get("x_ref")
    if x_ref and "gatehouse_oidc" in current_app.extensions:
        from app.oidc.provider import oidc_provider  # the provider is optional for the pages

        pending = oidc_provider().pending.load(x_ref)
    g._gatehouse_pending = pending
    return pending


def current_scheme() -> str | None:
    prefix = services().config.cookie_prefix
    pending = pending_request()
    return color_scheme(
        theme(),
        request.args.get("x_color_scheme"),
        request.cookies.get(prefix + COLOR_SCHEME_COOKIE),
        getattr(pending, "x_color_scheme", None),
    )


@bp.before_request
def _hints() -> None:
    """`ui_locales` of a pending authorization request counts like the page's own query."""
    if request.args.get("x_ref"):
        pending = pending_request()
        if pending is not None and getattr(pending, "ui_locales", None):
            g.ui_locales_hint = pending.ui_locales


@bp.after_request
def _page_headers(resp: Response) -> Response:
    cfg = services().config
    prefix = cfg.cookie_prefix
    # A language or scheme asked for in the query (or by the authorization request) holds for
    # the rest of the browser session's pages, whose URLs carry only `x_step`.
    asked = request.args.get("ui_locales") or g.get("ui_locales_hint")
    if asked and len(asked) <= 100:
        resp.set_cookie(
            prefix + LOCALE_COOKIE, current_language(), secure=cfg.secure_cookies, httponly=True, samesite="Lax"
        )
    scheme = request.args.get("x_color_scheme")
    if scheme in (*SCHEMES, "auto"):
        if scheme == "auto":
            resp.delete_cookie(prefix + COLOR_SCHEME_COOKIE, secure=cfg.secure_cookies, httponly=True, samesite="Lax")
        else:
            resp.set_cookie(
                prefix + COLOR_SCHEME_COOKIE, scheme, secure=cfg.secure_cookies, httponly=True, samesite="Lax"
            )
    if resp.mimetype == "text/html":
        resp.headers.setdefault("Cache-Control", "no-store")
        origin = theme().logo_origin
        if origin:
            resp.headers["Content-Security-Policy"] = HTML_CSP.format(extra=" " + origin)
    return resp


def url_with(**changes: str | None) -> str:
    """This page's URL with some query parameters changed (None removes one)."""
    args = {k: v for k, v in request.args.items() if len(k) <= 50}
    for k, v in changes.items():
        if v is None:
            args.pop(k, None)
        else:
            args[k] = v
    query = urlencode(args)
    return request.path + ("?" + query if query else "")


# Each language's name for itself, as people pick it from a list; others come from Babel (CLDR).
NATIVE_NAMES = {
    "en": "English",
    "zh-HK": "繁體中文（香港）",
    "zh-TW": "繁體中文（台灣）",
    "zh-CN": "简体中文",
    "ja": "日本語",
    "ko": "한국어",
    "es": "Español",
    "es-ES": "Español (España)",
    "es-419": "Español (Latinoamérica)",
    "fr": "Français",
    "de": "Deutsch",
    "pt": "Português",
    "pt-BR": "Português (Brasil)",
    "pt-PT": "Português (Portugal)",
    "it": "Italiano",
    "id": "Bahasa Indonesia",
    "th": "ไทย",
    "vi": "Tiếng Việt",
    "nl": "Nederlands",
    "pl": "Polski",
    "ms": "Bahasa Melayu",
    "fil": "Filipino",
    "el": "Ελληνικά",
    "ar": "العربية",
    "he": "עברית",
}


def _language_name(tag: str) -> str:
    if tag in NATIVE_NAMES:
        return NATIVE_NAMES[tag]
    try:
        locale = Locale.parse(babel_locale_name(tag))
        return (locale.get_display_name(locale) or tag).strip()
    except (UnknownLocaleError, ValueError):
        return tag


@bp.app_context_processor
def _chrome() -> dict[str, Any]:
    """What the page chrome (templates/web/base.html) needs, for every HTML page of the app."""
    if "gatehouse" not in current_app.extensions:
        return {}
    localization = services().config.project["localization"]
    languages = [
        {"tag": tag, "name": _language_name(tag), "url": url_with(ui_locales=tag), "dir": text_direction(tag)}
        for tag in localization["supported_languages"]
    ]
    return {
        "theme": theme(),
        "html_lang": current_language(),
        "html_dir": text_direction(current_language()),  # `rtl` for Arabic and Hebrew
        "color_scheme": current_scheme(),
        "languages": languages if len(languages) > 1 else [],
        "scheme_links": [{"value": v, "url": url_with(x_color_scheme=v)} for v in ("auto", "light", "dark")]
        if not theme().forced_scheme
        else [],
        "theme_css_url": url_for("web.theme_css", v=theme().version),
        "error_message": _error_message,
    }


def _error_message(error: Any) -> str:
    """The translated sentence for an `AppError` on the app's error page (templates/error.html)."""
    from app.web.messages import error_text

    to_dict = getattr(error, "to_dict", None)
    return error_text(to_dict() if callable(to_dict) else {}, "error")
