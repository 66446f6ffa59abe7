"""The HTTP client of every outgoing provider request.

It honours Authgear's E2E_HTTP_PROXY (every request through that proxy) and E2E_TLS_CA_CERT_FILE (a CA
trusted besides the system's), both read by app/config.py, and otherwise the standard HTTP(S)_PROXY /
NO_PROXY variables. Every request has a timeout: a provider that does not answer becomes Authgear's
`OAuthError` (temporarily unavailable), never a hung worker or a 500.
"""

from __future__ import annotations

import ssl
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session
from requests.adapters import HTTPAdapter

from app.sso.errors import OAuthProtocolError, OAuthProviderUnavailable


class _CAAdapter(HTTPAdapter):
    """Trusts an extra CA on direct and proxied connections (requests has no such option itself)."""

    def __init__(self, ca_file: str) -> None:
        self._ctx = ssl.create_default_context()
        self._ctx.load_verify_locations(cafile=ca_file)
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["ssl_context"] = self._ctx
        return super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        kwargs["ssl_context"] = self._ctx
        return super().proxy_manager_for(proxy, **kwargs)


class HTTPClient:
    def __init__(self, proxy: str | None = None, ca_file: str | None = None, timeout: float = 10.0) -> None:
        self.proxy = proxy or None
        self.ca_file = ca_file or None
        self.timeout = timeout

    def _configure(self, session: requests.Session) -> requests.Session:
        if self.proxy:
            session.proxies = {"http": self.proxy, "https": self.proxy}
            session.trust_env = False  # the E2E proxy wins over HTTP(S)_PROXY and NO_PROXY
        if self.ca_file:
            adapter = _CAAdapter(self.ca_file)
            session.mount("https://", adapter)
        return session

    def session(self) -> requests.Session:
        return self._configure(requests.Session())

    def oauth2_session(self, **kwargs: Any) -> OAuth2Session:
        """authlib's OAuth 2.0 client on this transport (for the code exchange)."""
        return self._configure(OAuth2Session(**kwargs))  # type: ignore[return-value]

    def request(self, provider_type: str, method: str, url: str, **kwargs: Any) -> requests.Response:
        with self.session() as s:
            return guarded(provider_type, lambda: s.request(method, url, timeout=self.timeout, **kwargs))

    def get_json(self, provider_type: str, url: str, what: str, **kwargs: Any) -> Any:
        resp = self.request(provider_type, "GET", url, **kwargs)
        if resp.status_code != 200:
            raise OAuthProtocolError(f"failed to fetch {what}: unexpected status code: {resp.status_code}")
        return json_of(resp, what)


def guarded(provider_type: str, call: Any) -> Any:
    """Run a request; an unreachable or silent provider is an OAuthError the user may retry."""
    try:
        return call()
    except requests.Timeout:
        raise OAuthProviderUnavailable(provider_type, "oauth provider did not answer in time") from None
    except (requests.ConnectionError, requests.TooManyRedirects):
        raise OAuthProviderUnavailable(provider_type, "oauth provider cannot be reached") from None


def json_of(resp: requests.Response, what: str) -> Any:
    try:
        return resp.json()
    except ValueError:
        raise OAuthProtocolError(f"failed to parse {what}: not JSON") from None
