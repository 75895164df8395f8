"""Accounts: registration, login, passwords, profiles, users and their org."""

from __future__ import annotations

import re

import anyio
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bwenge.domain import Principal, Role
from bwenge.errors import BadRequest, Conflict, NotFound, Unauthorized, Unprocessable
from bwenge.kernel import Kernel
from bwenge.tenancy import ensure_org, get_in_org
from bwenge.utils import new_id, utcnow

from .base import AuthPart
from .models import Org, User
from .security import Passwords, TokenPair
from .tokens import Tokens

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


class Accounts(AuthPart):
    """Registration, sign-in, passwords and profiles."""

    def __init__(self, kernel: Kernel, tokens: Tokens):
        super().__init__(kernel)
        self.tokens = tokens
        params = self.settings.password_hash.model_dump()
        if kernel.core.env == "testing":
            params = {k: v if v is not None else TESTING_HASH[k] for k, v in params.items()}
        self.passwords = Passwords(**params, min_length=self.settings.password_min_length)

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
                return org, user, self.tokens.issue(s, user)

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
            if stored is not None and self.passwords.needs_rehash(stored)
            else None
        )

        def work():
            with self.db.session() as s:
                fresh = s.get(User, user.id)
                if fresh is None or not fresh.is_active:
                    raise _bad_credentials()
                if new_hash and fresh.password_hash == stored:
                    fresh.password_hash = new_hash
                return self.tokens.issue(s, fresh)

        return await anyio.to_thread.run_sync(work)

    def own_user(self, s, principal: Principal) -> User:
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
            lambda: self._read(lambda s: self.own_user(s, principal))
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
                fresh = self.own_user(s, principal)
                fresh.password_hash = new_hash
                self.tokens.revoke_all(s, fresh)
                s.flush()
                return self.tokens.issue(s, fresh)

        return await anyio.to_thread.run_sync(work)

    async def update_profile(self, principal: Principal, *, name: str | None = None) -> User:
        def work():
            with self.db.session() as s:
                user = self.own_user(s, principal)
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
