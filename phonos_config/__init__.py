"""Typed settings for every phonos process, read once from PHONOS_* environment variables."""
