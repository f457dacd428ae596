"""E-mail (optional): personal links and reminders through the SMTP server of the
settings. Plain text, UTF-8, one message per office."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from signflow.errors import InputError
from signflow.i18n import _
from signflow.portal.config import SmtpSettings


def send_mail(smtp: SmtpSettings, to: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=30) as server:
            if smtp.starttls:
                server.starttls()
            if smtp.username:
                server.login(smtp.username, smtp.password() or "")
            server.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise InputError(_("the e-mail to {to} could not be sent through {host}:{port}: "
                           "{reason}").format(to=to, host=smtp.host, port=smtp.port,
                                              reason=exc)) from None
