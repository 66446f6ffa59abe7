"""The resolver's hot path, in front of Flask: a `GET /_resolver/resolve` whose credential the
process has cached (app/resolver/cache.py) is answered from the cache after its one key-value round
trip, without a request context, routing, hooks or a Flask session; anything else (a credential not
cached yet or changed since, a request with a body or a Flask session cookie, an error) goes on to
the Flask view (app/resolver/routes.py), which answers exactly as before.

The answer is the view's, header for header: 200, no body, `Content-Type: text/html; charset=utf-8`,
the cached `X-Authgear-*` headers and the security headers every HTML response gets (passed in by
`create_app`, from the list its after-request hook applies). tests/resolver/test_fast_path.py
checks the two paths answer alike.

A store error on this path (Redis unreachable) is handed to the view in the WSGI environ and raised
there, so the app's error handlers answer it (503) and no wait on the store is made twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import redis
from werkzeug.http import parse_cookie

from app.resolver.cache import ResolutionCache

PATHS = frozenset({"/_resolver/resolve", "/resolve"})
STORE_ERROR_KEY = "gatehouse.resolver.store_error"
# The cookies the view tries, in its order, with their cache key kinds (routes._CACHE_KINDS).
_COOKIE_KINDS = (("app_session", "app_session"), ("app_access_token", "token"), ("idp_session", "session"))
_BASE = (("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "0"))


def bearer_token(header: str) -> str | None:
    """The token of an `Authorization: Bearer` header, as the view reads it."""
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


class CachedResolutions:
    def __init__(
        self,
        wsgi_app: Callable[..., Iterable[bytes]],
        cache: ResolutionCache,
        *,
        cookie_prefix: str,
        flask_session_cookie: str,
        response_headers: Iterable[tuple[str, str]],
    ) -> None:
        self.wsgi_app = wsgi_app
        self.cache = cache
        self.flask_session_cookie = flask_session_cookie
        self.cookies = {
            "app_session": cookie_prefix + "app_session",  # app.oidc.app_sessions.cookie_name
            "app_access_token": cookie_prefix + "app_access_token",
            "idp_session": cookie_prefix + "session",  # transport.session_cookie_name
        }
        self.response_headers = list(response_headers)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if (
            environ.get("PATH_INFO") in PATHS
            and environ.get("REQUEST_METHOD") in ("GET", "HEAD")
            and environ.get("CONTENT_LENGTH") in (None, "", "0")
        ):
            try:
                headers = self._cached(environ)
            except redis.RedisError as exc:
                environ[STORE_ERROR_KEY] = exc
                headers = None
            if headers is not None:
                start_response("200 OK", [*_BASE, *headers.items(), *self.response_headers])
                return []
        return self.wsgi_app(environ, start_response)

    def _cached(self, environ: dict[str, Any]) -> dict[str, str] | None:
        """The cached headers of the credential the view would try first, or None."""
        token = bearer_token(environ.get("HTTP_AUTHORIZATION", ""))
        raw_cookies = environ.get("HTTP_COOKIE")
        cookies = parse_cookie(raw_cookies) if raw_cookies else None
        if cookies and self.flask_session_cookie in cookies:
            return None  # the view's after-request hooks may have work to do with Flask's session
        kind = "token"
        if not token and cookies:
            for name, kind in _COOKIE_KINDS:  # noqa: B007 (the kind of the cookie found)
                token = cookies.get(self.cookies[name])
                if token:
                    break
        if not token:
            return None
        return self.cache.lookup(self.cache.key(kind, token))
