"""``bwenge users ...``: make the first owner without hard-coded accounts."""

from __future__ import annotations

from typing import Annotated

import typer

users_cli = typer.Typer(help="Users and organisations.", no_args_is_help=True)


@users_cli.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="The owner's email (their login).", prompt=True)],
    name: Annotated[str, typer.Option(help="Display name.", prompt=True)],
    org_name: Annotated[
        str,
        typer.Option(
            "--org-name", help="Name of the new organisation.", prompt="Organisation name"
        ),
    ],
    password: Annotated[
        str,
        typer.Option(
            help="Password (prompted when omitted; or set BWENGE_ADMIN_PASSWORD).",
            envvar="BWENGE_ADMIN_PASSWORD",
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
        ),
    ],
    platform_admin: Annotated[
        bool, typer.Option("--platform-admin", help="Also mark the account as a platform operator.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the new ids as JSON.")] = False,
) -> None:
    """Create an organisation and its owner (the first account of an instance)."""
    from bwenge.cli import console, fail, load_kernel, run_async
    from bwenge.errors import BwengeError

    from .services import auth_service

    kernel = load_kernel(migrate=True)
    try:
        user, _pair = run_async(
            auth_service(kernel).register(
                name, email, password, org_name, is_platform_admin=platform_admin, via="cli"
            )
        )
    except BwengeError as exc:
        fail(exc.message)
        return
    finally:
        kernel.database.dispose()
    if as_json:
        import json

        ids = {"user_id": user.id, "org_id": user.org_id, "email": user.email}
        print(json.dumps({**ids, "is_platform_admin": platform_admin}))
        return
    extra = " (platform admin)" if platform_admin else ""
    console.print(
        f"Created owner {user.email}{extra} of organisation {org_name!r} "
        f"(org_id {user.org_id}, user_id {user.id}).",
        highlight=False,
    )


@users_cli.command("reset-password")
def reset_password(
    email: Annotated[str, typer.Argument(help="The account's email.")],
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the new password from standard input (for scripts)."
        ),
    ] = False,
) -> None:
    """Set a new password for an account and sign out all its sessions.

    Prompts for the password (twice) unless ``--password-stdin`` is given.
    """
    import sys

    from bwenge.cli import console, fail, load_kernel, run_async
    from bwenge.errors import BwengeError

    from .services import auth_service

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail("No password on standard input.", 2)
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    kernel = load_kernel(migrate=True)
    try:
        user = run_async(auth_service(kernel).resets.set_password(email, password))
    except BwengeError as exc:
        fail(exc.message)
        return
    finally:
        kernel.database.dispose()
    console.print(f"Password of {user.email} reset; every session was signed out.", highlight=False)
