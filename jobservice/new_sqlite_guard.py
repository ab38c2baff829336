"""No new SQLite database beside a result store that names a database: asked before one is made.

A host of a PostgreSQL deployment started without `PHONOS_DATABASE_URL` (`phonos serve --data-dir /shared`) was
refused by its job service (jobservice/result_store_identity.py: the results directory belongs to another
database), but only after `phonos serve` had made `phonos.sqlite3` in the shared directory, an admin account and
key (printed), its lock file and Triton's log, and started Triton; `phonos accounts list --data-dir /shared` then
listed the stray admin and `phonos keys create` added accounts to that stray database without a word.

A results directory whose `.phonos-database-id` names a database, in a data directory with no SQLite database,
belongs to a database that is not here: PostgreSQL's (the case above), or this directory's own SQLite database, lost
(removed by hand, a restore that left it out). Either way a new database must not be made there: its id would not be
the marker's, so its job service would refuse the directory anyway, and two databases must not share one result
store (each one's orphan sweep deletes the other's files). So `phonos serve` and the operator commands that would
make the database ask `new_sqlite_refusal` first and refuse with its line, before anything is created or printed.

The legitimate starts are untouched: a fresh data directory (no marker), a restart (the database is there: the job
service's own check applies), a restored backup (`phonos backup` copies the database with the marker), and
PostgreSQL (no SQLite file is made).
"""

from __future__ import annotations

from pathlib import Path

from jobservice.result_store_identity import MARKER_NAME, read_marker
from phonos_config.service import ServiceSettings


def has_database(database_path: Path) -> bool:
    """A SQLite database is there; an empty file is none (secure_data_dir makes it empty, 0600, before SQLite
    first writes it: a start stopped in between left one)."""
    try:
        return database_path.stat().st_size > 0
    except OSError:  # none there, or a path that cannot hold one (its data directory a file): said by the start
        return False


def new_sqlite_refusal(settings: ServiceSettings) -> str | None:
    """Why a new SQLite database must not be made for `settings` (one line, as ResultStoreMismatch says it); None
    when it may: PostgreSQL, a database already there, or no marker. A marker that cannot be read (a directory
    that is not ours) is left to the start's own checks, which say why."""
    database_path = settings.sqlite_path
    if database_path is None or has_database(database_path):
        return None
    results_dir = settings.results_dir
    try:
        marker = read_marker(results_dir)
    except OSError:
        return None
    if marker is None:
        return None
    return (f"the results directory {results_dir} belongs to another database: its {MARKER_NAME} names database "
            f"{marker or '(empty)'}, and there is no SQLite database in {settings.data_dir} ({database_path.name}), "
            "so a new one would be made beside another database's files. Two databases must not share one result "
            "store: each one's orphan sweep deletes the other's files. If job services share this directory on "
            f"PostgreSQL (the database whose `SELECT database_id FROM store_identity` is {marker or '(empty)'}), set "
            "PHONOS_DATABASE_URL on this host as theirs is; else give this one its own PHONOS_DATA_DIR "
            f"(--data-dir). If this directory's own {database_path.name} was lost, put it back from a backup "
            f"(`phonos backup` copies it with the marker); to start afresh here instead, move {results_dir} away "
            "first")
