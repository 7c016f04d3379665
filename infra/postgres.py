"""A private PostgreSQL 15 cluster under .local/postgres: one database, one schema and role per service."""

import asyncio
import glob
import os
import pwd
import shutil
import subprocess

import asyncpg

from infra import secrets
from infra.paths import LOCAL, LOGS

HOME = LOCAL / "postgres"
DATA = HOME / "data"
SOCKETS = HOME / "run"
PORT = int(os.environ.get("PLAN_PG_PORT", "5432"))
DATABASE = "talentplan"
SERVICES = {"enrollment": "ENROLLMENT", "funding": "FUNDING", "talent_card": "TALENT_CARD"}


def _bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    if not found:
        raise SystemExit(f"PostgreSQL's {name} was not found: install postgresql (15)")
    return found


def _as_owner(args: list[str]) -> list[str]:
    """initdb and pg_ctl refuse to run as root: run them as the `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def admin_url(database: str = DATABASE) -> str:
    return f"postgresql://postgres:{secrets.load()['PG_ADMIN_PASSWORD']}@127.0.0.1:{PORT}/{database}"


def service_url(schema: str, database: str = DATABASE) -> str:
    password = secrets.load()[f"{SERVICES[schema]}_DB_PASSWORD"]
    return f"postgresql://{schema}:{password}@127.0.0.1:{PORT}/{database}"


def running() -> bool:
    return subprocess.run([_bin("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(PORT)]).returncode == 0


def _initdb() -> None:
    HOME.mkdir(parents=True, exist_ok=True)
    SOCKETS.mkdir(exist_ok=True)
    pwfile = HOME / "pwfile"
    pwfile.write_text(secrets.load()["PG_ADMIN_PASSWORD"] + "\n")
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        for path in (HOME, SOCKETS, pwfile):
            os.chown(path, pg.pw_uid, pg.pw_gid)
    subprocess.run(
        _as_owner(
            [
                _bin("initdb"),
                "-D",
                str(DATA),
                "-U",
                "postgres",
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    pwfile.unlink()
    with (DATA / "postgresql.conf").open("a") as conf:
        conf.write(
            f"\nlisten_addresses = '127.0.0.1'\nport = {PORT}\n"
            f"unix_socket_directories = '{SOCKETS}'\nmax_connections = 200\n"
            "shared_buffers = 256MB\nsynchronous_commit = on\nfsync = on\n"
        )


def start() -> None:
    if running():
        print(f"postgres: already answering on 127.0.0.1:{PORT}")
    else:
        if not (DATA / "PG_VERSION").exists():
            _initdb()
        LOGS.mkdir(parents=True, exist_ok=True)
        log = HOME / "postgres.log"
        subprocess.run(
            _as_owner([_bin("pg_ctl"), "-D", str(DATA), "-l", str(log), "-w", "-t", "60", "start"]),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"postgres: started on 127.0.0.1:{PORT} (log: {log})")
    asyncio.run(_provision())


def stop() -> None:
    if (DATA / "postmaster.pid").exists():
        subprocess.run(
            _as_owner([_bin("pg_ctl"), "-D", str(DATA), "-m", "fast", "-w", "stop"]),
            check=False,
            stdout=subprocess.DEVNULL,
        )
        print("postgres: stopped")


async def _provision(database: str = DATABASE, fresh: bool = False) -> None:
    """Idempotent: the database, and per service a login role that owns only its schema."""
    password = secrets.load()["PG_ADMIN_PASSWORD"]
    conn = await asyncpg.connect(host="127.0.0.1", port=PORT, user="postgres", password=password, database="postgres")
    try:
        if fresh:
            await conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await conn.execute(f"CREATE DATABASE {database}")
    finally:
        await conn.close()
    conn = await asyncpg.connect(admin_url(database))
    try:
        await conn.execute(f"REVOKE ALL ON DATABASE {database} FROM PUBLIC")
        await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        for schema, prefix in SERVICES.items():
            role_password = secrets.load()[f"{prefix}_DB_PASSWORD"].replace("'", "''")
            verb = "ALTER" if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", schema) else "CREATE"
            await conn.execute(f"{verb} ROLE {schema} LOGIN PASSWORD '{role_password}'")
            await conn.execute(f"GRANT CONNECT ON DATABASE {database} TO {schema}")
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {schema}")
            await conn.execute(f"REVOKE ALL ON SCHEMA {schema} FROM PUBLIC")
    finally:
        await conn.close()
    print(f"postgres: database {database} with schemas {', '.join(SERVICES)} ready")


def fresh_database(database: str) -> None:
    """(Re)create `database` empty, with the same roles and schemas: the end-to-end tests' own world."""
    asyncio.run(_provision(database, fresh=True))


def wipe() -> None:
    stop()
    shutil.rmtree(HOME, ignore_errors=True)
