"""Password hashing, token signing and secret hashing. No HTTP, no database."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bwenge.errors import Unauthorized, Unprocessable
from bwenge.utils import utcnow

ALGORITHM = "HS256"  # pinned: decode() accepts nothing else, so alg=none/RS-confusion fail
REQUIRED_CLAIMS = ["exp", "iat", "sub", "typ"]
LEEWAY = 5  # seconds of clock skew tolerated on exp/iat
VERIFIED_CACHE_SIZE = 10_000
ACCESS, REFRESH = "access", "refresh"
API_KEY_PREFIX = "bw_"

COMMON_PASSWORDS = frozenset(
    """
password password1 password12 password123 passw0rd 12345678 123456789 1234567890 qwertyuiop
qwerty123 11111111 00000000 iloveyou abc12345 abcd1234 letmein1 welcome1 admin123 sunshine
football baseball monkey123 dragon12 trustno1 changeme changeme1 administrator 1q2w3e4r
qwerty12 asdfghjk zxcvbnm1 bwenge123 superman princess starwars
""".split()
)


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


class Passwords:
    """argon2id hashing with rehash-on-login and a dummy verify for unknown
    emails, so both failures cost the same."""

    def __init__(
        self,
        time_cost: int | None = None,
        memory_cost_kib: int | None = None,
        parallelism: int | None = None,
        min_length: int = 8,
    ):
        kwargs: dict[str, Any] = {}
        if time_cost:
            kwargs["time_cost"] = time_cost
        if memory_cost_kib:
            kwargs["memory_cost"] = memory_cost_kib
        if parallelism:
            kwargs["parallelism"] = parallelism
        self.hasher = PasswordHasher(**kwargs)  # argon2id is argon2-cffi's default type
        self.min_length = min_length
        self._dummy = self.hasher.hash(random_token(16))

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; a missing hash still spends one verify."""
        try:
            return (
                self.hasher.verify(stored_hash or self._dummy, password) and stored_hash is not None
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(stored_hash)
        except (InvalidHashError, ValueError):
            return True

    def check_strength(
        self, password: str, *, email: str | None = None, name: str | None = None
    ) -> None:
        """Raise :class:`Unprocessable` for a weak password (seed minimum 8 chars)."""
        problem = None
        lowered = password.lower()
        if len(password) < self.min_length:
            problem = f"must be at least {self.min_length} characters"
        elif len(password) > 256:
            problem = "must be at most 256 characters"
        elif lowered in COMMON_PASSWORDS:
            problem = "is one of the most common passwords"
        elif len(set(password)) < 4:
            problem = "needs more different characters"
        elif email and len(local := email.split("@")[0].lower()) >= 4 and local in lowered:
            problem = "must not contain your email address"
        elif name and len(name) >= 4 and name.lower() == lowered:
            problem = "must not be your name"
        if problem:
            raise Unprocessable(
                f"Password {problem}.", code="weak_password", details={"field": "password"}
            )


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"

    def as_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
        }


class TokenCodec:
    """Signs and checks Bwenge JWTs (HS256 only, required claims enforced)."""

    def __init__(self, secret: str, issuer: str):
        # a key of its own, so a leak elsewhere of something signed with
        # secret_key cannot mint tokens
        self.key = hmac.new(secret.encode(), b"bwenge-auth-jwt-v1", hashlib.sha256).digest()
        self.issuer = issuer
        # token string -> verified claims. The same string always verifies the same
        # way, so a client reusing its access token skips the HMAC/base64/JSON work;
        # expiry is still checked on every use and revocation by the caller's query.
        self._verified: dict[str, dict[str, Any]] = {}
        self.clock = time.time

    def encode(
        self, typ: str, sub: str, ttl: timedelta, now: datetime | None = None, **claims: Any
    ) -> str:
        now = now or utcnow()
        payload = {
            "sub": sub,
            "typ": typ,
            "iat": now,
            "exp": now + ttl,
            "iss": self.issuer,
            **claims,
        }
        return jwt.encode(payload, self.key, algorithm=ALGORITHM)

    def decode(self, token: str, typ: str) -> dict[str, Any]:
        """Verified claims of ``token`` if it is a valid, unexpired ``typ`` token."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token)
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.clear()  # crude bound; refilling costs one verify per token
            self._verified[token] = claims
        elif claims["exp"] + LEEWAY < self.clock():
            self._verified.pop(token, None)
            raise _unauthorized("Token expired", "token_expired")
        if claims.get("typ") != typ or not isinstance(claims.get("sub"), str):
            raise _unauthorized("Invalid token", "invalid_token")
        return dict(claims)

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                self.key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                options={"require": [*REQUIRED_CLAIMS, "iss"]},
                leeway=LEEWAY,
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized("Token expired", "token_expired") from None
        except jwt.PyJWTError:
            raise _unauthorized("Invalid token", "invalid_token") from None


def _unauthorized(message: str, code: str) -> Unauthorized:
    return Unauthorized(
        message, code=code, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
    )
