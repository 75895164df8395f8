"""Outgoing mail: the ``log`` and ``smtp`` senders and the ``"mail"`` service."""
