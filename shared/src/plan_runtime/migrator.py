"""`python -m plan_runtime.migrator [schema ...]`: apply each service's migrations as the migration role, then
its runtime role's grants. The DSN comes from MIGRATION_DATABASE_URL (the role that owns the schemas).

Locally `python -m infra migrate` (and `infra up`) call this; docker-compose runs it as a one-shot container.
"""

import argparse
import asyncio
import importlib
import os
import sys
from pathlib import Path

from plan_runtime.db import create_pool
from plan_runtime.migrations import RUNTIME_MIGRATIONS, apply_grants, migrate

# schema: (python package whose `migrations/` folder is the service's track, the track's name)
SERVICES = {
    "enrollment": ("enrollment", "enrollment"),
    "funding": ("funding", "funding"),
    "talent_card": ("talent_card", "talent-card"),
    "portal": ("portal", "portal"),
}


def tracks(schema: str) -> dict[str, Path]:
    package, track = SERVICES[schema]
    folder = Path(importlib.import_module(package).__file__ or "").parent / "migrations"
    return {"runtime": RUNTIME_MIGRATIONS, track: folder}


async def migrate_service(dsn: str, schema: str, role: str | None = None) -> list[str]:
    """Migrations as the role of `dsn`, then the grants of the runtime role (by default named as the schema)."""
    pool = await create_pool(dsn, schema, size=2)
    try:
        applied = await migrate(pool, schema, tracks(schema))
        async with pool.acquire() as conn:
            await apply_grants(conn, schema, role or schema, tracks(schema))
    finally:
        await pool.close()
    return applied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m plan_runtime.migrator", description=__doc__)
    parser.add_argument("schemas", nargs="*", metavar="schema", help=f"any of {', '.join(SERVICES)} (default: all)")
    args = parser.parse_args(argv)
    unknown = set(args.schemas) - set(SERVICES)
    if unknown:
        parser.error(f"unknown schema(s): {', '.join(sorted(unknown))}")
    dsn = os.environ.get("MIGRATION_DATABASE_URL")
    if not dsn:
        print("set MIGRATION_DATABASE_URL to the migration role's DSN", file=sys.stderr)
        return 2
    for schema in args.schemas or SERVICES:
        applied = asyncio.run(migrate_service(dsn, schema))
        print(f"{schema}: {len(applied)} migration(s) applied, grants of role {schema} applied")
    return 0


if __name__ == "__main__":
    sys.exit(main())
