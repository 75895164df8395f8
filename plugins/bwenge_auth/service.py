"""Identity and membership logic. Takes and returns domain values; no HTTP.

Published as the ``auth`` service (``kernel.service("auth")``). Methods that
hash passwords or touch the database run that work in a worker thread, so they
are ``async``; the CLI drives them with ``asyncio.run``.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import anyio
from sqlalchemy import and_, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from bwenge.domain import Principal, Role
from bwenge.errors import (
    BadRequest,
    BwengeError,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
)
from bwenge.kernel import Kernel
from bwenge.tenancy import ensure_org, get_in_org
from bwenge.utils import new_id, utcnow

from .fastquery import CompiledQuery
from .models import ApiKey, Invite, Org, RefreshToken, TokenFamily, User
from .security import (
    ACCESS,
    API_KEY_PREFIX,
    REFRESH,
    Passwords,
    TokenCodec,
    TokenPair,
    random_token,
    sha256,
)
from .settings import AuthSettings

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
TESTING_HASH = {"time_cost": 1, "memory_cost_kib": 8 * 1024, "parallelism": 1}


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    if len(email) > 320 or not EMAIL_RE.match(email):
        raise Unprocessable("Not a valid email address.", details={"field": "email"})
    return email


def _bad_credentials() -> Unauthorized:
    return Unauthorized(
        "Incorrect email or password",
        code="invalid_credentials",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _invalid_token() -> Unauthorized:
    return Unauthorized(
        "Invalid token",
        code="invalid_token",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


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


@dataclass(frozen=True)
class NewApiKey:
    key: ApiKey
    secret: str  # shown once


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


PRINCIPAL_CACHE_SIZE = 10_000


class AuthService:
    """Accounts, organisations, tokens, invites and API keys."""

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.settings: AuthSettings = kernel.settings_for("auth")
        params = self.settings.password_hash.model_dump()
        if kernel.core.env == "testing":
            params = {k: v if v is not None else TESTING_HASH[k] for k, v in params.items()}
        self.passwords = Passwords(**params, min_length=self.settings.password_min_length)
        self.codec = TokenCodec(kernel.secret_key, self.settings.jwt_issuer)
        self.access_ttl = timedelta(minutes=self.settings.access_token_minutes)
        self.refresh_ttl = timedelta(days=self.settings.refresh_token_days)
        # access token -> (the database row it was last checked against, its Principal).
        # Every request still runs the query; when the row comes back unchanged, the
        # Principal built from it last time is the same answer, so it is reused
        # instead of converting the row and building it again.
        self._principals: dict[str, tuple[tuple, Principal]] = {}

    @property
    def db(self):
        return self.kernel.db

    @cached_property
    def resets(self):
        """Password resets by mailed token, and the operator's reset."""
        from .reset import PasswordResets

        return PasswordResets(self)

    @cached_property
    def _principal_query(self) -> CompiledQuery:
        stmt = (
            select(
                User.id,
                User.org_id,
                User.role,
                User.email,
                User.name,
                User.is_active,
                User.is_platform_admin,
                User.token_version,
                User.created_at,
                TokenFamily.id.label("family_id"),
                TokenFamily.revoked_at,
            )
            .select_from(User)
            .outerjoin(
                TokenFamily,
                and_(TokenFamily.id == bindparam("fam"), TokenFamily.user_id == User.id),
            )
            .where(User.id == bindparam("sub"))
        )
        return CompiledQuery(self.db.engine, stmt)

    @cached_property
    def _api_key_query(self) -> CompiledQuery:
        stmt = select(
            ApiKey.id, ApiKey.org_id, ApiKey.role, ApiKey.name, ApiKey.expires_at, ApiKey.revoked_at
        ).where(ApiKey.key_hash == bindparam("key_hash"))
        return CompiledQuery(self.db.engine, stmt)

    async def _emit(self, hook: str, **kwargs: Any) -> None:
        await self.kernel.emit(hook, **kwargs)

    # -- tokens ----------------------------------------------------------------

    def _issue(self, session, user: User, family_id: str | None = None) -> TokenPair:
        """A new access/refresh pair; a new family unless rotating one."""
        now = utcnow()
        if family_id is None:
            family = TokenFamily(id=new_id(), user_id=user.id, created_at=now)
            session.add(family)
            session.flush()
            family_id = family.id
        jti = new_id()
        refresh = self.codec.encode(
            REFRESH, user.id, self.refresh_ttl, now, jti=jti, fam=family_id, ver=user.token_version
        )
        session.add(
            RefreshToken(
                id=jti,
                family_id=family_id,
                token_hash=sha256(refresh),
                expires_at=now + self.refresh_ttl,
                created_at=now,
            )
        )
        access = self.codec.encode(
            ACCESS,
            user.id,
            self.access_ttl,
            now,
            fam=family_id,
            ver=user.token_version,
            org_id=user.org_id,
            role=user.role,
            email=user.email,
            type=ACCESS,
        )
        return TokenPair(access, refresh, int(self.access_ttl.total_seconds()))

    def _revoke_all(self, session, user: User) -> None:
        """Invalidate every token the user holds (access and refresh)."""
        user.token_version += 1
        session.execute(
            update(TokenFamily)
            .where(TokenFamily.user_id == user.id, TokenFamily.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )

    def principal_from_access_token(self, token: str) -> Principal:
        """Check a bearer access token: signature and claims, then ONE indexed
        query for the user and the token's family (revocation, role, activity).
        Never touches the password hasher."""
        claims = self.codec.decode(token, ACCESS)
        family_id = claims.get("fam")
        if not isinstance(family_id, str):
            raise _invalid_token()
        query = self._principal_query
        raw = query.raw(fam=family_id, sub=claims["sub"])
        known = self._principals.get(token)
        if known is not None and known[0] == raw:
            return known[1]
        row = query.process(raw)
        if (
            row is None
            or not row.is_active
            or row.token_version != claims.get("ver")
            or row.family_id is None
            or row.revoked_at is not None
        ):
            self._principals.pop(token, None)
            raise Unauthorized(
                "Token revoked",
                code="token_revoked",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        principal = Principal(
            user_id=row.id,
            org_id=row.org_id,
            role=Role(row.role),
            email=row.email,
            name=row.name,
            method="token",
            credential_id=family_id,
            is_platform_admin=bool(row.is_platform_admin),
            # treat as read-only: the same Principal answers every request with this token
            extra={"created_at": row.created_at, "is_active": row.is_active},
        )
        if len(self._principals) >= PRINCIPAL_CACHE_SIZE:
            self._principals.clear()  # crude bound, like the codec's; refills as tokens are seen
        self._principals[token] = (raw, principal)
        return principal

    def principal_from_api_key(self, key: str) -> Principal:
        if not key.startswith(API_KEY_PREFIX):
            raise Unauthorized("Invalid API key", code="invalid_api_key")
        row = self._api_key_query.first(key_hash=sha256(key))
        if row is None or row.revoked_at is not None:
            raise Unauthorized("Invalid API key", code="invalid_api_key")
        if row.expires_at is not None and row.expires_at <= utcnow():
            raise Unauthorized("API key expired", code="invalid_api_key")
        return Principal(
            user_id=row.id,
            org_id=row.org_id,
            role=Role(row.role),
            name=row.name,
            method="api_key",
            credential_id=row.id,
        )

    # -- accounts --------------------------------------------------------------

    async def register(
        self,
        name: str,
        email: str,
        password: str,
        org_name: str | None = None,
        *,
        is_platform_admin: bool = False,
        via: str = "register",
    ) -> tuple[User, TokenPair]:
        """A new org whose first user is its owner. Without ``org_name`` the org is
        personal (named after the user), never a shared default org."""
        name = (name or "").strip()
        if not name:
            raise Unprocessable("Name must not be empty.", details={"field": "name"})
        email = normalize_email(email)
        self.passwords.check_strength(password, email=email, name=name)
        password_hash = await anyio.to_thread.run_sync(self.passwords.hash, password)

        def work():
            with self.db.session() as s:
                if s.scalar(select(User.id).where(User.email == email)):
                    raise Conflict("Email already registered", code="email_taken")
                org = Org(
                    id=new_id(),
                    name=(org_name or "").strip() or f"{name}'s space",
                    is_personal=not (org_name or "").strip(),
                    created_at=utcnow(),
                )
                s.add(org)
                s.flush()
                user = User(
                    id=new_id(),
                    org_id=org.id,
                    email=email,
                    name=name,
                    password_hash=password_hash,
                    role=Role.OWNER.value,
                    is_active=True,
                    is_platform_admin=is_platform_admin,
                    token_version=0,
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
                s.add(user)
                s.flush()
                return org, user, self._issue(s, user)

        try:
            org, user, pair = await anyio.to_thread.run_sync(work)
        except IntegrityError:  # a concurrent registration won the race
            raise Conflict("Email already registered", code="email_taken") from None
        await self._emit(
            "after_org_create", org_id=org.id, user_id=user.id, name=org.name, owner_id=user.id
        )
        await self._emit(
            "after_member_join", org_id=org.id, user_id=user.id, role=user.role, via=via
        )
        return user, pair

    async def login(self, email: str, password: str) -> TokenPair:
        try:
            email = normalize_email(email)
        except Unprocessable:
            email = ""

        def find():
            with self.db.session() as s:
                return s.scalar(select(User).where(User.email == email)) if email else None

        user = await anyio.to_thread.run_sync(find)
        stored = user.password_hash if user is not None else None
        # an unknown email still pays for one argon2 verify: same timing, no enumeration
        ok = await anyio.to_thread.run_sync(self.passwords.verify, stored, password)
        if not ok or user is None or not user.is_active:
            raise _bad_credentials()
        new_hash = (
            await anyio.to_thread.run_sync(self.passwords.hash, password)
            if self.passwords.needs_rehash(stored)
            else None
        )

        def work():
            with self.db.session() as s:
                fresh = s.get(User, user.id)
                if fresh is None or not fresh.is_active:
                    raise _bad_credentials()
                if new_hash and fresh.password_hash == stored:
                    fresh.password_hash = new_hash
                return self._issue(s, fresh)

        return await anyio.to_thread.run_sync(work)

    async def refresh(self, token: str) -> TokenPair:
        """Rotate a refresh token. A token presented twice revokes its family."""
        claims = self.codec.decode(token, REFRESH)
        jti, family_id = claims.get("jti"), claims.get("fam")
        if not isinstance(jti, str) or not isinstance(family_id, str):
            raise _invalid_token()

        def work() -> TokenPair | None:
            with self.db.session() as s:
                row = s.get(RefreshToken, jti)
                if (
                    row is None
                    or row.family_id != family_id
                    or not hmac.compare_digest(row.token_hash, sha256(token))
                ):
                    raise _invalid_token()
                family = s.get(TokenFamily, row.family_id)
                user = s.get(User, family.user_id) if family else None
                if (
                    family is None
                    or family.revoked_at is not None
                    or user is None
                    or not user.is_active
                    or user.token_version != claims.get("ver")
                    or user.id != claims["sub"]
                ):
                    raise _invalid_token()
                # conditional update: of two concurrent uses, exactly one wins
                used = s.execute(
                    update(RefreshToken)
                    .where(RefreshToken.id == jti, RefreshToken.used_at.is_(None))
                    .values(used_at=utcnow())
                )
                if used.rowcount != 1:
                    family.revoked_at = utcnow()
                    return None  # commit the revocation, then refuse
                return self._issue(s, user, family_id=family.id)

        pair = await anyio.to_thread.run_sync(work)
        if pair is None:
            raise Unauthorized(
                "Refresh token reuse detected; this session has been signed out.",
                code="token_reused",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return pair

    async def logout(self, principal: Principal) -> None:
        """Revoke the caller's session (its access and refresh tokens)."""
        if principal.method != "token" or not principal.credential_id:
            return

        def work():
            with self.db.session() as s:
                s.execute(
                    update(TokenFamily)
                    .where(
                        TokenFamily.id == principal.credential_id,
                        TokenFamily.user_id == principal.user_id,
                    )
                    .values(revoked_at=utcnow())
                )

        await anyio.to_thread.run_sync(work)

    def _own_user(self, s, principal: Principal) -> User:
        if principal.method == "api_key":
            raise NotFound("API keys have no user profile")
        user = s.get(User, principal.user_id)
        if user is None:
            raise NotFound("User not found")
        return user

    async def change_password(self, principal: Principal, current: str, new: str) -> TokenPair:
        """Check the current password, store the new one, revoke every token and
        return a fresh pair for this client."""
        user = await anyio.to_thread.run_sync(
            lambda: self._read(lambda s: self._own_user(s, principal))
        )
        ok = await anyio.to_thread.run_sync(self.passwords.verify, user.password_hash, current)
        if not ok:
            raise BadRequest("Current password is incorrect", code="invalid_password")
        self.passwords.check_strength(new, email=user.email, name=user.name)
        if current == new:
            raise Unprocessable(
                "The new password must differ from the current one.",
                details={"field": "new_password"},
            )
        new_hash = await anyio.to_thread.run_sync(self.passwords.hash, new)

        def work():
            with self.db.session() as s:
                fresh = self._own_user(s, principal)
                fresh.password_hash = new_hash
                self._revoke_all(s, fresh)
                s.flush()
                return self._issue(s, fresh)

        return await anyio.to_thread.run_sync(work)

    def _read(self, fn):
        with self.db.session() as s:
            return fn(s)

    async def update_profile(self, principal: Principal, *, name: str | None = None) -> User:
        def work():
            with self.db.session() as s:
                user = self._own_user(s, principal)
                if name is not None:
                    if not name.strip():
                        raise Unprocessable("Name must not be empty.", details={"field": "name"})
                    user.name = name.strip()
                    user.updated_at = utcnow()
                return user

        return await anyio.to_thread.run_sync(work)

    def get_user(self, user_id: str) -> User | None:
        return self._read(lambda s: s.get(User, user_id))

    def get_org(self, principal: Principal, org_id: str) -> Org:
        ensure_org(org_id, principal)
        return self._read(
            lambda s: get_in_org(s, Org, org_id, principal, what="Organisation", org_attr="id")
        )

    # -- members -----------------------------------------------------------------

    def _check_grant(self, principal: Principal, role: Role) -> None:
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
        self._check_grant(principal, role)
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
        self.passwords.check_strength(password, email=user.email, name=name or user.name)
        password_hash = await anyio.to_thread.run_sync(self.passwords.hash, password)

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
                return fresh, self._issue(s, fresh)

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
                self._check_grant(principal, role)
                old = target.role
                if old != role.value:
                    target.role = role.value
                    target.updated_at = utcnow()
                    self._revoke_all(s, target)  # tokens carry the old role: sign them out
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
                me = self._own_user(s, principal)
                old_target = target.role
                target.role, me.role = Role.OWNER.value, Role.ADMIN.value
                self._revoke_all(s, target)
                self._revoke_all(s, me)
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

    # -- API keys ------------------------------------------------------------------

    def create_api_key(
        self,
        principal: Principal,
        org_id: str,
        name: str,
        role: str | Role = Role.RECIPIENT,
        expires_in_days: int | None = None,
    ) -> NewApiKey:
        ensure_org(org_id, principal)
        role = _role(role)
        self._check_grant(principal, role)
        secret = API_KEY_PREFIX + random_token(32)
        now = utcnow()
        key = ApiKey(
            id=new_id(),
            org_id=org_id,
            name=name.strip() or "API key",
            role=role.value,
            prefix=secret[:10],
            key_hash=sha256(secret),
            created_by=principal.user_id,
            created_at=now,
            expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
        )

        def work(s):
            s.add(key)
            return key

        with self.db.session() as s:
            work(s)
        return NewApiKey(key, secret)

    def list_api_keys(self, principal: Principal, org_id: str) -> list[ApiKey]:
        ensure_org(org_id, principal)
        return self._read(
            lambda s: list(
                s.scalars(
                    select(ApiKey)
                    .where(ApiKey.org_id == org_id)
                    .order_by(ApiKey.created_at, ApiKey.id)
                )
            )
        )

    def revoke_api_key(self, principal: Principal, org_id: str, key_id: str) -> ApiKey:
        ensure_org(org_id, principal)
        with self.db.session() as s:
            key = get_in_org(s, ApiKey, key_id, principal, what="API key")
            if key.revoked_at is None:
                key.revoked_at = utcnow()
            return key
