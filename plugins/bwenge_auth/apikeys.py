"""API keys: an org's machine credentials."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

from sqlalchemy import bindparam, select

from bwenge.domain import Principal, Role
from bwenge.errors import Unauthorized
from bwenge.kernel import Kernel
from bwenge.tenancy import ensure_org, get_in_org
from bwenge.utils import new_id, utcnow

from .base import AuthPart
from .fastquery import CompiledQuery
from .members import Members, _role
from .models import ApiKey
from .security import API_KEY_PREFIX, random_token, sha256


@dataclass(frozen=True)
class NewApiKey:
    key: ApiKey
    secret: str  # shown once


class ApiKeys(AuthPart):
    """Create, list, revoke and check API keys."""

    def __init__(self, kernel: Kernel, members: Members):
        super().__init__(kernel)
        self.members = members

    @cached_property
    def _api_key_query(self) -> CompiledQuery:
        stmt = select(
            ApiKey.id, ApiKey.org_id, ApiKey.role, ApiKey.name, ApiKey.expires_at, ApiKey.revoked_at
        ).where(ApiKey.key_hash == bindparam("key_hash"))
        return CompiledQuery(self.db.engine, stmt)

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
        self.members.check_grant(principal, role)
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
