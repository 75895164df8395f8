"""3D avatars: one glTF/GLB model per persona, served through signed URLs. No HTTP here."""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import uuid
from importlib.resources import files
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from bwenge.contracts.answers import ANIMATIONS
from bwenge.contracts.personas import Persona, visible_to
from bwenge.domain import Principal
from bwenge.errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge
from bwenge.utils import new_id, utcnow

from .gltf import GLB_MIME, GLTF_MIME, inspect_model
from .models import Avatar
from .settings import AvatarSettings
from .signing import UrlSigner

log = logging.getLogger("bwenge.avatars")

DEFAULT_ASSET = "default/avatar.glb"
DEFAULT_BOX = {"min": [-0.5, -0.5, -0.5], "max": [0.5, 0.5, 0.5]}
# What /assets/ may serve: generated names only, so nothing can climb out of the folder.
ASSET_PATH = re.compile(r"^(?:avatars/[0-9a-f]{32}\.(?:glb|gltf)|default/avatar\.glb)$")
MIME_BY_EXT = {".glb": GLB_MIME, ".gltf": GLTF_MIME}


def default_avatar_path() -> Path:
    """The shipped default model (package data of this plugin)."""
    return Path(str(files("bwenge_avatars") / "assets" / "default_avatar.glb"))


class AvatarService:
    """Published as the ``"avatars"`` service."""

    def __init__(self, kernel: Any, settings: AvatarSettings, *, blobs: Any, personas: Any):
        self.kernel = kernel
        self.settings = settings
        self.blobs = blobs  # the deployment's blob store; models live under avatars/<name>
        self.personas = personas
        self.signer = UrlSigner.from_settings(settings, kernel.secret_key)

    # -- access -------------------------------------------------------------------

    def _persona(self, principal: Principal, persona_id: str) -> Persona:
        persona = self.personas.get(principal.org_id, persona_id)
        if not visible_to(persona, principal):  # another org's or an unreleased one: absent
            raise NotFound("Persona not found")
        return persona

    def _row(self, s, org_id: str, persona_id: str) -> Avatar | None:
        return s.execute(
            select(Avatar).where(Avatar.org_id == org_id, Avatar.persona_id == persona_id)
        ).scalar_one_or_none()

    # -- reading ------------------------------------------------------------------

    def model_url(self, asset: str) -> str:
        url = self.signer.sign(f"/assets/{asset}", self.settings.url_ttl_seconds)
        base = self.kernel.core.server.public_url
        return f"{base.rstrip('/')}{url}" if base else url

    def get(self, principal: Principal, persona_id: str) -> dict[str, Any]:
        """The seed's ``GET /3d/persona/{id}`` shape; the default avatar when none was uploaded."""
        self._persona(principal, persona_id)
        with self.kernel.db.session() as s:
            row = self._row(s, principal.org_id, persona_id)
        if row is None:
            return {
                "persona_id": persona_id,
                "model_url": self.model_url(DEFAULT_ASSET),
                "animations": list(ANIMATIONS),
                "scale": 1.0,
                "bounding_box": DEFAULT_BOX,
                "version": 0,
                "mime_type": GLB_MIME,
                "name": "Default avatar",
                "is_default": True,
                "expires_in": self.settings.url_ttl_seconds,
            }
        return {
            "persona_id": persona_id,
            "model_url": self.model_url(f"avatars/{row.stored_name}"),
            "animations": row.animations,
            "scale": row.scale,
            "bounding_box": row.bounding_box,
            "version": row.version,
            "mime_type": row.mime_type,
            "name": row.name,
            "is_default": False,
            "expires_in": self.settings.url_ttl_seconds,
            "size_bytes": row.size_bytes,
            "updated_at": row.updated_at.isoformat(),
        }

    # -- writing ------------------------------------------------------------------

    def parse_animations(self, raw: str | None, found_in_model: list[str]) -> list[str]:
        """The ``animations`` form field: a JSON list of known animation names.
        Absent: the known names the model itself contains."""
        import json

        if raw is None or not raw.strip():
            return [a for a in ANIMATIONS if a in found_in_model]
        try:
            value = json.loads(raw)
        except ValueError:
            raise BadRequest('animations must be a JSON list, e.g. ["idle", "talking"].') from None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BadRequest("animations must be a JSON list of animation names.")
        unknown = sorted(set(value) - set(ANIMATIONS))
        if unknown:
            raise BadRequest(f"Unknown animations {unknown}; known: {', '.join(ANIMATIONS)}.")
        return list(dict.fromkeys(value))

    def upload(
        self,
        principal: Principal,
        persona_id: str,
        file: BinaryIO,
        size: int,
        filename: str,
        name: str | None,
        animations: str | None,
        scale: str | float | None,
    ) -> dict[str, Any]:
        """Validate a model by content and make it the persona's avatar.

        Nothing is stored unless every check passes; the previous model's file is
        removed only after the new row is committed.
        """
        self._persona(principal, persona_id)
        if size > self.settings.max_upload_bytes:
            raise PayloadTooLarge(f"Models may be at most {self.settings.max_upload_bytes} bytes.")
        if size == 0:
            raise BadRequest("The uploaded file is empty.")
        ext = Path(filename or "").suffix.lower()
        info = inspect_model(file, size, ext)
        chosen = self.parse_animations(animations, info.animations)
        scale_value = _scale(scale)
        if name is not None and len(name) > 200:
            raise BadRequest("name may be at most 200 characters.")

        stored = f"{uuid.uuid4().hex}.{info.kind}"
        key = f"avatars/{stored}"
        file.seek(0)
        # spooled to disk so the store streams it (and a failed store leaves no row)
        with tempfile.NamedTemporaryFile(suffix=f".{info.kind}") as tmp:
            shutil.copyfileobj(file, tmp, 1024 * 1024)
            tmp.flush()
            self.blobs.put_file(key, Path(tmp.name))
        old_name = None
        try:
            with self.kernel.db.session() as s:
                row = self._row(s, principal.org_id, persona_id)
                now = utcnow()
                if row is None:
                    row = Avatar(
                        id=new_id(), org_id=principal.org_id, persona_id=persona_id, created_at=now
                    )
                    s.add(row)
                else:
                    old_name = row.stored_name
                row.name, row.stored_name = name, stored
                row.original_filename = Path(filename).name[:255]
                row.mime_type, row.size_bytes = info.mime_type, size
                row.animations, row.scale = chosen, scale_value
                row.bounding_box = info.bounding_box
                row.uploaded_by, row.updated_at = principal.user_id, now
        except (IntegrityError, StaleDataError):
            self.blobs.delete(key)
            raise Conflict("Another upload for this persona finished first; try again.") from None
        except BaseException:
            self.blobs.delete(key)
            raise
        if old_name:
            self.blobs.delete(f"avatars/{old_name}")
        return self.get(principal, persona_id)

    def delete(self, principal: Principal, persona_id: str) -> dict[str, Any]:
        """Remove the uploaded model; the persona falls back to the default avatar."""
        self._persona(principal, persona_id)
        with self.kernel.db.session() as s:
            row = self._row(s, principal.org_id, persona_id)
            if row is None:
                raise NotFound("This persona has no uploaded avatar.")
            stored = row.stored_name
            s.delete(row)
        self.blobs.delete(f"avatars/{stored}")
        return {
            "message": "Avatar deleted; the default avatar is used again.",
            "persona_id": persona_id,
        }

    def delete_for_persona(self, org_id: str, persona_id: str) -> None:
        """Drop a deleted persona's avatar (from ``after_persona_change``)."""
        with self.kernel.db.session() as s:
            row = self._row(s, org_id, persona_id)
            if row is None:
                return
            stored = row.stored_name
            s.delete(row)
        self.blobs.delete(f"avatars/{stored}")

    # -- serving -------------------------------------------------------------------

    def resolve_asset(
        self, asset: str, kid: str | None, exp: str | None, sig: str | None
    ) -> tuple[Path | str, str, int]:
        """(shipped file or blob key, mime type, expiry) for a signed asset URL; 403
        for anything not signed by us, expired, or outside the served names."""
        if not ASSET_PATH.match(asset):
            raise Forbidden("This asset path is not served.", code="invalid_asset_path")
        expiry = self.signer.verify(f"/assets/{asset}", kid, exp, sig)
        if asset == DEFAULT_ASSET:
            return default_avatar_path(), GLB_MIME, expiry
        if self.blobs.stat(asset) is None:
            raise NotFound("This avatar was replaced or deleted; ask for the model again.")
        return asset, MIME_BY_EXT[Path(asset).suffix], expiry

    def straggler_keys(self, older_than: float) -> list[str]:
        """Model blobs no avatar row names, last written before ``older_than``
        (POSIX seconds): left by an upload that died between store and commit."""
        with self.kernel.db.session() as s:
            named = {f"avatars/{n}" for n in s.execute(select(Avatar.stored_name)).scalars()}
        return [
            b.key
            for b in self.blobs.list("avatars/")
            if b.key not in named and b.modified < older_than
        ]


def _scale(value: str | float | None) -> float:
    if value is None or value == "":
        return 1.0
    try:
        scale = float(value)
    except (TypeError, ValueError):
        raise BadRequest("scale must be a number.") from None
    if not 0 < scale <= 1000:
        raise BadRequest("scale must be greater than 0 and at most 1000.")
    return scale
