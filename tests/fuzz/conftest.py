"""The fuzz suite: property-based tests (hypothesis) that throw random and hostile input at every
public endpoint through Flask's test client and check that no answer is a 5xx and that each 4xx
of a JSON endpoint is in that endpoint's error shape.

Examples are derandomized (the same inputs on every run, so CI is reproducible) and bounded per
test, so the whole suite runs in well under a minute. To explore further locally, set
`GATEHOUSE_FUZZ_EXAMPLES=2000`: that many examples per test, randomized (hypothesis prints the
`@reproduce_failure` of anything it finds)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, settings

_MORE = int(os.environ.get("GATEHOUSE_FUZZ_EXAMPLES", "0"))


def fuzz_settings(max_examples: int) -> settings:
    return settings(
        max_examples=_MORE or max_examples,
        deadline=None,
        derandomize=not _MORE,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )


# Rate limits off (a fuzzer is one IP sending hundreds of requests; a 429 would end its coverage).
NO_RATE_LIMITS: dict[str, Any] = {
    "authentication": {
        "rate_limits": {
            "general": {"per_ip": {"enabled": False}, "per_user_per_ip": {"enabled": False}},
            "signup": {"per_ip": {"enabled": False}},
            "account_enumeration": {"per_ip": {"enabled": False}},
        }
    },
    "authentication_flow": {"rate_limits": {"per_ip": {"enabled": False}}},
}


@pytest.fixture
def fuzz_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(NO_RATE_LIMITS)


def assert_envelope(resp: Any) -> dict[str, Any] | None:
    """No 5xx; a 4xx carries `{"error": {name, reason, message, code}}` with code = status."""
    assert resp.status_code < 500, resp.get_data(as_text=True)[:2000]
    if resp.status_code < 400:
        return None
    body = resp.get_json(silent=True)
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), resp.get_data(as_text=True)[:2000]
    error = body["error"]
    assert {"name", "reason", "message", "code"} <= set(error), error
    assert error["code"] == resp.status_code, error
    assert all(isinstance(error[k], str) and error[k] for k in ("name", "reason", "message")), error
    return error
