"""Backup and restore of an embedded instance; export and import of one organisation."""
