"""The ``auth`` service: identity and membership logic. Takes and returns domain
values; no HTTP.

Declared as the ``auth`` service (``kernel.service("auth")``). It is a thin
composition of four parts, one per noun: :class:`~bwenge_auth.accounts.Accounts`
(registration, login, passwords, users), :class:`~bwenge_auth.tokens.Tokens`
(access/refresh tokens, families, logout), :class:`~bwenge_auth.members.Members`
(org membership, invites, roles) and :class:`~bwenge_auth.apikeys.ApiKeys`. Methods
that hash passwords or touch the database run that work in a worker thread, so they
are ``async``; the CLI drives them with ``asyncio.run``.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from bwenge.kernel import Kernel

from .accounts import Accounts
from .apikeys import ApiKeys
from .members import Members
from .tokens import Tokens


class AuthService:
    """Accounts, organisations, tokens, invites and API keys."""

    def __init__(self, kernel: Kernel, *, mail: Any = None):
        self.kernel = kernel
        self.mail = mail  # the ``mail`` service when a plugin provides one
        self.settings = kernel.settings_for("auth")
        self.tokens = Tokens(kernel)
        self.accounts = Accounts(kernel, self.tokens)
        self.members = Members(kernel, self.accounts, self.tokens)
        self.api_keys = ApiKeys(kernel, self.members)
        self.codec = self.tokens.codec
        self.passwords = self.accounts.passwords
        # the service's public operations, each answered by the part that owns it
        self.principal_from_access_token = self.tokens.principal_from_access_token
        self.refresh = self.tokens.refresh
        self.logout = self.tokens.logout
        self.register = self.accounts.register
        self.login = self.accounts.login
        self.change_password = self.accounts.change_password
        self.update_profile = self.accounts.update_profile
        self.get_user = self.accounts.get_user
        self.get_org = self.accounts.get_org
        self.invite = self.members.invite
        self.accept_invite = self.members.accept_invite
        self.list_members = self.members.list_members
        self.change_role = self.members.change_role
        self.remove_member = self.members.remove_member
        self.transfer_ownership = self.members.transfer_ownership
        self.principal_from_api_key = self.api_keys.principal_from_api_key
        self.create_api_key = self.api_keys.create_api_key
        self.list_api_keys = self.api_keys.list_api_keys
        self.revoke_api_key = self.api_keys.revoke_api_key

    @property
    def db(self):
        return self.kernel.db

    @cached_property
    def resets(self):
        """Password resets by mailed token, and the operator's reset."""
        from .reset import PasswordResets

        return PasswordResets(self)
