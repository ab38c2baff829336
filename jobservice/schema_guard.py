"""A job service older than the database's schema refuses to start.

Several job services share one PostgreSQL, and an upgrade that rolls them one by one (Kubernetes' default rolling
update) leaves old ones running beside the new one that migrated the schema; a downgrade of a single machine leaves
an old binary on a new SQLite file. Migrations only move forward, so the old code would read and write tables it does
not know the shape of (new NOT NULL columns, renamed states): wrong answers or lost data, silently. Both migrators
call `check` with the schema version they found and the newest migration they know.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer phonos than this job service."""

    def __init__(self, found: int, known: int) -> None:
        super().__init__(f"its schema is at version {found}, newer than this job service knows ({known}): a newer "
                         "phonos migrated it. Run that version (or a newer one) here; stop older job services "
                         "before upgrading the next")
        self.found = found
        self.known = known


def say_migrated(database: str, before: int, after: int, applied: int, seconds: float) -> None:
    """One line when a start moved the schema (an upgrade: the operator's record of when, and from which version),
    none when there was nothing to do. SQLite said nothing at all before; PostgreSQL only each migration's number."""
    if applied:
        moved = f"created at {after:04d}" if before == 0 else f"migrated {before:04d} -> {after:04d}"
        log.info("%s schema %s (%d migrations, %.1f s)", database, moved, applied, seconds,
                 extra={"action": "db.schema_migrated", "from_version": before, "to_version": after})


def check(found: int, known: int) -> None:
    if found > known:
        raise SchemaTooNew(found, known)
