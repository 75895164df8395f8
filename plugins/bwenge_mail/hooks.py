"""Hook implementations of the mail plugin."""

from __future__ import annotations

from bwenge import hookimpl


def mail_service(kernel):
    """The ``"mail"`` service: the sender ``mail.sender`` names, made once."""

    def make():
        settings = kernel.settings_for("mail")
        return kernel.mail_senders.get(settings.sender)(kernel)

    return kernel.provide_once("mail", make)


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


@hookimpl
def register_routes(register, kernel):
    mail_service(kernel)  # an unknown mail.sender fails at start-up, naming the installed ones


@hookimpl
def after_app_start(kernel):
    mail_service(kernel)
