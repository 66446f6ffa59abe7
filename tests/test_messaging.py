"""Messaging: localized templates, email over a real SMTP server, the outbox, the SMS webhook."""

from __future__ import annotations

import logging
import stat
import threading
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from app.config import AppConfig, ConfigError, deep_merge, validate_project
from app.errors import ServiceUnavailable
from app.messaging.service import MessageSender, mask_address
from app.messaging.templates import MessageRenderer, normalize_locale
from tests.factories import TEST_PROJECT
from tests.smtp_server import _free_port

PARAMS = {"code": "493817", "app_name": "Gatehouse Demo", "expires_in_minutes": 5}


def make_config(secrets: dict[str, Any] | None = None, config_dir: Path | None = None, **overrides: Any) -> AppConfig:
    project, _ = validate_project(deep_merge(TEST_PROJECT, overrides))
    return AppConfig(project=project, secrets=secrets or {}, config_dir=config_dir, testing=True)


@pytest.fixture
def translations(tmp_path: Path) -> Path:
    """A French catalog for two of the templates, compiled the way `pybabel compile` would."""
    catalog = Catalog(locale="fr", domain="messages")
    catalog.add("%(app_name)s: your login code", "%(app_name)s : votre code de connexion")
    catalog.add("Your %(app_name)s login code is:", "Votre code de connexion %(app_name)s :")
    catalog.add(
        ("The code expires in %(count)s minute.", "The code expires in %(count)s minutes."),
        # CLDR gives French three plural forms (one, many, other).
        ("Le code expire dans %(count)s minute.", *["Le code expire dans %(count)s minutes."] * 2),
    )
    catalog.add("%(code)s is your %(app_name)s login code.", "%(code)s est votre code de connexion %(app_name)s.")
    directory = tmp_path / "translations" / "fr" / "LC_MESSAGES"
    directory.mkdir(parents=True)
    with open(directory / "messages.mo", "wb") as f:
        write_mo(f, catalog)
    return tmp_path / "translations"


@pytest.mark.embedded
def test_renderer_uses_the_catalog_of_the_locale_and_falls_back_to_english(translations):
    renderer = MessageRenderer(translations_dir=translations)
    fr = renderer.render_email("otp_login", PARAMS, "fr-CA")
    assert fr.locale == "fr"
    assert fr.subject == "Gatehouse Demo : votre code de connexion"
    assert "Votre code de connexion Gatehouse Demo :" in fr.text
    assert "Le code expire dans 5 minutes." in fr.text
    assert '<html lang="fr" dir="ltr">' in fr.html and "Le code expire dans 5 minutes." in fr.html
    # A message without a translation stays in the English source text.
    assert "If you did not try to log in" in fr.text
    assert renderer.render_sms("otp_login", PARAMS, "fr") == "493817 est votre code de connexion Gatehouse Demo."

    de = renderer.render_email("otp_login", PARAMS, "de")
    assert (de.locale, de.subject) == ("en", "Gatehouse Demo: your login code")
    assert "The code expires in 5 minutes." in de.text
    one = renderer.render_email("otp_login", {**PARAMS, "expires_in_minutes": 1}, "en")
    assert "The code expires in 1 minute." in one.text
    assert (
        "Le code expire dans 1 minute."
        in renderer.render_email("otp_login", {**PARAMS, "expires_in_minutes": 1}, "fr").text
    )


@pytest.mark.embedded
def test_renderer_falls_back_to_the_configured_fallback_language(translations):
    renderer = MessageRenderer(translations_dir=translations, fallback_language="fr")
    assert renderer.render_email("otp_login", PARAMS, "de").subject == "Gatehouse Demo : votre code de connexion"


@pytest.mark.embedded
@pytest.mark.parametrize("template", ["otp_verification", "otp_login", "account_recovery"])
def test_every_template_renders_code_and_link_with_html_escaped(template):
    params = {**PARAMS, "app_name": '<script>alert("x")</script>', "link": "https://a.example/v?c=1&d=2"}
    email = MessageRenderer().render_email(template, params, "en")
    assert "493817" in email.text and "493817" in email.html
    assert "https://a.example/v?c=1&d=2" in email.text
    assert 'href="https://a.example/v?c=1&amp;d=2"' in email.html
    assert "<script>" not in email.html and "&lt;script&gt;" in email.html
    assert "\n" not in email.subject
    sms = MessageRenderer().render_sms(template, PARAMS, "en")
    assert "493817" in sms and len(sms) <= 160


@pytest.mark.embedded
@pytest.mark.parametrize("locale", ["../../etc", "fr/../../x", "a" * 100, "", None, "fr\n", "fr_FR.UTF-8", "fr@euro"])
def test_hostile_locales_fall_back_without_touching_the_filesystem(locale, translations):
    assert normalize_locale(locale) is None
    assert MessageRenderer(translations_dir=translations).catalog_locale(locale) == "en"


@pytest.mark.embedded
def test_unknown_template_is_a_programming_error():
    with pytest.raises(ValueError):
        MessageRenderer().render_email("welcome", PARAMS, "en")


@pytest.mark.embedded
def test_locale_is_matched_against_supported_languages():
    sender = MessageSender(
        make_config(localization={"fallback_language": "en", "supported_languages": ["en", "fr", "zh-HK"]})
    )
    assert sender.resolve_locale("fr-CA") == "fr"
    assert sender.resolve_locale("zh-HK") == "zh-HK"
    assert sender.resolve_locale("zh_hk") == "zh-HK"
    assert sender.resolve_locale("de") == "en"
    assert sender.resolve_locale("../fr") == "en"


@pytest.mark.embedded
def test_email_arrives_over_smtp_with_subject_bodies_and_sender(smtp_server, translations, caplog):
    caplog.set_level(logging.DEBUG)
    config = make_config(
        smtp_server.secret, localization={"fallback_language": "en", "supported_languages": ["en", "fr"]}
    )
    sender = MessageSender(config, renderer=MessageRenderer(translations_dir=translations))
    sender.send_email("Alice@Example.com", "otp_login", PARAMS, "fr-FR")
    msg = smtp_server.wait_for("alice@example.com")
    assert msg["Subject"] == "Gatehouse Demo : votre code de connexion"
    assert msg["From"] == "no-reply@localhost"
    assert msg["To"] == "Alice@Example.com"
    assert msg["Content-Language"] == "fr"
    assert msg["Message-ID"].endswith("@localhost>")
    assert msg.get_body(("plain",)).get_content().startswith("Votre code de connexion Gatehouse Demo :")
    assert '<html lang="fr" dir="ltr">' in msg.get_body(("html",)).get_content()
    assert smtp_server.last_code("alice@example.com") == "493817"

    sender.send_email("bob@example.com", "account_recovery", {**PARAMS, "code": "111222"}, "de")
    msg = smtp_server.wait_for("bob@example.com")
    assert msg["Subject"] == "Gatehouse Demo: reset your password"
    assert smtp_server.last_code("bob@example.com") == "111222"
    assert "493817" not in caplog.text and "111222" not in caplog.text
    assert "A****@Example.com" in caplog.text


@pytest.mark.embedded
def test_configured_sender_address(smtp_server):
    config = make_config(smtp_server.secret, messaging={"email": {"sender": "Acme Login <login@acme.example>"}})
    MessageSender(config).send_email("carol@example.com", "otp_verification", PARAMS, "en")
    assert smtp_server.wait_for("carol@example.com")["From"] == "Acme Login <login@acme.example>"


@pytest.mark.embedded
def test_smtp_login_with_username_and_password():
    seen: list[tuple[str, str]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        seen.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"s3cret")

    received = threading.Event()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            received.set()
            return "250 OK"

    port = _free_port()
    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
    )
    controller.start()
    try:
        secret = {"host": "127.0.0.1", "port": port, "mode": "normal", "username": "mailer", "password": "s3cret"}
        MessageSender(make_config({"mail.smtp": secret})).send_email("d@example.com", "otp_login", PARAMS, "en")
        assert received.wait(5)
        assert seen == [("mailer", "s3cret")]
    finally:
        controller.stop()


@pytest.mark.embedded
def test_smtp_username_is_not_sent_to_a_server_without_auth():
    """A relay that offers no AUTH takes the mail; the configured username is simply not used,
    as Authgear's mail library does (RFC 4954: AUTH only when advertised)."""
    received: list[str] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            received.extend(envelope.rcpt_tos)
            return "250 OK"

    port = _free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        secret = {"host": "127.0.0.1", "port": port, "mode": "normal", "username": "mailer", "password": "s3cret"}
        MessageSender(make_config({"mail.smtp": secret})).send_email("f@example.com", "otp_login", PARAMS, "en")
        assert received == ["f@example.com"]
    finally:
        controller.stop()


@pytest.mark.embedded
def test_unreachable_smtp_is_service_unavailable_and_logs_no_code(caplog):
    caplog.set_level(logging.DEBUG)
    sender = MessageSender(make_config({"mail.smtp": {"host": "127.0.0.1", "port": _free_port(), "mode": "normal"}}))
    with pytest.raises(ServiceUnavailable) as exc:
        sender.send_email("e@example.com", "otp_login", PARAMS, "en")
    assert (exc.value.status, exc.value.reason) == (503, "MessageDeliveryFailed")
    assert "493817" not in caplog.text and "not delivered" in caplog.text


@pytest.mark.embedded
@pytest.mark.parametrize(
    "secret",
    [{}, {"host": "smtp.example.com", "mode": "tls"}, {"host": "smtp.example.com", "port": "x"}],
)
def test_broken_smtp_secret_stops_start(secret):
    with pytest.raises(ConfigError, match="mail.smtp"):
        MessageSender(make_config({"mail.smtp": secret}))


@pytest.mark.embedded
@pytest.mark.parametrize("to", ["a@example.com\r\nBcc: x@evil.example", "", "a" * 400 + "@example.com"])
def test_hostile_recipients_are_refused(to, tmp_path):
    sender = MessageSender(make_config(config_dir=tmp_path))
    with pytest.raises(ValueError):
        sender.send_email(to, "otp_login", PARAMS, "en")
    with pytest.raises(ValueError):
        sender.send_sms(to, "otp_login", PARAMS, "en")
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").iterdir())


@pytest.mark.embedded
def test_without_smtp_email_goes_to_the_outbox_and_the_log_has_no_code(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    sender = MessageSender(make_config(config_dir=tmp_path))
    sender.send_email("frank@example.com", "otp_verification", PARAMS, "en")
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "outbox").stat().st_mode) == 0o700
    msg = message_from_bytes(files[0].read_bytes(), policy=default_policy)
    assert msg["To"] == "frank@example.com"
    assert msg["Subject"] == "Gatehouse Demo: your verification code"
    assert "493817" in msg.get_body(("plain",)).get_content()
    assert "493817" not in caplog.text
    assert str(files[0]) in caplog.text


@pytest.mark.embedded
def test_without_config_dir_the_outbox_is_a_private_temp_dir(caplog):
    caplog.set_level(logging.INFO)
    sender = MessageSender(make_config())
    sender.send_sms("+85298765432", "otp_login", PARAMS, "en")
    files = list(sender.outbox.directory.glob("*.txt"))
    assert len(files) == 1 and "493817 is your Gatehouse Demo login code." in files[0].read_text()
    assert "+8529876****" in caplog.text and "493817" not in caplog.text


def test_sms_goes_to_the_webhook(sms_webhook, translations, caplog):
    caplog.set_level(logging.DEBUG)
    config = make_config(
        sms_webhook.secret, localization={"fallback_language": "en", "supported_languages": ["en", "fr"]}
    )
    sender = MessageSender(config, renderer=MessageRenderer(translations_dir=translations))
    sender.send_sms("+85298765432", "otp_login", PARAMS, "fr")
    assert sms_webhook.wait_for("+85298765432") == {
        "to": "+85298765432",
        "body": "493817 est votre code de connexion Gatehouse Demo.",
        "template": "otp_login",
        "locale": "fr",
    }
    assert sms_webhook.headers[-1]["Content-Type"] == "application/json"
    assert sms_webhook.last_code("+85298765432") == "493817"
    assert "493817" not in caplog.text


@pytest.mark.parametrize("status,location", [(500, None), (404, None), (302, "http://127.0.0.1:9/elsewhere")])
def test_webhook_failures_and_redirects_are_delivery_errors(sms_webhook, status, location):
    sms_webhook.status, sms_webhook.location = status, location
    sender = MessageSender(make_config(sms_webhook.secret))
    with pytest.raises(ServiceUnavailable):
        sender.send_sms("+85298765432", "otp_login", PARAMS, "en")
    assert len(sms_webhook.requests) == 1


@pytest.mark.embedded
@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://x/y", "", "not a url"])
def test_webhook_url_must_be_http(url):
    with pytest.raises(ConfigError, match="sms.custom"):
        MessageSender(make_config({"sms.custom": {"url": url}}))


@pytest.mark.embedded
@pytest.mark.parametrize(
    "target,masked",
    [
        ("john@example.com", "j****@example.com"),
        ("j@example.com", "j****@example.com"),
        ("+85298765432", "+8529876****"),
        ("1234", "****"),
    ],
)
def test_mask_address(target, masked):
    assert mask_address(target) == masked
