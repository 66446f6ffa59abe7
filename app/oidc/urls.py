"""Adding parameters to a client's URI without disturbing what it already carries (RFC 6749 3.1.2)."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit


def add_query(uri: str, params: dict[str, str]) -> str:
    """`uri` with `params` appended to its query; its own query parameters are kept."""
    parts = urlsplit(uri)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query and extra else (parts.query or extra)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def add_fragment(uri: str, params: dict[str, str]) -> str:
    """`uri` with `params` as its fragment (OAuth 2.0 Multiple Response Type Encoding, response_mode)."""
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, urlencode(params)))
