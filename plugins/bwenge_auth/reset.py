"""Password reset: a short-lived, single-use link by mail, and an operator's reset.

The token is a signed JWT (``typ`` ``password_reset``) carrying a fingerprint of the
account's current password hash. Setting a password changes the hash, so a token
works once: after use (or any other password change) its fingerprint no longer
matches. Nothing is stored, and a token for a deleted account is simply invalid.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import anyio
from sqlalchemy import select, update

from bwenge.contracts.mail import MailMessage
from bwenge.errors import BadRequest, NotFound, Unauthorized, Unprocessable
from bwenge.utils import utcnow

from .models import User
from .security import sha256

log = logging.getLogger("bwenge.auth")
RESET = "password_reset"


def _fingerprint(password_hash: str) -> str:
    return sha256(password_hash)[:24]


def _invalid() -> BadRequest:
    return BadRequest("This reset link is invalid, used or expired.", code="invalid_reset_token")


class PasswordResets:
    """Issues and redeems reset tokens for an :class:`~bwenge_auth.service.AuthService`."""

    def __init__(self, auth):
        self.auth = auth
        self.settings = auth.settings
        self.ttl = timedelta(minutes=self.settings.password_reset_minutes)

    def link(self, token: str) -> str | None:
        template = self.settings.password_reset_url
        if template:
            return template.replace("{token}", token)
        public = self.auth.kernel.core.server.public_url
        return f"{public.rstrip('/')}/auth/password-reset?token={token}" if public else None

    def message_for(self, email: str) -> MailMessage | None:
        """The reset mail for ``email``'s account, or None when there is no account
        that can sign in with a password (unknown, deactivated or invite pending)."""
        from .accounts import normalize_email

        try:
            email = normalize_email(email)
        except Unprocessable:
            return None
        with self.auth.db.session() as s:
            user = s.scalar(select(User).where(User.email == email))
            if user is None or not user.is_active or not user.password_hash:
                return None
            token = self.auth.codec.encode(
                RESET, user.id, self.ttl, utcnow(), pwd=_fingerprint(user.password_hash)
            )
            to, name = user.email, user.name
        minutes = self.settings.password_reset_minutes
        url = self.link(token)
        how = (
            f"Open this link to choose a new password:\n\n  {url}\n"
            if url
            else (
                f"Your reset token:\n\n  {token}\n\nSend it with a new password to "
                "POST /auth/password-reset/confirm.\n"
            )
        )
        text = (
            f"Hello {name},\n\nSomeone (hopefully you) asked to reset the password of your "
            f"Bwenge account.\n{how}\nIt works once, for {minutes} minutes. If you did not ask, "
            "ignore this message: your password stays as it is.\n"
        )
        return MailMessage(to=to, subject="Reset your Bwenge password", text=text)

    async def confirm(self, token: str, new_password: str) -> None:
        """Set the password named by a valid token and sign out every session."""
        try:
            claims = self.auth.codec.decode(token or "", RESET)
        except Unauthorized:
            raise _invalid() from None
        user = await anyio.to_thread.run_sync(self.auth.get_user, claims["sub"])
        if (
            user is None
            or not user.is_active
            or not user.password_hash
            or _fingerprint(user.password_hash) != claims.get("pwd")
        ):
            raise _invalid()
        await self._store(user, new_password)

    async def set_password(self, email: str, new_password: str) -> User:
        """An operator's reset (``bwenge users reset-password``): no token needed."""
        from .accounts import normalize_email

        with self.auth.db.session() as s:
            user = s.scalar(select(User).where(User.email == normalize_email(email)))
        if user is None:
            raise NotFound(f"No account with the email {email!r}.")
        await self._store(user, new_password, must_match=False)
        return user

    async def _store(self, user: User, new_password: str, *, must_match: bool = True) -> None:
        auth = self.auth
        auth.passwords.check_strength(new_password, email=user.email, name=user.name)
        new_hash = await anyio.to_thread.run_sync(auth.passwords.hash, new_password)
        old_hash = user.password_hash

        def work():
            with auth.db.session() as s:
                stmt = update(User).where(User.id == user.id)
                if must_match:  # two uses of one token race: only the first may win
                    stmt = stmt.where(User.password_hash == old_hash)
                done = s.execute(stmt.values(password_hash=new_hash, updated_at=utcnow()))
                if done.rowcount != 1:
                    raise _invalid()
                fresh = s.get(User, user.id)
                auth.tokens.revoke_all(s, fresh)

        await anyio.to_thread.run_sync(work)
        log.info("Password of user %s was reset; every session signed out", user.id)
