"""Email delivery: SMTP (secret `mail.smtp`) or, in the embedded default, an outbox folder.

`mail.smtp` is Authgear's secret: `{host, port, username?, password?, mode: normal|ssl}`.
`normal` is plain SMTP upgraded with STARTTLS when the server offers it (RFC 3207); `ssl` is
implicit TLS (RFC 8314, port 465). As Authgear's mail library (gomail) does, `normal` on port 465
is implicit TLS too, and the username and password are sent only when the server offers AUTH
(RFC 4954): a relay that takes mail without AUTH still gets it. Certificates are verified with
the system trust store.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from app.config import ConfigError
from app.messaging.outbox import Outbox
from app.messaging.templates import RenderedEmail

SMTP_TIMEOUT_SECONDS = 15
IMPLICIT_TLS_PORT = 465  # RFC 8314 submissions; gomail picks implicit TLS by this port alone


class DeliveryError(Exception):
    """The provider refused or could not be reached; the message holds no message content."""


def build_email(sender: str, to: str, rendered: RenderedEmail, message_id_domain: str, date: Any) -> EmailMessage:
    """A multipart/alternative message (text first, HTML preferred by clients that can show it)."""
    msg = EmailMessage()
    # The default policy refuses CR/LF in header values: no header injection through `to`.
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = make_msgid(domain=message_id_domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to one-time codes
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    # After add_alternative, which moves Content-* headers into the first part (RFC 3282).
    msg["Content-Language"] = rendered.locale.replace("_", "-")
    return msg


class SMTPTransport:
    def __init__(self, secret: dict[str, Any]) -> None:
        self.host = str(secret.get("host") or "")
        self.mode = secret.get("mode") or "normal"
        if not self.host:
            raise ConfigError("authgear.secrets.yaml mail.smtp/host: required")
        if self.mode not in ("normal", "ssl"):
            raise ConfigError("authgear.secrets.yaml mail.smtp/mode: must be normal or ssl")
        try:
            self.port = int(secret.get("port") or (IMPLICIT_TLS_PORT if self.mode == "ssl" else 25))
        except (TypeError, ValueError):
            raise ConfigError("authgear.secrets.yaml mail.smtp/port: must be a number") from None
        self.username = secret.get("username") or None
        self.password = secret.get("password") or ""

    def send(self, msg: EmailMessage) -> None:
        context = ssl.create_default_context()
        implicit_tls = self.mode == "ssl" or self.port == IMPLICIT_TLS_PORT
        try:
            if implicit_tls:
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS, context=context
                )
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS)
            with conn:
                conn.ehlo()
                if not implicit_tls and conn.has_extn("starttls"):
                    conn.starttls(context=context)
                    conn.ehlo()
                if self.username and conn.has_extn("auth"):
                    conn.login(self.username, self.password)
                conn.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            # Only the class: SMTP replies can echo the recipient or message text.
            raise DeliveryError(f"SMTP delivery to {self.host}:{self.port} failed ({exc.__class__.__name__})") from None


class OutboxTransport:
    """Writes each message as an .eml file; the code is in the file, never in the log."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def send(self, msg: EmailMessage, label: str) -> Path:
        return self.outbox.write(label, "eml", bytes(msg))
