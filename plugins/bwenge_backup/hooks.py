"""Hook implementations of the backup plugin: its commands."""

from __future__ import annotations

from bwenge import hookimpl


@hookimpl
def register_commands(cli):
    from .commands import add_commands

    add_commands(cli)
