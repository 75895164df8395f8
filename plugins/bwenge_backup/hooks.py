"""Hook implementations of the backup plugin: its commands and its service."""

from __future__ import annotations

from bwenge import hookimpl


@hookimpl
def register_commands(cli):
    from .commands import add_commands

    add_commands(cli)


@hookimpl
def register_services(register):
    from .services import Backup, make_backup

    register("backup", make_backup, provides=Backup, optional=("knowledge",))
