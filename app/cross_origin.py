"""Cross-origin protection by what the browser says about a request (Fetch Metadata, Origin): the
rules of Go's `http.CrossOriginProtection`, which Authgear's hosted pages apply instead of tokens.

`Sec-Fetch-Site` decides when present (`same-origin` and `none`, a typed URL or bookmark, are the
browser's own pages); otherwise an `Origin` whose host is the request's own is same-origin. A trusted
origin counts as same-origin. A request with neither header is no page of any site: a native app, a
server, or a browser too old to say, which the hosted pages then ask for their form token.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import Enum
from urllib.parse import urlsplit

from flask import request

from app.errors import Forbidden

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class Verdict(Enum):
    SAME_ORIGIN = "same-origin"
    CROSS_ORIGIN = "cross-origin"
    UNKNOWN = "unknown"  # neither header: not a browser page, or a browser that does not say


def verdict(trusted_origins: Collection[str]) -> Verdict:
    origin = request.headers.get("Origin")
    if origin is not None and origin in trusted_origins:
        return Verdict.SAME_ORIGIN
    site = request.headers.get("Sec-Fetch-Site")
    if site:
        return Verdict.SAME_ORIGIN if site in ("same-origin", "none") else Verdict.CROSS_ORIGIN
    if origin is None:
        return Verdict.UNKNOWN
    return Verdict.SAME_ORIGIN if urlsplit(origin).netloc == request.host else Verdict.CROSS_ORIGIN


def check_cross_origin(trusted_origins: Collection[str]) -> None:
    """For cookie-carrying JSON APIs: refuse an unsafe request that a page of another origin sent,
    unless that origin is trusted (`Forbidden/CrossOriginRequest`). A request with neither header
    passes: it carries no victim's cookies."""
    if request.method in SAFE_METHODS:
        return
    if verdict(trusted_origins) is Verdict.CROSS_ORIGIN:
        raise Forbidden("CrossOriginRequest", "cross-origin request from an origin not in http.allowed_origins")
