"""Org membership: invites, roles, removal and ownership transfer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from bwenge.domain import Principal, Role
from bwenge.errors import BadRequest, BwengeError, Conflict, Forbidden, Unprocessable
from bwenge.kernel import Kernel
from bwenge.tenancy import ensure_org, get_in_org
from bwenge.utils import new_id, utcnow

from .accounts import Accounts, normalize_email
from .base import AuthPart
from .models import Invite, RefreshToken, TokenFamily, User
from .security import TokenPair, random_token, sha256
from .tokens import Tokens


def _role(value: str | Role) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise Unprocessable(
            f"Unknown role {value!r}; use one of {', '.join(r.value for r in Role)}.",
            details={"field": "role"},
        ) from None


@dataclass(frozen=True)
class InviteResult:
    invite_id: str
    user_id: str
    org_id: str
    email: str
    role: str
    token: str
    expires_at: datetime
    url: str | None


def member_view(user: User) -> dict[str, Any]:
    """The seed's member shape, plus whether the invite is still pending."""
    return {
        "user_id": user.id,
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "is_active": user.is_active,
        "created_at": user.created_at,
        "status": "active" if user.password_hash else "invited",
    }


class Members(AuthPart):
    """Who belongs to an org, with which role."""

    def __init__(self, kernel: Kernel, accounts: Accounts, tokens: Tokens):
        super().__init__(kernel)
        self.accounts = accounts
        self.tokens = tokens

    def check_grant(self, principal: Principal, role: Role) -> None:
        if role is Role.OWNER:
            raise BadRequest(
                "Ownership is given only by transferring it "
                "(POST /orgs/{org_id}/transfer-ownership).",
                code="owner_not_assignable",
            )
        if role.rank > principal.role.rank:
            raise Forbidden(f"A {principal.role} cannot grant the {role} role.")

    def _invite_url(self, token: str) -> str | None:
        template = self.settings.invite_url
        if template:
            return template.replace("{token}", token)
        base = self.kernel.core.server.public_url
        return f"{base.rstrip('/')}/auth/invites/accept?token={token}" if base else None

    async def invite(
        self,
        principal: Principal,
        org_id: str,
        email: str,
        role: str | Role = Role.RECIPIENT,
        name: str | None = None,
    ) -> InviteResult:
        """Create (or renew) a pending member and a single-use invite token."""
        ensure_org(org_id, principal)
        role = _role(role)
        self.check_grant(principal, role)
        email = normalize_email(email)
        await self._emit(
            "before_member_invite",
            org_id=org_id,
            user_id=principal.user_id,
            email=email,
            role=role.value,
        )
        token = random_token(32)
        now = utcnow()
        expires = now + timedelta(hours=self.settings.invite_hours)

        def work():
            with self.db.session() as s:
                existing = s.scalar(select(User).where(User.email == email))
                if existing is not None:
                    live = s.scalar(
                        select(func.count(Invite.id)).where(
                            Invite.user_id == existing.id,
                            Invite.accepted_at.is_(None),
                            Invite.revoked_at.is_(None),
                            Invite.expires_at > now,
                        )
                    )
                    if existing.password_hash is not None or (existing.org_id != org_id and live):
                        raise Conflict(
                            "That email already belongs to an account.", code="email_taken"
                        )
                    if existing.org_id != org_id:  # a stale invitation elsewhere: release the email
                        s.delete(existing)
                        s.flush()
                        existing = None
                if existing is None:
                    user = User(
                        id=new_id(),
                        org_id=org_id,
                        email=email,
                        name=(name or "").strip() or email,
                        password_hash=None,
                        role=role.value,
                        is_active=False,
                        is_platform_admin=False,
                        token_version=0,
                        created_at=now,
                        updated_at=now,
                    )
                    s.add(user)
                    s.flush()
                else:
                    user = existing
                    user.role = role.value
                    if name and name.strip():
                        user.name = name.strip()
                    s.execute(
                        update(Invite)
                        .where(
                            Invite.user_id == user.id,
                            Invite.accepted_at.is_(None),
                            Invite.revoked_at.is_(None),
                        )
                        .values(revoked_at=now)
                    )
                invite = Invite(
                    id=new_id(),
                    org_id=org_id,
                    user_id=user.id,
                    role=role.value,
                    token_hash=sha256(token),
                    created_by=principal.user_id,
                    expires_at=expires,
                    created_at=now,
                )
                s.add(invite)
                return InviteResult(
                    invite.id,
                    user.id,
                    org_id,
                    email,
                    role.value,
                    token,
                    expires,
                    self._invite_url(token),
                )

        try:
            return await anyio.to_thread.run_sync(work)
        except IntegrityError:
            raise Conflict(
                "That email already belongs to an account.", code="email_taken"
            ) from None

    async def accept_invite(
        self, token: str, password: str, name: str | None = None
    ) -> tuple[User, TokenPair]:
        """The invitee sets their own password; the invite is then spent."""
        token_hash = sha256(token or "")
        invalid = BadRequest("This invitation is invalid, used or expired.", code="invalid_invite")

        def lookup():
            with self.db.session() as s:
                inv = s.scalar(select(Invite).where(Invite.token_hash == token_hash))
                if inv is None or inv.accepted_at or inv.revoked_at or inv.expires_at <= utcnow():
                    raise invalid
                return inv, s.get(User, inv.user_id)

        invite, user = await anyio.to_thread.run_sync(lookup)
        if user is None:
            raise invalid
        passwords = self.accounts.passwords
        passwords.check_strength(password, email=user.email, name=name or user.name)
        password_hash = await anyio.to_thread.run_sync(passwords.hash, password)

        def work():
            with self.db.session() as s:
                spent = s.execute(
                    update(Invite)
                    .where(
                        Invite.id == invite.id,
                        Invite.accepted_at.is_(None),
                        Invite.revoked_at.is_(None),
                    )
                    .values(accepted_at=utcnow())
                )
                fresh = s.get(User, invite.user_id)
                if spent.rowcount != 1 or fresh is None or fresh.password_hash is not None:
                    raise invalid
                fresh.password_hash = password_hash
                fresh.is_active = True
                fresh.role = invite.role
                if name and name.strip():
                    fresh.name = name.strip()
                fresh.updated_at = utcnow()
                s.flush()
                return fresh, self.tokens.issue(s, fresh)

        # listeners may refuse (no free member seat); the invite then stays unspent
        await self._emit(
            "before_member_join",
            org_id=user.org_id,
            user_id=user.id,
            role=invite.role,
            via="invite",
        )
        try:
            user, pair = await anyio.to_thread.run_sync(work)
        except BaseException as exc:
            code = exc.code if isinstance(exc, BwengeError) else "internal_error"
            with anyio.CancelScope(shield=True):
                await self._emit(
                    "on_member_join_error",
                    org_id=user.org_id,
                    user_id=user.id,
                    via="invite",
                    error=code,
                )
            raise
        await self._emit(
            "after_member_join", org_id=user.org_id, user_id=user.id, role=user.role, via="invite"
        )
        return user, pair

    def list_members(self, principal: Principal, org_id: str) -> list[User]:
        ensure_org(org_id, principal)
        return self._read(
            lambda s: list(
                s.scalars(
                    select(User).where(User.org_id == org_id).order_by(User.created_at, User.id)
                )
            )
        )

    def _target(self, s, principal: Principal, org_id: str, user_id: str) -> User:
        ensure_org(org_id, principal)
        return get_in_org(s, User, user_id, principal, what="Member")

    def _check_manage(self, principal: Principal, target: User) -> None:
        if target.role == Role.OWNER:
            raise Forbidden("The owner's membership changes only by transferring ownership.")
        if (
            target.id != principal.user_id
            and principal.role is not Role.OWNER
            and Role(target.role).rank >= principal.role.rank
        ):
            raise Forbidden(f"A {principal.role} cannot manage another {target.role}.")

    async def change_role(
        self, principal: Principal, org_id: str, user_id: str, role: str | Role
    ) -> User:
        role = _role(role)

        def work():
            with self.db.session() as s:
                target = self._target(s, principal, org_id, user_id)
                self._check_manage(principal, target)
                self.check_grant(principal, role)
                old = target.role
                if old != role.value:
                    target.role = role.value
                    target.updated_at = utcnow()
                    # tokens carry the old role: sign them out
                    self.tokens.revoke_all(s, target)
                return target, old

        target, old = await anyio.to_thread.run_sync(work)
        if old != target.role:
            await self._emit(
                "after_member_change",
                org_id=org_id,
                user_id=target.id,
                action="role_change",
                old_role=old,
                new_role=target.role,
                by=principal.user_id,
            )
        return target

    async def remove_member(self, principal: Principal, org_id: str, user_id: str) -> None:
        """Remove a member: the account, its tokens and its invites are deleted."""

        def work():
            with self.db.session() as s:
                target = self._target(s, principal, org_id, user_id)
                if target.id == principal.user_id:
                    raise BadRequest("You cannot remove yourself.", code="cannot_remove_self")
                self._check_manage(principal, target)
                old = target.role
                s.execute(delete(Invite).where(Invite.user_id == target.id))
                family_ids = select(TokenFamily.id).where(TokenFamily.user_id == target.id)
                s.execute(delete(RefreshToken).where(RefreshToken.family_id.in_(family_ids)))
                s.execute(delete(TokenFamily).where(TokenFamily.user_id == target.id))
                s.delete(target)
                return old

        old = await anyio.to_thread.run_sync(work)
        await self._emit(
            "after_member_change",
            org_id=org_id,
            user_id=user_id,
            action="remove",
            old_role=old,
            new_role=None,
            by=principal.user_id,
        )

    async def transfer_ownership(self, principal: Principal, org_id: str, user_id: str) -> None:
        """Make another active member the owner; the old owner becomes an admin."""

        def work():
            with self.db.session() as s:
                target = self._target(s, principal, org_id, user_id)
                if target.id == principal.user_id:
                    raise BadRequest("You already own this organisation.")
                if not target.is_active or target.password_hash is None:
                    raise BadRequest("Ownership can only go to an active member.")
                me = self.accounts.own_user(s, principal)
                old_target = target.role
                target.role, me.role = Role.OWNER.value, Role.ADMIN.value
                self.tokens.revoke_all(s, target)
                self.tokens.revoke_all(s, me)
                return old_target

        old_target = await anyio.to_thread.run_sync(work)
        await self._emit(
            "after_member_change",
            org_id=org_id,
            user_id=user_id,
            action="role_change",
            old_role=old_target,
            new_role=Role.OWNER.value,
            by=principal.user_id,
        )
        await self._emit(
            "after_member_change",
            org_id=org_id,
            user_id=principal.user_id,
            action="role_change",
            old_role=Role.OWNER.value,
            new_role=Role.ADMIN.value,
            by=principal.user_id,
        )
