"""Access and refresh tokens: issuing, checking, rotating families, logout."""

from __future__ import annotations

import hmac
from datetime import timedelta
from functools import cached_property

import anyio
from sqlalchemy import and_, bindparam, select, update

from bwenge.domain import Principal, Role
from bwenge.errors import Unauthorized
from bwenge.kernel import Kernel
from bwenge.utils import new_id, utcnow

from .base import AuthPart
from .fastquery import CompiledQuery
from .models import RefreshToken, TokenFamily, User
from .security import ACCESS, REFRESH, TokenCodec, TokenPair, sha256


def _invalid_token() -> Unauthorized:
    return Unauthorized(
        "Invalid token",
        code="invalid_token",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


PRINCIPAL_CACHE_SIZE = 10_000


class Tokens(AuthPart):
    """Access/refresh pairs, their families and revocation."""

    def __init__(self, kernel: Kernel):
        super().__init__(kernel)
        self.codec = TokenCodec(kernel.secret_key, self.settings.jwt_issuer)
        self.access_ttl = timedelta(minutes=self.settings.access_token_minutes)
        self.refresh_ttl = timedelta(days=self.settings.refresh_token_days)
        # access token -> (the database row it was last checked against, its Principal).
        # Every request still runs the query; when the row comes back unchanged, the
        # Principal built from it last time is the same answer, so it is reused
        # instead of converting the row and building it again.
        self._principals: dict[str, tuple[tuple | None, Principal]] = {}

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

    def issue(self, session, user: User, family_id: str | None = None) -> TokenPair:
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

    def revoke_all(self, session, user: User) -> None:
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
                return self.issue(s, user, family_id=family.id)

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
