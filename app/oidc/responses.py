"""Authorization responses in the client's response mode (OAuth 2.0 Multiple Response Type Encoding
Practices, OAuth 2.0 Form Post Response Mode) and the error page for requests that cannot redirect."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Response, redirect, render_template

from app.oidc.authz_request import AuthorizeError
from app.oidc.urls import add_fragment, add_query


def form_page_csp(target_uri: str | None) -> str:
    """CSP of a page whose form posts here and is answered with a redirect to `target_uri`:
    browsers apply `form-action` to that redirect as well, so the target's origin is allowed."""
    extra = ""
    if target_uri:
        parts = urlsplit(target_uri)
        extra = f" {parts.scheme}://{parts.netloc}" if parts.netloc else f" {parts.scheme}:"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"frame-ancestors 'none'; base-uri 'none'; form-action 'self'{extra}"
    )


def _no_store(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Pragma"] = "no-cache"
    return resp


def authorization_response(redirect_uri: str, response_mode: str, params: dict[str, str]) -> Response:
    if response_mode == "form_post":
        nonce = secrets.token_urlsafe(16)
        parts = urlsplit(redirect_uri)
        resp = Response(
            render_template("oidc/form_post.html", action=redirect_uri, params=params, nonce=nonce),
            mimetype="text/html",
        )
        # The page posts to the client, so `form-action` names the client's origin; its one script
        # (the auto-submit) runs by nonce.
        resp.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; form-action {parts.scheme}://{parts.netloc}; "
            "frame-ancestors 'none'; base-uri 'none'"
        )
        return _no_store(resp)
    if response_mode == "fragment":
        return _no_store(redirect(add_fragment(redirect_uri, params), 302))
    return _no_store(redirect(add_query(redirect_uri, params), 302))


def error_response(error: AuthorizeError) -> Response:
    """To the client when its redirect URI is known good; otherwise an error page (RFC 6749 4.1.2.1)."""
    if error.redirect_uri is None:
        resp = Response(
            render_template("oidc/error.html", error=error.error, description=error.description),
            status=400,
            mimetype="text/html",
        )
        return _no_store(resp)
    params = {"error": error.error, "error_description": error.description}
    if error.state:
        params["state"] = error.state
    return authorization_response(error.redirect_uri, error.response_mode, params)
