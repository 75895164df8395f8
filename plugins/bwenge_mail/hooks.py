"""Hook implementations of the mail plugin."""

from __future__ import annotations

from bwenge import hookimpl


def make_mail(kernel):
    """The ``"mail"`` service: the sender ``mail.sender`` names (an unknown name fails
    start-up, naming the installed senders)."""
    return kernel.mail_senders.get(kernel.settings_for("mail").sender)(kernel)


@hookimpl
def register_services(register):
    from bwenge.contracts.mail import MailSender

    register("mail", make_mail, provides=MailSender)


@hookimpl
def register_settings(register):
    from .settings import MailSettings

    register("mail", MailSettings)


def _log_sender(kernel):
    from .senders import LogSender

    return LogSender(kernel.settings_for("mail"))


def _smtp_sender(kernel):
    from .senders import SmtpSender

    return SmtpSender(kernel.settings_for("mail"))


@hookimpl
def register_mail_senders(register):
    register("log", _log_sender)
    register("smtp", _smtp_sender)
