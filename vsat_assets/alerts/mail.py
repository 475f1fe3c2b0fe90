"""Alert mail through SMTP, configured by the environment (docs/operations.md, Alerts).

Nothing personal goes into a mail: the texts are built from job, step, check and month names,
and any error text is passed through `without_values` first.
"""

import os
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

SUBJECT_PREFIX = "[VSAT]"
HIDDEN = "…"
ONE_LINE_LIMIT = 300

# Values an error message may quote or carry: quoted text, e-mail addresses, dates, crime references
# (upper-case parts between slashes, as DUR/C/2025-04/000123), phone and other long numbers.
# Month labels (2025-04), file, step, check and table names stay readable.
_VALUE_PATTERNS = (
    re.compile(r"'[^'\n]*'"),
    re.compile(r'"[^"\n]*"'),
    re.compile(r"\S+@\S+"),
    re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[ T][\d:.]+)?\b"),
    re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"),
    re.compile(r"\b[A-Z0-9]{1,6}(?:/[A-Z0-9-]+){2,}"),
    re.compile(r"\+?\d[\d ()-]{6,}\d"),
)


class AlertNotSent(RuntimeError):
    """The SMTP server could not be reached or refused the mail."""


def without_values(text: str) -> str:
    """`text` on one line, at most ONE_LINE_LIMIT characters, with the values it quotes hidden."""
    for pattern in _VALUE_PATTERNS:
        text = pattern.sub(HIDDEN, text)
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= ONE_LINE_LIMIT else one_line[: ONE_LINE_LIMIT - 1] + HIDDEN


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    user: str = ""
    password: str = ""
    starttls: bool = False
    timeout_seconds: float = 30.0

    def describe(self) -> str:
        return f"{self.host}:{self.port}"


REQUIRED = ("VSAT_SMTP_HOST", "VSAT_SMTP_FROM", "VSAT_ALERT_TO")


def smtp_from_env() -> SmtpSettings | None:
    """The SMTP settings, or None when alerts are not configured (any of REQUIRED unset)."""
    if not all(os.environ.get(name, "").strip() for name in REQUIRED):
        return None
    starttls = _flag("VSAT_SMTP_STARTTLS")
    port = os.environ.get("VSAT_SMTP_PORT", "").strip()
    try:
        port_number = int(port) if port else (587 if starttls else 25)
    except ValueError:
        raise ValueError(f"VSAT_SMTP_PORT={port!r} is not a port number") from None
    recipients = tuple(r.strip() for r in os.environ["VSAT_ALERT_TO"].split(",") if r.strip())
    return SmtpSettings(
        host=os.environ["VSAT_SMTP_HOST"].strip(), port=port_number, sender=os.environ["VSAT_SMTP_FROM"].strip(),
        recipients=recipients, user=os.environ.get("VSAT_SMTP_USER", ""),
        password=os.environ.get("VSAT_SMTP_PASSWORD", ""), starttls=starttls,
    )


def not_configured_reason() -> str:
    missing = [name for name in REQUIRED if not os.environ.get(name, "").strip()]
    return f"alerts are not configured ({', '.join(missing)} unset): no mail sent"


def ui_link(path: str) -> str:
    """A link into the Dagster UI (VSAT_DAGSTER_URL, default http://localhost:3000)."""
    base = os.environ.get("VSAT_DAGSTER_URL", "http://localhost:3000").rstrip("/")
    return f"{base}/{path.lstrip('/')}"


def send(settings: SmtpSettings, subject: str, body: str) -> None:
    message = EmailMessage()
    message["Subject"] = f"{SUBJECT_PREFIX} {subject}"
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    message.set_content(body)
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.user:
                smtp.login(settings.user, settings.password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        raise AlertNotSent(f"alert mail not sent through {settings.describe()}: {error}") from error
