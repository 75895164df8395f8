"""Bwenge built-in plugin: avatars."""
