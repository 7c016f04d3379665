"""Least privilege, proved as each service's runtime role against the real PostgreSQL.

The database is built exactly as `python -m infra up` builds the development one (`postgres.fresh_database`:
roles, schemas owned by the migration role, migrations applied by it, grants from each `grants.sql`), but it
is a database of its own, so nothing written here reaches the running services' outboxes. Every write a role
may do is tried inside a transaction that is rolled back.
"""

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from infra import kafka, postgres, secrets
from plan_runtime.migrations import MigrationsPending, require_applied
from plan_runtime.migrator import tracks
from tests.infrastructure import Infrastructure

DATABASE = "talentplan_roles"
ROLES = tuple(postgres.SERVICES)  # enrollment, funding, talent_card, portal: each role is named as its schema

# Tables a runtime role may add to and read, never change or erase (from the migrations and the stores' SQL),
# with a column to try to rewrite. A dead letter's replay only stamps replayed_at.
APPEND_ONLY = {
    "enrollment": {
        "audit_log": "actor",
        "trainees": "name",
        "dead_letters": "error",
        "read_audit": "actor",
        "outbox_published": "value",
    },
    "funding": {"ledger": "amount_yuan", "dead_letters": "error", "read_audit": "actor", "outbox_published": "value"},
    "talent_card": {
        "determinations": "eligible",
        "talents": "display_name",
        "dead_letters": "error",
        "read_audit": "actor",
        "outbox_published": "value",
    },
    # the portal's sessions and uploads are deleted, not rewritten
    "portal": {"dead_letters": "error", "read_audit": "actor", "outbox_published": "value"},
}
DENIED = asyncpg.InsufficientPrivilegeError


@pytest.fixture(scope="module")
def database(infrastructure: Infrastructure) -> Iterator[str]:
    if infrastructure.kafka != kafka.BOOTSTRAP:
        pytest.fail("the role-confinement test needs the local PostgreSQL of `python -m infra up` (`make test`)")
    postgres.fresh_database(DATABASE)
    yield DATABASE


@pytest.fixture
async def connections(database: str) -> AsyncIterator[dict[str, asyncpg.Connection]]:
    """One connection per runtime role, with its password, as the service process connects."""
    opened = {role: await asyncpg.connect(postgres.service_url(role, database)) for role in ROLES}
    try:
        yield opened
    finally:
        for conn in opened.values():
            await conn.close()


async def refused(conn: asyncpg.Connection, sql: str) -> str:
    """Run `sql` in a transaction that is rolled back; it must fail for lack of privilege."""
    with pytest.raises(DENIED) as error:
        async with conn.transaction():
            await conn.execute(sql)
    return str(error.value)


class Rollback(Exception):
    pass


async def allowed(conn: asyncpg.Connection, *statements: str) -> None:
    """Run the statements in one transaction that is then rolled back; each must succeed."""
    with pytest.raises(Rollback):
        async with conn.transaction():
            for sql in statements:
                await conn.execute(sql)
            raise Rollback


@pytest.mark.parametrize("role", ROLES)
async def test_a_runtime_role_cannot_read_another_services_schema(
    connections: dict[str, asyncpg.Connection], role: str
) -> None:
    conn = connections[role]
    for other in ROLES:
        if other == role:
            continue
        for table in ("outbox", "inbox", "schema_migrations"):
            assert "permission denied for schema" in await refused(conn, f"SELECT * FROM {other}.{table}")
    assert await conn.fetchval("SELECT current_user") == role


@pytest.mark.parametrize("role", ROLES)
async def test_a_runtime_role_cannot_create_alter_or_drop_anything(
    connections: dict[str, asyncpg.Connection], role: str
) -> None:
    conn = connections[role]
    await refused(conn, f"CREATE TABLE {role}.sneaky (id int)")
    await refused(conn, f"CREATE VIEW {role}.sneaky AS SELECT 1")
    await refused(conn, f"CREATE FUNCTION {role}.sneaky() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    await refused(conn, "CREATE TABLE public.sneaky (id int)")
    await refused(conn, "CREATE TEMP TABLE sneaky (id int)")
    await refused(conn, "CREATE SCHEMA sneaky")
    for table in ("outbox", "schema_migrations", *APPEND_ONLY[role]):
        assert "must be owner" in await refused(conn, f"ALTER TABLE {role}.{table} ADD COLUMN sneaky int")
        assert "must be owner" in await refused(conn, f"DROP TABLE {role}.{table}")
        await refused(conn, f"ALTER TABLE {role}.{table} DISABLE TRIGGER ALL")
    await refused(conn, f"DROP SCHEMA {role} CASCADE")
    await refused(conn, f"ALTER SCHEMA {role} OWNER TO {role}")
    await refused(conn, f"INSERT INTO {role}.schema_migrations (track, name, checksum) VALUES ('x', 'y', 'z')")
    await refused(conn, f"DELETE FROM {role}.schema_migrations")


@pytest.mark.parametrize("role", ROLES)
async def test_a_runtime_role_cannot_rewrite_or_erase_its_append_only_tables(
    connections: dict[str, asyncpg.Connection], role: str
) -> None:
    conn = connections[role]
    for table, column in APPEND_ONLY[role].items():
        await refused(conn, f"UPDATE {role}.{table} SET {column} = {column}")
        await refused(conn, f"DELETE FROM {role}.{table}")
        await refused(conn, f"TRUNCATE {role}.{table}")
        assert await conn.fetchval(f"SELECT count(*) FROM {role}.{table}") >= 0  # reading is allowed
    # an event waiting in the outbox is never rewritten (the relay moves it out whole, to outbox_published, an
    # append-only history checked above)
    await refused(conn, f"UPDATE {role}.outbox SET value = 'x'::bytea")
    await refused(conn, f"UPDATE {role}.outbox SET topic = 'x'")
    await refused(conn, f"UPDATE {role}.outbox SET event_id = gen_random_uuid()")
    await refused(conn, f"TRUNCATE {role}.outbox")


@pytest.mark.parametrize("role", ROLES)
async def test_a_runtime_role_can_do_what_the_runtime_needs(
    connections: dict[str, asyncpg.Connection], role: str
) -> None:
    await allowed(
        connections[role],
        f"SET LOCAL search_path = {role}",
        # emit, the relay's claim that moves rows to the archive, parking, an operator's release of a parked row
        "INSERT INTO outbox (event_id, topic, key, value) VALUES (gen_random_uuid(), 'trainee-enrolled', NULL, 'v')",
        "UPDATE outbox SET attempts = attempts + 1, last_error = 'x', parked_at = now()",
        "UPDATE outbox SET parked_at = NULL, attempts = 0",
        """WITH moved AS (DELETE FROM outbox o USING (SELECT id FROM outbox WHERE parked_at IS NULL ORDER BY id
               LIMIT 10 FOR UPDATE SKIP LOCKED) c WHERE o.id = c.id RETURNING o.*)
           INSERT INTO outbox_published SELECT id, event_id, topic, key, value, created_at, now() FROM moved""",
        "SELECT count(*) FROM outbox_published",
        # the inbox marks, a dead letter and its replay
        "INSERT INTO inbox (consumer, event_id) VALUES ('c', gen_random_uuid()) ON CONFLICT DO NOTHING",
        """INSERT INTO dead_letters (consumer, topic, "partition", "offset", key, value, event_id, error)
           VALUES ('c', 't', 0, 1, NULL, 'v', gen_random_uuid(), 'e')""",
        "SELECT * FROM dead_letters WHERE replayed_at IS NULL FOR UPDATE",
        "DELETE FROM inbox WHERE consumer = 'c'",
        "UPDATE dead_letters SET replayed_at = now()",
        "SELECT count(*) FROM schema_migrations",
    )


async def test_each_runtime_role_can_do_what_its_service_does(connections: dict[str, asyncpg.Connection]) -> None:
    await allowed(
        connections["enrollment"],
        "SET LOCAL search_path = enrollment",
        "INSERT INTO institutions (id, name, mode, status) VALUES ('00000000-0000-4000-8000-000000000001', 'x',"
        " 'online', 'active')",
        "SELECT * FROM institutions FOR SHARE",
        "UPDATE institutions SET status = 'suspended', status_seq = status_seq + 1",
        "INSERT INTO api_keys (id, institution_id, secret_sha256) VALUES (gen_random_uuid(),"
        " '00000000-0000-4000-8000-000000000001', 'h')",
        "UPDATE api_keys SET revoked_at = now()",
        "INSERT INTO trainees (trainee_id, id_hash, id_masked, name, phone, birth_date)"
        " VALUES ('p1', 'h1', 'm', 'n', '1', '2000-01-01') ON CONFLICT DO NOTHING",
        "INSERT INTO enrollments (id, trainee_id, institution_id, tier, target_group, mode, starts_on, status,"
        " policy_version) VALUES (gen_random_uuid(), 'p1', '00000000-0000-4000-8000-000000000001', 'basic', 'g',"
        " 'online', '2020-08-08', 'open', 'v')",
        "SELECT * FROM enrollments FOR UPDATE",
        "UPDATE enrollments SET status = 'withdrawn', withdrawn_reason = 'r'",
        "INSERT INTO idempotency_keys (principal, key, request_hash, status_code, body) VALUES ('p', 'k', 'h', 0,"
        " 'null') ON CONFLICT DO NOTHING",
        "UPDATE idempotency_keys SET status_code = 201, body = '{}'",
        "INSERT INTO daily_intake VALUES ('00000000-0000-4000-8000-000000000001', '2020-08-08', 1, 0)"
        " ON CONFLICT (institution_id, day) DO UPDATE SET rows = daily_intake.rows + 1",
        "INSERT INTO audit_log (actor, action, subject) VALUES ('a', 'b', 'c')",
        "SELECT * FROM legacy_identities",
    )
    await allowed(
        connections["funding"],
        "SET LOCAL search_path = funding",
        "INSERT INTO fund (id, total_yuan) VALUES (1, 10000000) ON CONFLICT (id) DO UPDATE SET total_yuan ="
        " EXCLUDED.total_yuan",
        "SELECT * FROM fund WHERE id = 1 FOR UPDATE",
        "UPDATE fund SET reserved_yuan = reserved_yuan + 900",
        "INSERT INTO subsidies (id, enrollment_id, trainee_id, institution_id, tier, status) VALUES"
        " ('00000000-0000-4000-8000-000000000002', gen_random_uuid(), 'p', gen_random_uuid(), 'professional',"
        " 'reserved')",
        "UPDATE subsidies SET status = 'approved', amount_yuan = 900",
        "INSERT INTO ledger (subsidy_id, entry, amount_yuan, actor) VALUES ('00000000-0000-4000-8000-000000000002',"
        " 'reserve', 900, 'funding')",
        "INSERT INTO payment_batches (id, institution_id, subsidy_count, total_yuan, status, created_by) VALUES"
        " (gen_random_uuid(), gen_random_uuid(), 1, 900, 'open', 'f')",
        "UPDATE payment_batches SET status = 'paid'",
        "INSERT INTO institutions (institution_id, status, status_seq) VALUES (gen_random_uuid(), 'active', 0)",
        "UPDATE institutions SET status = 'suspended'",
    )
    await allowed(
        connections["talent_card"],
        "SET LOCAL search_path = talent_card",
        "INSERT INTO talents (id, person_id, id_masked, display_name, created_by) VALUES"
        " ('00000000-0000-4000-8000-000000000003', 'p', 'm', 'd', 'office') ON CONFLICT (person_id) DO NOTHING",
        "INSERT INTO evidence (id, talent_id, kind, status) VALUES (gen_random_uuid(),"
        " '00000000-0000-4000-8000-000000000003', 'award', 'declared')",
        "UPDATE evidence SET status = 'verified', decided_by = 'office', decided_at = now()",
        "INSERT INTO plan_progress (person_id, senior_completed_on) VALUES ('p', '2020-09-01') ON CONFLICT"
        " (person_id) DO UPDATE SET senior_completed_on = EXCLUDED.senior_completed_on",
        "INSERT INTO determinations (person_id, route, rule_id, rule_version, eligible, evidence, explanation)"
        " VALUES ('p', 'plan', 'r', 'v', true, '{}', 'e')",
        "INSERT INTO notices (id, person_id, route, rule_id, rule_version, evidence, status) VALUES"
        " (gen_random_uuid(), 'p', 'plan', 'r', 'v', '{}', 'waiting') ON CONFLICT (person_id) DO NOTHING",
        "SELECT * FROM notices FOR UPDATE",
        "UPDATE notices SET status = 'acknowledged', acknowledged_by = 'o', acknowledged_at = now()",
    )


async def test_a_runtime_role_checks_the_migrations_instead_of_applying_them(
    connections: dict[str, asyncpg.Connection], tmp_path: Path
) -> None:
    for role, conn in connections.items():
        pool = await asyncpg.create_pool(postgres.service_url(role, DATABASE), min_size=1, max_size=1)
        try:
            await require_applied(pool, role, tracks(role))  # infra applied every file: the service may start
            newer = tmp_path / role
            newer.mkdir()
            (newer / "0001_newer.sql").write_text("CREATE TABLE newer (id int);")
            with pytest.raises(MigrationsPending, match=r"newer/0001_newer\.sql.*python -m infra migrate"):
                await require_applied(pool, role, {**tracks(role), "newer": newer})
        finally:
            await pool.close()
        assert not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{role}.newer")


async def test_the_development_database_has_the_same_privileges(database: str) -> None:
    """`infra up` gave the database `make run` uses exactly the privileges proved above."""

    async def privileges(name: str) -> set[tuple[str, ...]]:
        conn = await asyncpg.connect(postgres.admin_url(name))
        try:
            rows = await conn.fetch(
                """SELECT r.rolname, n.nspname, c.relname, p.privilege,
                          has_table_privilege(r.rolname, c.oid, p.privilege) AS table_level,
                          CASE WHEN p.privilege IN ('SELECT', 'INSERT', 'UPDATE')
                               THEN has_any_column_privilege(r.rolname, c.oid, p.privilege) END AS some_column,
                          pg_get_userbyid(c.relowner) AS owner
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   CROSS JOIN (VALUES ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE')) p(privilege)
                   CROSS JOIN pg_roles r
                   WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'v') AND r.rolname = ANY($1)""",
                list(ROLES),
            )
        finally:
            await conn.close()
        return {tuple(str(v) for v in r.values()) for r in rows}

    fresh, development = await privileges(database), await privileges(postgres.DATABASE)
    assert fresh == development
    assert {row[6] for row in fresh} == {postgres.MIGRATOR}


def test_every_connection_needs_a_password_local_ones_included(database: str) -> None:
    hba = [line.split() for line in (postgres.DATA / "pg_hba.conf").read_text().splitlines()]
    rules = [fields for fields in hba if fields and not fields[0].startswith("#")]
    assert rules and all(fields[-1] == "scram-sha-256" for fields in rules), rules

    async def over_the_socket(user: str, password: str | None) -> None:
        conn = await asyncpg.connect(
            host=str(postgres.SOCKETS), port=postgres.PORT, user=user, password=password, database=database
        )
        await conn.close()

    asyncio.run(over_the_socket("postgres", secrets.load()["PG_ADMIN_PASSWORD"]))  # the socket is there
    for user in ("postgres", postgres.MIGRATOR, *ROLES):
        for password in ("", None):
            with pytest.raises((asyncpg.InvalidPasswordError, asyncpg.InterfaceError)):
                asyncio.run(over_the_socket(user, password))
    if os.geteuid() == 0:  # the operating system's postgres user, as `psql` on the machine would connect
        psql = ["psql", "-w", "-h", str(postgres.SOCKETS), "-p", str(postgres.PORT), "-d", database, "-c", "SELECT 1"]
        answer = subprocess.run(
            ["runuser", "-u", "postgres", "--", *psql],
            capture_output=True,
            text=True,
            cwd="/",
            env={k: v for k, v in os.environ.items() if not k.startswith("PG")},
        )
        assert answer.returncode != 0 and "no password supplied" in answer.stderr, answer


def test_every_dsn_infra_hands_out_connects_over_the_socket_with_its_password(database: str) -> None:
    """The local deployment's DSNs (services, migrator, admin) go over the Unix socket, not loopback TCP
    (infra/postgres._url says why), and still log in with their role's password."""
    urls = {
        "postgres": postgres.admin_url(database),
        postgres.MIGRATOR: postgres.migrator_url(database),
        **{role: postgres.service_url(role, database) for role in ROLES},
    }

    async def who(url: str) -> tuple[str, bool]:
        conn = await asyncpg.connect(url)
        try:
            row = await conn.fetchrow("SELECT current_user AS name, inet_server_addr() IS NULL AS local")
            assert row is not None
            return row["name"], row["local"]
        finally:
            await conn.close()

    for user, url in urls.items():
        assert asyncio.run(who(url)) == (user, True), user
        assert "@/" in url and f"host={postgres.SOCKETS}" in url  # no host name: the socket's directory
