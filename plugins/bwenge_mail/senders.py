"""The built-in mail senders."""

from __future__ import annotations

import logging
from email.message import EmailMessage

import anyio

from bwenge.contracts.mail import MailMessage

from .settings import MailSettings

log = logging.getLogger("bwenge.mail")


def _email(settings: MailSettings, message: MailMessage) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = settings.from_address
    mail["To"] = message.to
    mail["Subject"] = message.subject
    for name, value in message.headers.items():
        mail[name] = value
    mail.set_content(message.text)
    return mail


class LogSender:
    """Writes each message to the ``bwenge.mail`` log: the default, for development
    and for instances whose operator relays resets by hand."""

    def __init__(self, settings: MailSettings):
        self.settings = settings

    def send(self, message: MailMessage) -> None:
        log.info(
            "Mail to %s: %s\n%s",
            message.to,
            message.subject,
            message.text,
            extra={"mail_to": message.to, "mail_subject": message.subject},
        )


class SmtpSender:
    """Delivers through an SMTP relay (``mail.smtp``), in a worker thread."""

    def __init__(self, settings: MailSettings):
        self.settings = settings

    async def send(self, message: MailMessage) -> None:
        await anyio.to_thread.run_sync(self._send, _email(self.settings, message))

    def _send(self, mail: EmailMessage) -> None:
        import smtplib
        import ssl

        smtp = self.settings.smtp
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if smtp.security == "ssl":
            client = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=smtp.timeout_seconds, context=context
            )
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds)
        with client:
            if smtp.security == "starttls":
                client.starttls(context=context)
            if smtp.username and smtp.password:
                client.login(smtp.username, smtp.password.get_secret_value())
            client.send_message(mail)
