"""The token endpoint's rate limits, Authgear's (pkg/lib/oauth/handler/ratelimit.go, handler_token.go):
fixed rules, not in authgear.yaml, off only with `rate_limits.disabled` in authgear.features.yaml.

* every request: 120 per minute per IP (`OAuthTokenPerIP`, oauth.token.general.per_ip), before the
  client is looked at;
* a grant that issues or proves something for a user (code, refresh token, ID token, settings
  action, anonymous, biometric, app2app, token exchange): 60 per minute per user
  (`OAuthTokenPerUser`, oauth.token.general.per_user);
* client_credentials: 5 per minute per client and 20 per minute for the project
  (`OAuthTokenClientCredentialsPerClient`/`PerProject`), before the client secret is checked.

A refusal is an OAuth error, as Authgear answers it: 429 `x_rate_limited`. Unlike Authgear, a token
request goes on while Redis is down (the limits are then not counted, with a warning in the log): the
token endpoint needs nothing else of Redis, and apps keep their sessions through an outage.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import redis
from authlib.oauth2.rfc6749 import OAuth2Error

from app.errors import TooManyRequest

if TYPE_CHECKING:
    from app.oidc.provider import OIDCProvider

GENERAL = "oauth.token.general"
CLIENT_CREDENTIALS = "oauth.token.client_credentials"
PER_IP = {"enabled": True, "period": "1m", "burst": 120}
PER_USER = {"enabled": True, "period": "1m", "burst": 60}
PER_CLIENT = {"enabled": True, "period": "1m", "burst": 5}
PER_PROJECT = {"enabled": True, "period": "1m", "burst": 20}
log = logging.getLogger(__name__)


class RateLimitedError(OAuth2Error):
    """Authgear's `protocol.NewErrorStatusCode("x_rate_limited", ..., 429)`."""

    error = "x_rate_limited"
    status_code = 429

    def __init__(self) -> None:
        super().__init__(description="rate limit exceeded, please try again later.")


def _check(provider: OIDCProvider, group: str, bucket: str, scope: str, rule: dict[str, object]) -> None:
    try:
        provider.svc.rate_limiter.check(group, bucket, scope, rule)
    except TooManyRequest:
        raise RateLimitedError() from None
    except redis.RedisError as e:
        log.warning("token endpoint rate limit %s not counted: redis unavailable (%s)", bucket, type(e).__name__)


def per_ip(provider: OIDCProvider, ip: str) -> None:
    _check(provider, GENERAL, "OAuthTokenPerIP", ip, PER_IP)


def per_user(provider: OIDCProvider, user_id: str) -> None:
    _check(provider, GENERAL, "OAuthTokenPerUser", user_id, PER_USER)


def client_credentials(provider: OIDCProvider, client_id: str) -> None:
    _check(provider, CLIENT_CREDENTIALS, "OAuthTokenClientCredentialsPerClient", client_id, PER_CLIENT)
    _check(provider, CLIENT_CREDENTIALS, "OAuthTokenClientCredentialsPerProject", "", PER_PROJECT)
