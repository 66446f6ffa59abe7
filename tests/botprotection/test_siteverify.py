"""The providers' siteverify calls against the stand-in server: what is sent and how each answer is read."""

from __future__ import annotations

import time

import pytest

from app.botprotection.errors import BotProtectionVerificationFailed, BotProtectionVerificationServiceUnavailable
from app.botprotection.service import BotProtection
from app.errors import InternalError


def _service(standin, provider="cloudflare", secret=None, timeout=1.0):
    endpoint = standin.cloudflare_endpoint if provider == "cloudflare" else standin.recaptchav2_endpoint
    return BotProtection(
        provider_type=provider,
        site_key="site",
        secret_key=secret or standin.secret,
        endpoint=endpoint,
        script_url=standin.script_url(provider),
        timeout=timeout,
    )


@pytest.mark.parametrize("provider", ["cloudflare", "recaptchav2"])
def test_success_sends_the_form_fields_the_providers_read(standin, provider):
    _service(standin, provider).verify("pass", "203.0.113.7")
    [req] = standin.requests
    assert req["provider"] == provider
    assert req["content_type"] == "application/x-www-form-urlencoded"
    assert req["form"] == {"secret": standin.secret, "response": "pass", "remoteip": "203.0.113.7"}


def test_no_remote_ip_is_left_out(standin):
    _service(standin).verify("pass", "")
    assert "remoteip" not in standin.requests[0]["form"]


@pytest.mark.parametrize("provider", ["cloudflare", "recaptchav2"])
def test_failure_with_error_codes_is_verification_failed(standin, provider):
    with pytest.raises(BotProtectionVerificationFailed) as caught:
        _service(standin, provider).verify("not-a-human", "203.0.113.7")
    assert caught.value.error_codes == ["invalid-input-response"]
    assert caught.value.to_dict() == {
        "name": "Forbidden",
        "reason": "BotProtectionVerificationFailed",
        "message": "bot protection verification failed",
        "code": 403,
    }


def test_a_wrong_secret_is_verification_failed(standin):
    with pytest.raises(BotProtectionVerificationFailed) as caught:
        _service(standin, secret="wrong").verify("pass", "")
    assert caught.value.error_codes == ["invalid-input-secret"]


def test_turnstile_internal_error_is_service_unavailable(standin):
    with pytest.raises(BotProtectionVerificationServiceUnavailable) as caught:
        _service(standin).verify("service_unavailable", "")
    assert caught.value.to_dict()["code"] == 503
    assert caught.value.reason == "BotProtectionVerificationServiceUnavailable"


@pytest.mark.parametrize("provider", ["cloudflare", "recaptchav2"])
def test_timeout_is_service_unavailable_within_the_timeout(standin, provider):
    started = time.monotonic()
    with pytest.raises(BotProtectionVerificationServiceUnavailable) as caught:
        _service(standin, provider, timeout=0.3).verify("slow", "")
    assert time.monotonic() - started < 2.0
    assert caught.value.cause == "ReadTimeout"


def test_unreachable_provider_is_service_unavailable(standin):
    service = _service(standin)
    standin.stop()
    with pytest.raises(BotProtectionVerificationServiceUnavailable):
        service.verify("pass", "")


def test_an_answer_that_is_not_json_is_an_internal_error(standin):
    with pytest.raises(InternalError):
        _service(standin).verify("garbage", "")


def test_an_empty_token_fails_without_asking_the_provider(standin):
    with pytest.raises(BotProtectionVerificationFailed):
        _service(standin).verify("", "")
    assert standin.requests == []


def test_from_config_reads_the_endpoints_and_is_off_without_a_site_key(make_config, standin):
    on = {"bot_protection": {"enabled": True, "provider": {"type": "recaptchav2", "site_key": "k"}}}
    config = make_config(
        on,
        secrets={"bot_protection.provider": {"type": "recaptchav2", "secret_key": "s"}},
        bot_protection_recaptchav2_endpoint=standin.recaptchav2_endpoint,
    )
    service = BotProtection.from_config(config)
    assert (service.provider_type, service.site_key, service.secret_key) == ("recaptchav2", "k", "s")
    assert service.endpoint == standin.recaptchav2_endpoint
    assert service.script_url == "https://www.google.com/recaptcha/api.js?render=explicit"
    assert BotProtection.from_config(make_config({"bot_protection": {"enabled": False}})).enabled is False
    default = BotProtection.from_config(
        make_config({"bot_protection": {"enabled": True, "provider": {"type": "cloudflare", "site_key": "k"}}})
    )
    assert default.endpoint == "https://challenges.cloudflare.com/turnstile/v0/siteverify"
