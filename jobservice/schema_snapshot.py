"""Print the schema that the migrations produce (for jobservice/sql/schema.sql)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from jobservice.db import Database

HEADER = """-- Generated snapshot of the schema the migrations produce; tests/unit/test_service_units.py keeps it honest.
-- Regenerate: python -m jobservice.schema_snapshot > jobservice/sql/schema.sql
"""


async def snapshot() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "schema.sqlite3")
        try:
            rows = await db.schema()
        finally:
            await db.close()
    return HEADER + "".join(f"\n{sql};\n" for _, sql in rows)


if __name__ == "__main__":
    sys.stdout.write(asyncio.run(snapshot()))
