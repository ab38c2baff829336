"""Helpers shared by the structure models: structure files, weight provenance, typed errors."""
