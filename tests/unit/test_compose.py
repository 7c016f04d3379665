"""docker-compose.yml cannot run here (no Docker engine), so check what can be checked."""

import importlib
from pathlib import Path

import yaml

from plan_events import TOPICS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
APPS = {"enrollment": "enrollment", "funding": "funding", "talent-card": "talent_card"}


def test_every_service_is_built_from_the_repo_and_waits_for_its_infrastructure() -> None:
    for name, package in APPS.items():
        service = COMPOSE["services"][name]
        assert service["build"] == "."
        assert set(service["depends_on"]) == {"kafka-init", "postgres"}
        env = service["environment"]
        assert env["SERVICE_MODULE"] == package and env["DB_SCHEMA"] == package
        assert env["DATABASE_URL"].startswith(f"postgresql://{package}:")
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
