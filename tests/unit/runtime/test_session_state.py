"""Nothing that runs on a pooled connection leaves session state behind, since a release no longer resets it
(plan_runtime.db): no session-level SET or set_config, no session advisory lock (but the migrations', on a pool of
their own), no LISTEN (but the relay's listener, undone on release), no cursor WITH HOLD, no temporary table."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SOURCES = [*ROOT.glob("shared/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]

SESSION_STATE = {
    # a SQL text (the code's SQL is in capitals) that starts with SET but not SET LOCAL; an UPDATE's or an
    # upsert's SET is not at the start of its text
    "session SET": re.compile(r"""["']\s*SET\s+(?!LOCAL\b)(?:SESSION\s+)?\w"""),
    "session set_config": re.compile(r"set_config\([^)]*,\s*(?:false|\$\d+)\s*\)", re.I),
    "session advisory lock": re.compile(r"pg_(?:try_)?advisory_(?:lock|lock_shared)\s*\(", re.I),
    "LISTEN": re.compile(r"""\badd_listener\(|["']\s*LISTEN\s"""),
    "cursor WITH HOLD": re.compile(r"\bWITH\s+HOLD\b"),
    "temporary table": re.compile(r"\bCREATE\s+(?:GLOBAL\s+|LOCAL\s+)?TEMP(?:ORARY)?\s+TABLE\b"),
}
ALLOWED = {
    # the migrations' lock: `service._migrate` and the migrator run them on a pool of their own, closed after
    ("session advisory lock", "shared/src/plan_runtime/migrations.py"),
    # the relay's listener: on its own acquired connection, removed before release (and UNLISTEN on release)
    ("LISTEN", "shared/src/plan_runtime/outbox.py"),
    ("LISTEN", "shared/src/plan_runtime/db.py"),  # PlanConnection.add_listener notes it
}


def findings(sources: list[Path]) -> list[tuple[str, str, int]]:
    found = []
    for path in sources:
        name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for what, pattern in SESSION_STATE.items():
                if pattern.search(line) and (what, name) not in ALLOWED:
                    found.append((what, name, number))
    return found


def test_no_code_leaves_session_state_on_a_pooled_connection() -> None:
    assert len(SOURCES) > 50
    assert findings(SOURCES) == []


def test_the_check_finds_each_kind(tmp_path: Path) -> None:
    """A check that cannot fail is no check: each pattern finds its offence, and an UPDATE's SET is no offence."""
    probe = tmp_path / "store.py"
    lines = [
        'await conn.execute("SET statement_timeout = 5")',
        'await conn.execute(f"SET search_path = {schema}")',
        "await conn.execute(\"SELECT set_config('jit', 'off', false)\")",
        'await conn.execute("SELECT pg_advisory_lock(1)")',
        "await conn.add_listener('x', callback)",
        '"DECLARE c CURSOR WITH HOLD FOR SELECT 1"',
        '"CREATE TEMP TABLE t (n int)"',
    ]
    innocent = [
        'await conn.execute("UPDATE outbox SET parked_at = NULL WHERE id = $1")',
        'await conn.execute(f"SET LOCAL search_path = {schema}")',
        "\"SELECT set_config('jit', 'off', true)\"",
        'await conn.execute("SELECT pg_advisory_xact_lock(1)")',
    ]
    probe.write_text("\n".join(lines + innocent) + "\n")
    found = findings([probe])
    assert [number for _, _, number in found] == list(range(1, len(lines) + 1))
    assert {what for what, _, _ in found} == set(SESSION_STATE)
