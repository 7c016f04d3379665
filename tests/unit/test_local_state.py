"""Where the local PostgreSQL cluster lives, how pg_hba.conf is made to ask for passwords, how secrets are written.

Fast: no cluster is started. Where the machine allows it (we are root and a `postgres` user exists, as on CI)
the reachability check asks the real `postgres` user through runuser.
"""

import os
import pwd
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from infra import postgres, secrets

AS_ROOT_WITH_POSTGRES = os.geteuid() == 0 and any(p.pw_name == "postgres" for p in pwd.getpwall())


CLONE = Path("/srv/no-such-dir/clone/.local")  # the decisions below only look for an existing cluster on disk


def test_a_checkout_the_postgres_user_can_enter_keeps_its_cluster_inside() -> None:
    local = CLONE
    assert postgres.choose_home(local, lambda _: True) == local / "postgres"


def test_a_checkout_it_cannot_enter_puts_the_cluster_in_var_tmp_named_after_the_clone() -> None:
    first, second = CLONE, CLONE.parent.parent / "two words" / ".local"
    home = postgres.choose_home(first, lambda _: False)
    assert home.parent.parent == Path("/var/tmp") and home.name == "postgres"
    assert home.parent.name.startswith("talentplan-")
    assert home == postgres.choose_home(first, lambda _: False)  # the same clone finds it again
    assert home != postgres.choose_home(second, lambda _: False)  # another clone has its own


def test_a_path_too_long_for_a_unix_socket_puts_the_cluster_outside() -> None:
    local = CLONE.parent / ("deep" * 20) / ".local"
    assert postgres.choose_home(local, lambda _: True).parent.parent == Path("/var/tmp")


def test_an_existing_cluster_stays_where_it_is(tmp_path: Path) -> None:
    local = tmp_path / ".local"
    (local / "postgres" / "data").mkdir(parents=True)
    (local / "postgres" / "data" / "PG_VERSION").write_text("15\n")
    assert postgres.choose_home(local, lambda _: False) == local / "postgres"


@pytest.mark.skipif(not AS_ROOT_WITH_POSTGRES, reason="initdb runs as the postgres user only when we are root")
def test_the_postgres_user_cannot_enter_a_mode_700_directory_and_can_enter_a_755_one() -> None:
    outer = Path(tempfile.mkdtemp())  # mode 700, as /root and `mktemp -d` are
    try:
        clone = outer / "a clone with spaces" / "main"
        clone.mkdir(parents=True)
        assert stat.S_IMODE(outer.stat().st_mode) == 0o700
        assert not postgres.postgres_can_enter(clone / ".local")
        assert postgres.choose_home(clone / ".local").parent.parent == Path("/var/tmp")
        outer.chmod(0o755)
        assert postgres.postgres_can_enter(clone / ".local")  # not there yet: its nearest ancestor is asked
        assert postgres.choose_home(clone / ".local") == clone / ".local" / "postgres"
    finally:
        subprocess.run(["rm", "-rf", str(outer)], check=True)


def test_every_passwordless_rule_of_pg_hba_asks_for_scram_and_nothing_else_changes() -> None:
    before = (
        "# TYPE  DATABASE  USER  ADDRESS  METHOD\n"
        "local   all             all                                     trust\n"
        "host    all             all             127.0.0.1/32            scram-sha-256\n"
        "local   replication     all                                     peer  # distro default\n"
        "hostssl all             all             ::1/128                 md5\n"
        "# local all all trust  (a comment stays a comment)\n"
    )
    after = postgres.require_passwords(before)
    rules = [line.split("#")[0].split() for line in after.splitlines() if not line.startswith("#")]
    assert [rule[-1] for rule in rules] == ["scram-sha-256"] * 4
    assert "# local all all trust  (a comment stays a comment)\n" in after
    assert "peer  # distro default" not in after and "scram-sha-256  # distro default" in after
    assert postgres.require_passwords(after) == after  # idempotent


def test_a_secrets_file_is_never_readable_by_others_even_with_an_open_umask(tmp_path: Path) -> None:
    target = tmp_path / "secrets.env"
    target.write_text("OLD=1\n")
    target.chmod(0o644)  # an older file, world-readable
    old_inode = target.stat().st_ino
    previous = os.umask(0)
    try:
        secrets.write_private(target, "NEW=2\n")
    finally:
        os.umask(previous)
    assert target.read_text() == "NEW=2\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.stat().st_ino != old_inode  # a new file renamed over the old one, not the old one rewritten
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.env"]  # no temporary file left behind
