"""HMAC-signed, expiring asset URLs with key ids, so keys can rotate.

A URL is ``/assets/<path>?kid=<key id>&exp=<unix seconds>&sig=<base64url HMAC-SHA256>``
over ``kid``, ``exp`` and the path. Every worker derives the same keys from config,
so a URL one worker signs verifies on any other (the seed's per-process random
secret broke exactly that).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote

from bwenge.errors import Forbidden


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class UrlSigner:
    def __init__(self, keys: dict[str, bytes], active_kid: str):
        if active_kid not in keys:
            raise ValueError(f"active key {active_kid!r} is not among the signing keys")
        self.keys = keys
        self.active_kid = active_kid

    @classmethod
    def from_settings(cls, settings, secret_key: str) -> UrlSigner:
        if settings.signing_keys:
            keys = {kid: s.get_secret_value().encode() for kid, s in settings.signing_keys.items()}
            return cls(keys, settings.active_key)
        # Derived, not random: every process with the same secret_key agrees. The kid
        # names the derived key, so URLs signed before a secret_key change are refused
        # as "unknown key" rather than as a forgery.
        key = hmac.new(
            secret_key.encode(), b"bwenge.avatars.asset-urls.v1", hashlib.sha256
        ).digest()
        kid = "d" + hashlib.sha256(key).hexdigest()[:10]
        return cls({kid: key}, kid)

    def _sig(self, key: bytes, kid: str, exp: int, path: str) -> str:
        msg = f"{kid}\n{exp}\n{path}".encode()
        return _b64(hmac.new(key, msg, hashlib.sha256).digest())

    def sign(self, path: str, ttl: int, now: float | None = None) -> str:
        """``path`` (starting with /assets/) plus the signed query string."""
        exp = int((now if now is not None else time.time()) + ttl)
        sig = self._sig(self.keys[self.active_kid], self.active_kid, exp, path)
        return f"{quote(path)}?kid={self.active_kid}&exp={exp}&sig={sig}"

    def verify(
        self, path: str, kid: str | None, exp: str | None, sig: str | None, now: float | None = None
    ) -> int:
        """Return the expiry when the signature is valid for ``path``; else 403."""
        if not kid or not exp or not sig:
            raise Forbidden("This asset URL is not signed.", code="invalid_signature")
        key = self.keys.get(kid)
        if key is None:
            raise Forbidden(
                "This asset URL was signed with an unknown or retired key.", code="unknown_key"
            )
        if not exp.isdigit() or len(exp) > 12:
            raise Forbidden("This asset URL is malformed.", code="invalid_signature")
        if not hmac.compare_digest(self._sig(key, kid, int(exp), path), sig):
            raise Forbidden("This asset URL's signature does not match.", code="invalid_signature")
        if int(exp) < (now if now is not None else time.time()):
            raise Forbidden(
                "This asset URL has expired; ask for the model again.", code="url_expired"
            )
        return int(exp)
