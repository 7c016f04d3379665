"""A private PostgreSQL 15 cluster: one database; per service a schema owned by the migration role, and a
runtime role with only the grants the service needs. Every connection, local ones included, needs a password
(scram-sha-256).

The cluster lives in `.local/postgres` when the `postgres` user (which runs initdb and pg_ctl when we are
root) can enter the checkout; otherwise — a clone in a mode-700 home directory — in
`/var/tmp/talentplan-<hash of the clone's path>/postgres` (`where()` says which; `wipe` deletes it).
"""

import asyncio
import glob
import hashlib
import os
import pwd
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import asyncpg

from infra import secrets
from infra.paths import LOCAL, LOGS

PORT = int(os.environ.get("PLAN_PG_PORT", "5432"))
DATABASE = "talentplan"
SERVICES = {"enrollment": "ENROLLMENT", "funding": "FUNDING", "talent_card": "TALENT_CARD", "portal": "PORTAL"}
MIGRATOR = "plan_migrator"  # owns every service schema and applies the migrations; no service runs as it
OUTSIDE = Path("/var/tmp")
SOCKET_PATH_MAX = 100  # a unix socket's path has room for 107 bytes


def postgres_can_enter(directory: Path) -> bool:
    """Can the user that runs the cluster reach `directory` (or, if it does not exist yet, its nearest
    existing ancestor, where we would create it)? Always true unless we are root (then it is `postgres`)."""
    if os.geteuid() != 0:
        return True
    existing = directory
    while not existing.exists():
        existing = existing.parent
    probe = ["runuser", "-u", "postgres", "--", "test", "-x", str(existing)]
    return subprocess.run(probe, cwd="/", capture_output=True).returncode == 0


def choose_home(local: Path, can_enter: Callable[[Path], bool] = postgres_can_enter) -> Path:
    """Where the cluster (data, sockets, log) lives for the checkout whose state directory is `local`."""
    inside = local / "postgres"
    digest = hashlib.sha256(str(local.resolve()).encode()).hexdigest()[:12]
    outside = OUTSIDE / f"talentplan-{digest}" / "postgres"
    for home in (inside, outside):  # a cluster that exists stays where it is
        if (home / "data" / "PG_VERSION").exists():
            return home
    socket = inside / "run" / f".s.PGSQL.{PORT}"
    if len(str(socket).encode()) <= SOCKET_PATH_MAX and can_enter(local):
        return inside
    return outside


HOME = choose_home(LOCAL)
DATA = HOME / "data"
SOCKETS = HOME / "run"
LOG = HOME / "postgres.log"


def where() -> str:
    inside = HOME == LOCAL / "postgres"
    return f"{HOME}" + ("" if inside else f" (the postgres user cannot use {LOCAL}, so the cluster lives outside it)")


def _bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    if not found:
        raise SystemExit(f"PostgreSQL's {name} was not found: install postgresql (15)")
    return found


def _as_owner(args: list[str]) -> list[str]:
    """initdb and pg_ctl refuse to run as root: run them as the `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _run_as_owner(args: list[str], check: bool = True) -> None:
    # cwd "/": the postgres user may not be able to enter the directory we were started in
    subprocess.run(_as_owner(args), check=check, stdout=subprocess.DEVNULL, cwd="/")


def _url(user: str, password: str, database: str) -> str:
    """A DSN over the cluster's Unix socket (libpq's and asyncpg's `host=` a directory). Everything that `make
    infra` serves runs on the box PostgreSQL runs on, and a round trip over the socket took 42 µs of client CPU
    against 56 µs over loopback TCP (81 against 111 µs of wall time); three full plans used 102-110 CPU-seconds
    against 110-123 over TCP (docs/performance.md, seventh round). The socket asks for the password as TCP does
    (`--auth-local=scram-sha-256`). docker-compose's services connect over its network."""
    return f"postgresql://{user}:{password}@/{database}?host={quote(str(SOCKETS))}&port={PORT}"


def admin_url(database: str = DATABASE) -> str:
    return _url("postgres", secrets.load()["PG_ADMIN_PASSWORD"], database)


def migrator_url(database: str = DATABASE) -> str:
    return _url(MIGRATOR, secrets.load()["MIGRATOR_DB_PASSWORD"], database)


def service_url(schema: str, database: str = DATABASE) -> str:
    password = secrets.load()[f"{SERVICES[schema]}_DB_PASSWORD"]
    return _url(schema, password, database)


def running() -> bool:
    return subprocess.run([_bin("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(PORT)]).returncode == 0


def _owner() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    pg = pwd.getpwnam("postgres")
    return pg.pw_uid, pg.pw_gid


def _initdb() -> None:
    HOME.mkdir(parents=True, exist_ok=True)
    SOCKETS.mkdir(exist_ok=True)
    owner = _owner()
    if owner is not None:
        for path in (HOME, SOCKETS):
            os.chown(path, *owner)
    HOME.chmod(0o700)
    pwfile = HOME / "pwfile"
    secrets.write_private(pwfile, secrets.load()["PG_ADMIN_PASSWORD"] + "\n", owner)
    try:
        _run_as_owner(
            [
                _bin("initdb"),
                "-D",
                str(DATA),
                "-U",
                "postgres",
                f"--pwfile={pwfile}",
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        )
    finally:
        pwfile.unlink(missing_ok=True)
    with (DATA / "postgresql.conf").open("a") as conf:
        conf.write(
            f"\nlisten_addresses = '127.0.0.1'\nport = {PORT}\n"
            # a list setting: a directory with spaces must be double-quoted inside the value
            f"unix_socket_directories = '\"{SOCKETS}\"'\nmax_connections = 200\n"
            "synchronous_commit = on\nfsync = on\npassword_encryption = 'scram-sha-256'\n"
        )


PASSWORDLESS = re.compile(r"^(\s*(?:local|host\w*)\s.*?\s)(trust|peer|ident|password|md5)(\s*(?:#.*)?)$")


def require_passwords(hba: str) -> str:
    """pg_hba.conf with every rule that lets a client in without a scram-sha-256 password changed to it."""
    return "".join(PASSWORDLESS.sub(r"\1scram-sha-256\3", line) for line in hba.splitlines(keepends=True))


def _require_passwords() -> bool:
    """A cluster initialised with `trust` for local connections (before this rule): convert it. Idempotent."""
    hba = DATA / "pg_hba.conf"
    before = hba.read_text()
    after = require_passwords(before)
    if after == before:
        return False
    with hba.open("w") as file:  # in place: the file keeps its owner and mode
        file.write(after)
    print("postgres: pg_hba.conf now asks every connection, local ones included, for a scram-sha-256 password")
    return True


# Passed on every start, so clusters made before a change get it too (docs/performance.md, "The database's settings"):
# a cache that holds the plan's working set (the box has 24 GB; 256 MB made the backends write dirty pages
# themselves), checkpoints far enough apart that a full plan's WAL (about 1 GB from empty) does not force one
# (each checkpoint makes the next change to every page log the whole page), and statement statistics for
# profiling (`SELECT … FROM pg_stat_statements`, the extension is created by `migrate`). A random page read costs
# what a sequential one does, nearly (`random_page_cost` 1.1, the usual value for SSDs and for data held in memory, as
# here): at the default 4 the planner answered a cohort's histories (a join of 10,000 people on `unnest`) with a
# sequential scan of every enrolment and a hash join, and a completions chunk with a scan of all its institution's
# enrolments, instead of one index lookup per row: 490 ms against 117 ms per 10,000-row chunk on 830,000 enrolments.
SETTINGS = {
    "shared_buffers": "1GB",
    "random_page_cost": "1.1",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",
}


def start() -> None:
    """Start the cluster (idempotent), create the roles and schemas, apply every service's migrations and grants."""
    converted = (DATA / "PG_VERSION").exists() and _require_passwords()
    if running():
        print(f"postgres: already answering on 127.0.0.1:{PORT}")
        if converted:
            _run_as_owner([_bin("pg_ctl"), "-D", str(DATA), "reload"])
    else:
        if not (DATA / "PG_VERSION").exists():
            _initdb()
        LOGS.mkdir(parents=True, exist_ok=True)
        options = " ".join(f"-c {name}={value}" for name, value in SETTINGS.items())
        _run_as_owner([_bin("pg_ctl"), "-D", str(DATA), "-l", str(LOG), "-w", "-t", "60", "-o", options, "start"])
        print(f"postgres: started on 127.0.0.1:{PORT} (data: {where()}; log: {LOG})")
    migrate()


def stop() -> None:
    if (DATA / "postmaster.pid").exists():
        _run_as_owner([_bin("pg_ctl"), "-D", str(DATA), "-m", "fast", "-w", "stop"], check=False)
        print("postgres: stopped")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def _provision(database: str = DATABASE, fresh: bool = False) -> None:
    """Idempotent: the database; the migration role, which owns one schema per service; per service a runtime
    login role with no privilege but CONNECT (its grants come with the migrations). Converts a cluster of
    the older model, in which each service's role owned its schema."""
    values = secrets.load()
    conn = await asyncpg.connect(admin_url("postgres"))
    try:
        if fresh:
            await conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await conn.execute(f"CREATE DATABASE {database}")
        roles = {MIGRATOR: values["MIGRATOR_DB_PASSWORD"]}
        roles |= {schema: values[f"{prefix}_DB_PASSWORD"] for schema, prefix in SERVICES.items()}
        for role, password in roles.items():
            verb = "ALTER" if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role) else "CREATE"
            await conn.execute(
                f"{verb} ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
                f"PASSWORD {_literal(password)}"
            )
    finally:
        await conn.close()
    conn = await asyncpg.connect(admin_url(database))
    try:
        await conn.execute(f"REVOKE ALL ON DATABASE {database} FROM PUBLIC")
        await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        if "pg_stat_statements" in await conn.fetchval("SHOW shared_preload_libraries"):
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute(f"GRANT CONNECT ON DATABASE {database} TO {MIGRATOR}, {', '.join(SERVICES)}")
        # the older model: the runtime roles owned their schemas and tables; the migration role owns them now
        await conn.execute(f"REASSIGN OWNED BY {', '.join(SERVICES)} TO {MIGRATOR}")
        for schema in SERVICES:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {MIGRATOR}")
            await conn.execute(f"ALTER SCHEMA {schema} OWNER TO {MIGRATOR}")
            await conn.execute(f"REVOKE ALL ON SCHEMA {schema} FROM PUBLIC")
    finally:
        await conn.close()


async def _migrate(database: str) -> None:
    from plan_runtime.migrator import migrate_service

    for schema in SERVICES:
        applied = await migrate_service(migrator_url(database), schema)
        print(f"postgres: {database}.{schema}: {len(applied)} migration(s) applied as {MIGRATOR}, grants of {schema}")


def migrate(database: str = DATABASE, fresh: bool = False) -> None:
    """Roles and schemas, then every service's migrations as the migration role and its runtime role's grants."""

    async def both() -> None:
        await _provision(database, fresh)
        await _migrate(database)

    asyncio.run(both())


def fresh_database(database: str) -> None:
    """(Re)create `database` empty, with the same roles, schemas, migrations and grants: the end-to-end tests'
    own world, in which the services run as their runtime roles as they do in `make run`."""
    migrate(database, fresh=True)


def wipe() -> None:
    stop()
    shutil.rmtree(HOME, ignore_errors=True)
    if HOME.parent != LOCAL and HOME.parent.name.startswith("talentplan-"):
        shutil.rmtree(HOME.parent, ignore_errors=True)
