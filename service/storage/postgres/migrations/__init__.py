"""Numbered SQL files: the PostgreSQL schema, one version each."""
