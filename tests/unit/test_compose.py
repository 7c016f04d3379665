"""docker-compose.yml cannot run here (no Docker engine), so check what can be checked."""

import importlib
import importlib.util
from pathlib import Path

import yaml

from plan_events import TOPICS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
APPS = {"enrollment": "enrollment", "funding": "funding", "talent-card": "talent_card", "portal": "portal"}


def test_every_service_is_built_from_the_repo_and_waits_for_its_infrastructure() -> None:
    for name, package in APPS.items():
        service = COMPOSE["services"][name]
        assert service["build"] == "."
        assert set(service["depends_on"]) == {"kafka-init", "postgres", "migrate"}
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        env = service["environment"]
        assert env["SERVICE_MODULE"] == package and env["DB_SCHEMA"] == package
        assert env["DATABASE_URL"].startswith(f"postgresql://{package}:")  # its runtime role, not the migrator
        assert not {"MIGRATE_ON_START", "MIGRATION_DATABASE_URL"} & set(env)  # it checks, never migrates
        assert callable(importlib.import_module(f"{package}.main").build_app)


def test_every_variable_a_service_gets_is_a_setting_it_reads() -> None:
    for name, package in APPS.items():
        settings = importlib.import_module(f"{package}.settings").Settings
        fields = {f.upper() for f in settings.model_fields}
        for variable in COMPOSE["services"][name]["environment"]:
            assert variable == "SERVICE_MODULE" or variable in fields, (name, variable)


def test_compose_creates_every_topic_the_contracts_name() -> None:
    command = " ".join(COMPOSE["services"]["kafka-init"]["command"])
    assert all(f" {topic} " in f" {command} ".replace(";", " ") for topic in TOPICS)


def test_the_role_script_compose_mounts_exists() -> None:
    [mount] = COMPOSE["services"]["postgres"]["volumes"]
    assert (ROOT / mount.split(":")[0]).is_file()


def test_each_service_gets_only_the_secrets_its_settings_need_as_locally() -> None:
    from infra import services

    for name, package in APPS.items():
        env = COMPOSE["services"][name]["environment"]
        secrets = {k for k in env if k.endswith(("_KEY", "PASSWORD", "_SECRET"))}
        assert secrets == set(services.SECRETS[name]), name
        fields = {f.upper() for f in importlib.import_module(f"{package}.settings").Settings.model_fields}
        assert secrets <= fields
        other_roles = {p for p in APPS.values() if p != package}
        assert not any(f"postgresql://{role}:" in str(value) for value in env.values() for role in other_roles)


def test_a_one_shot_container_migrates_as_the_migration_role_that_owns_the_schemas() -> None:
    migrate = COMPOSE["services"]["migrate"]
    assert migrate["build"] == "."
    assert migrate["command"] == ["python", "-m", "plan_runtime.migrator"]
    assert migrate["environment"]["MIGRATION_DATABASE_URL"].startswith("postgresql://plan_migrator:")
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    roles = (ROOT / "infra" / "postgres-init.sh").read_text()
    assert "CREATE ROLE plan_migrator" in roles and "AUTHORIZATION plan_migrator" in roles
    assert 'AUTHORIZATION :"role"' not in roles  # no runtime role owns its schema


def test_compose_postgres_asks_every_connection_for_a_password() -> None:
    env = COMPOSE["services"]["postgres"]["environment"]
    assert env["POSTGRES_HOST_AUTH_METHOD"] == "scram-sha-256"
    assert "--auth-local=scram-sha-256" in env["POSTGRES_INITDB_ARGS"].split()
    assert "--auth-host=scram-sha-256" in env["POSTGRES_INITDB_ARGS"].split()


def test_compose_runs_postgresql_with_the_settings_make_infra_passes() -> None:
    from infra.postgres import SETTINGS

    command = COMPOSE["services"]["postgres"]["command"]
    assert command[0] == "postgres" and command[1::2] == ["-c"] * (len(command) // 2)
    assert dict(option.split("=", 1) for option in command[2::2]) == SETTINGS


def test_compose_runs_the_broker_with_the_jvm_options_make_infra_passes() -> None:
    from infra import kafka

    env = COMPOSE["services"]["kafka"]["environment"]
    assert env["KAFKA_HEAP_OPTS"] == kafka.BROKER_HEAP
    assert env["KAFKA_OPTS"].split() == [kafka.JIT]
    assert kafka._java("kafka.Kafka", heap=kafka.BROKER_HEAP)[1:3] == [kafka.BROKER_HEAP, kafka.JIT]


def test_the_image_serves_with_the_event_loop_and_parser_make_infra_names() -> None:
    from infra import services

    command = (ROOT / "Dockerfile").read_text().split("CMD ", 1)[1]
    assert " ".join(services.SERVER) in command
    assert all(importlib.util.find_spec(module) for module in ("uvloop", "httptools"))
