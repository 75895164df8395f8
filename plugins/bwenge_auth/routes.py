"""REST routes of the auth plugin (seed paths and shapes kept)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from bwenge_rest import Message, errors, get_kernel, merge, ok, public, require
from fastapi import APIRouter, BackgroundTasks, Body, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from bwenge.domain import Principal, Role
from bwenge.errors import NotFound, ServiceUnavailable, Unauthorized

from .members import member_view
from .schemas import (
    ApiKeyCreated,
    ApiKeyOut,
    ApiKeyRevoked,
    InviteOut,
    MemberChanged,
    MemberOut,
    OrgOut,
    PasswordResetAccepted,
)
from .services import auth_service, rate_limiter

log = logging.getLogger("bwenge.auth")
router = APIRouter(tags=["auth"])


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limits(request: Request):
    kernel = get_kernel(request)
    return rate_limiter(kernel), kernel.settings_for("auth").rate_limits


# -- request bodies --------------------------------------------------------------


class RegisterIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Amani Uwase",
                    "email": "amani@school.example",
                    "password": "a long passphrase",
                    "org_name": "Lycée de Kigali",
                }
            ]
        }
    )

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)
    org_name: str | None = Field(None, max_length=200)


class LoginIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"email": "amani@school.example", "password": "a long passphrase"}]
        }
    )

    email: str = Field(max_length=320)
    password: str = Field(max_length=256)


class RefreshIn(BaseModel):
    refresh_token: str = Field(max_length=4096)


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class UserOut(BaseModel):
    user_id: str
    name: str
    email: str | None
    role: Role
    is_active: bool
    org_id: str
    created_at: datetime | None


class ProfileIn(BaseModel):
    """Only these fields may change; ``role``/``org_id``/anything else is a 422."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(max_length=256)
    new_password: str = Field(max_length=256)


class InviteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    name: str | None = Field(None, max_length=200)
    role: Role = Role.RECIPIENT


class InviteAcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200)
    password: str = Field(max_length=256)
    name: str | None = Field(None, max_length=200)


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(max_length=64)


class PasswordResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320, examples=["amani@school.example"])


class PasswordResetConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=4096, description="From the reset mail.")
    new_password: str = Field(max_length=256)


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    role: Role = Role.RECIPIENT
    expires_in_days: int | None = Field(None, ge=1, le=3650)


def _me(principal: Principal) -> dict[str, Any]:
    return {
        "user_id": principal.user_id,
        "name": principal.name or "",
        "email": principal.email,
        "role": principal.role,
        "is_active": principal.extra.get("is_active", True),
        "org_id": principal.org_id,
        "created_at": principal.extra.get("created_at"),
    }


def _user(user) -> dict[str, Any]:
    return {
        "user_id": user.id,
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "is_active": user.is_active,
        "org_id": user.org_id,
        "created_at": user.created_at,
    }


def _api_key(key) -> dict[str, Any]:
    return {
        "key_id": key.id,
        "name": key.name,
        "role": key.role,
        "prefix": key.prefix,
        "created_by": key.created_by,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
        "is_active": key.revoked_at is None,
    }


# first: every client calls it on start-up, and routes are matched in order
@router.get("/users/me", operation_id="auth.me", response_model=UserOut, responses=errors(404))
async def me(principal: Principal = Depends(require("user.read_self"))):
    """The caller's profile, from the row the authenticator already loaded (no extra query)."""
    if principal.method == "api_key":
        raise NotFound("API keys have no user profile")
    # Serialised here with the response model's own serializer: every client calls
    # this, and FastAPI would otherwise validate the dict against UserOut again.
    return Response(UserOut(**_me(principal)).model_dump_json(), media_type="application/json")


# -- accounts and tokens -----------------------------------------------------------


@router.post(
    "/auth/register",
    operation_id="auth.register",
    response_model=TokenOut,
    dependencies=[Depends(public())],
    responses=errors(409, 429),
)
async def register(body: RegisterIn, request: Request):
    """Create an account. With ``org_name`` a new org (you are its owner); without,
    a personal org of your own."""
    limiter, limits = _limits(request)
    limiter.hit(limits.registration, "register", client_ip(request))
    _user_row, pair = await auth_service(get_kernel(request)).register(
        body.name, body.email, body.password, body.org_name
    )
    return pair.as_dict()


@router.post(
    "/auth/login",
    operation_id="auth.login",
    response_model=TokenOut,
    dependencies=[Depends(public())],
    responses=errors(401, 429),
)
async def login(body: LoginIn, request: Request):
    limiter, limits = _limits(request)
    ip = client_ip(request)
    limiter.hit(limits.login_per_ip, "login-ip", ip)
    limiter.hit(limits.login, "login", ip, body.email.strip())
    pair = await auth_service(get_kernel(request)).login(body.email, body.password)
    return pair.as_dict()


@router.post(
    "/auth/refresh",
    operation_id="auth.refresh",
    response_model=TokenOut,
    dependencies=[Depends(public())],
    responses=errors(401, 429),
)
async def refresh(
    request: Request,
    body: RefreshIn | None = Body(None),
    refresh_token: str | None = Query(
        None, max_length=4096, description="Seed clients pass the token here."
    ),
):
    """Rotate a refresh token (JSON body ``{"refresh_token"}`` or the seed's query parameter)."""
    limiter, limits = _limits(request)
    limiter.hit(limits.refresh, "refresh", client_ip(request))
    token = body.refresh_token if body is not None else refresh_token
    if not token:
        raise Unauthorized("Missing refresh token", code="invalid_token")
    pair = await auth_service(get_kernel(request)).refresh(token)
    return pair.as_dict()


@router.post("/auth/logout", operation_id="auth.logout", responses=ok(Message))
async def logout(request: Request, principal: Principal = Depends(require("user.logout"))):
    """Sign out this session: its access and refresh tokens stop working at once."""
    await auth_service(get_kernel(request)).logout(principal)
    return {"message": "Logged out"}


@router.patch(
    "/users/me", operation_id="auth.update_me", response_model=UserOut, responses=errors(404)
)
async def update_me(
    body: ProfileIn, request: Request, principal: Principal = Depends(require("user.update_self"))
):
    user = await auth_service(get_kernel(request)).update_profile(principal, name=body.name)
    return _user(user)


@router.post(
    "/users/me/password",
    operation_id="auth.change_password",
    response_model=TokenOut,
    responses=errors(400, 404),
)
async def change_password(
    body: PasswordIn,
    request: Request,
    principal: Principal = Depends(require("user.change_password")),
):
    """Change your password. Every other session is signed out; the response holds a new pair."""
    limiter, limits = _limits(request)
    # the current-password check is a guessing oracle for whoever holds a stolen token
    limiter.hit(limits.login, "password-change", principal.user_id)
    pair = await auth_service(get_kernel(request)).change_password(
        principal, body.current_password, body.new_password
    )
    return pair.as_dict()


# -- organisations and members ----------------------------------------------------------


@router.get("/orgs/{org_id}", operation_id="auth.read_org", responses=ok(OrgOut))
async def read_org(
    org_id: str, request: Request, principal: Principal = Depends(require("org.read"))
):
    org = await run_in_threadpool(auth_service(get_kernel(request)).get_org, principal, org_id)
    return {
        "org_id": org.id,
        "name": org.name,
        "is_personal": org.is_personal,
        "created_at": org.created_at,
    }


@router.post(
    "/orgs/{org_id}/invite",
    operation_id="auth.invite",
    responses=merge(ok(InviteOut), errors(400, 402, 409)),
)
async def invite(
    org_id: str,
    body: InviteIn,
    request: Request,
    principal: Principal = Depends(require("org.members.invite")),
):
    """Invite someone by email. Returns a single-use token (and link, when
    ``server.public_url`` or ``auth.invite_url`` is set) that the invitee accepts
    with ``POST /auth/invites/accept``, choosing their own password."""
    result = await auth_service(get_kernel(request)).invite(
        principal, org_id, body.email, body.role, body.name
    )
    return {
        "message": f"Invitation created for {result.email}",
        "user_id": result.user_id,
        "invite_id": result.invite_id,
        "email": result.email,
        "role": result.role,
        "invite_token": result.token,
        "invite_url": result.url,
        "expires_at": result.expires_at,
    }


@router.post(
    "/auth/invites/accept",
    operation_id="auth.accept_invite",
    response_model=TokenOut,
    dependencies=[Depends(public())],
    responses=errors(400, 402, 429),
)
async def accept_invite(body: InviteAcceptIn, request: Request):
    limiter, limits = _limits(request)
    limiter.hit(limits.invite_accept, "invite-accept", client_ip(request))
    _user_row, pair = await auth_service(get_kernel(request)).accept_invite(
        body.token, body.password, body.name
    )
    return pair.as_dict()


@router.post(
    "/auth/password-reset",
    operation_id="auth.request_password_reset",
    status_code=202,
    dependencies=[Depends(public())],
    responses=merge(ok(PasswordResetAccepted, status=202), errors(429, 503)),
)
async def request_password_reset(
    body: PasswordResetIn, request: Request, background: BackgroundTasks
):
    """Mail a single-use, short-lived reset link to the account's address. The answer
    is the same whether or not the address has an account."""
    kernel = get_kernel(request)
    if auth_service(kernel).mail is None:
        raise ServiceUnavailable("Password reset by mail needs the mail plugin.")
    limiter, limits = _limits(request)
    limiter.hit(limits.password_reset, "password-reset-ip", client_ip(request))
    limiter.hit(limits.password_reset, "password-reset", body.email.strip().lower())
    resets = auth_service(kernel).resets
    message = await run_in_threadpool(resets.message_for, body.email)
    if message is not None:  # sent after the response: its timing tells nothing either
        background.add_task(_send_mail, kernel, message)
    return {"message": "If that address has an account, a reset link is on its way."}


async def _send_mail(kernel, message) -> None:
    from bwenge.utils import await_me_maybe

    try:
        await await_me_maybe(auth_service(kernel).mail.send(message))
    except Exception:
        log.exception("Sending the password-reset mail failed")


@router.post(
    "/auth/password-reset/confirm",
    operation_id="auth.confirm_password_reset",
    dependencies=[Depends(public())],
    responses=merge(ok(Message), errors(400, 429)),
)
async def confirm_password_reset(body: PasswordResetConfirmIn, request: Request):
    """Set a new password with the mailed token; every session of the account is
    signed out. The token works once."""
    limiter, limits = _limits(request)
    limiter.hit(limits.password_reset_confirm, "password-reset-confirm", client_ip(request))
    await auth_service(get_kernel(request)).resets.confirm(body.token, body.new_password)
    return {"message": "Password changed; sign in with the new password."}


@router.get(
    "/orgs/{org_id}/members", operation_id="auth.list_members", responses=ok(list[MemberOut])
)
async def members(
    org_id: str, request: Request, principal: Principal = Depends(require("org.members.list"))
):
    users = await run_in_threadpool(
        auth_service(get_kernel(request)).list_members, principal, org_id
    )
    return [member_view(u) for u in users]


@router.patch(
    "/orgs/{org_id}/members/{user_id}",
    operation_id="auth.change_role",
    responses=merge(ok(MemberOut), errors(400, 409)),
)
async def change_role(
    org_id: str,
    user_id: str,
    body: RoleIn,
    request: Request,
    principal: Principal = Depends(require("org.members.change_role")),
):
    """Change a member's role; their outstanding tokens are revoked."""
    user = await auth_service(get_kernel(request)).change_role(
        principal, org_id, user_id, body.role
    )
    return member_view(user)


@router.delete(
    "/orgs/{org_id}/members/{user_id}",
    operation_id="auth.remove_member",
    responses=merge(ok(MemberChanged), errors(400, 409)),
)
async def remove_member(
    org_id: str,
    user_id: str,
    request: Request,
    principal: Principal = Depends(require("org.members.remove")),
):
    await auth_service(get_kernel(request)).remove_member(principal, org_id, user_id)
    return {"message": "Member removed", "user_id": user_id}


@router.post(
    "/orgs/{org_id}/transfer-ownership",
    operation_id="auth.transfer_ownership",
    responses=merge(ok(MemberChanged), errors(400, 409)),
)
async def transfer_ownership(
    org_id: str,
    body: TransferIn,
    request: Request,
    principal: Principal = Depends(require("org.transfer_ownership")),
):
    """Hand the org to another active member; you become an admin and sign in again."""
    await auth_service(get_kernel(request)).transfer_ownership(principal, org_id, body.user_id)
    return {"message": "Ownership transferred", "user_id": body.user_id}


# -- API keys ------------------------------------------------------------------------------


@router.post(
    "/orgs/{org_id}/api-keys",
    status_code=201,
    operation_id="auth.create_api_key",
    responses=merge(ok(ApiKeyCreated, status=201), errors(400)),
)
async def create_api_key(
    org_id: str,
    body: ApiKeyIn,
    request: Request,
    principal: Principal = Depends(require("org.api_keys.manage")),
):
    """Create an API key scoped to this org and a role. ``key`` is shown only here."""
    created = await run_in_threadpool(
        auth_service(get_kernel(request)).create_api_key,
        principal,
        org_id,
        body.name,
        body.role,
        body.expires_in_days,
    )
    return {**_api_key(created.key), "key": created.secret}


@router.get(
    "/orgs/{org_id}/api-keys", operation_id="auth.list_api_keys", responses=ok(list[ApiKeyOut])
)
async def list_api_keys(
    org_id: str, request: Request, principal: Principal = Depends(require("org.api_keys.manage"))
):
    keys = await run_in_threadpool(
        auth_service(get_kernel(request)).list_api_keys, principal, org_id
    )
    return [_api_key(k) for k in keys]


@router.delete(
    "/orgs/{org_id}/api-keys/{key_id}",
    operation_id="auth.revoke_api_key",
    responses=ok(ApiKeyRevoked),
)
async def revoke_api_key(
    org_id: str,
    key_id: str,
    request: Request,
    principal: Principal = Depends(require("org.api_keys.manage")),
):
    key = await run_in_threadpool(
        auth_service(get_kernel(request)).revoke_api_key, principal, org_id, key_id
    )
    return {"message": "API key revoked", **_api_key(key)}
