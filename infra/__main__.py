"""`python -m infra --help`: start, stop and inspect the local Kafka broker, PostgreSQL and services."""

import asyncio
import os

import typer

from infra import kafka, postgres, secrets, services

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)


@app.command()
def up(partitions: int = typer.Option(6, help="partitions per topic (only for topics it creates)")) -> None:
    """Start PostgreSQL and Kafka (idempotent); create the roles and schemas, migrate (as the migration role),
    grant each runtime role what it needs, create the topics."""
    postgres.start()
    kafka.start()
    from plan_runtime.topics import ensure_topics

    created = asyncio.run(ensure_topics(kafka.BOOTSTRAP, partitions))
    print(f"kafka: topics ready ({len(created)} created)")


@app.command()
def migrate() -> None:
    """Apply every service's migrations as the migration role, then each runtime role's grants (idempotent)."""
    postgres.migrate()


@app.command()
def down() -> None:
    """Stop the services, Kafka and PostgreSQL (data is kept)."""
    services.stop_all()
    kafka.stop()
    postgres.stop()


@app.command()
def status() -> None:
    """Say what is running."""
    print(f"postgres  127.0.0.1:{postgres.PORT}  {'up' if postgres.running() else 'down'}  data: {postgres.where()}")
    print(f"kafka     {kafka.BOOTSTRAP}  {'up' if kafka.running() else 'down'}")
    for name, line in services.status().items():
        print(f"{name:<12}{line}")


@app.command()
def wipe(yes: bool = typer.Option(False, "--yes", help="really delete all local data")) -> None:
    """Stop everything and delete the local Kafka and PostgreSQL data."""
    if not yes:
        raise typer.BadParameter("pass --yes to delete .local data")
    services.stop_all()
    kafka.wipe()
    postgres.wipe()


@app.command("kafka")
def kafka_cmd(action: str = typer.Argument(..., help="start | stop | restart")) -> None:
    """Start or stop only the Kafka broker (the broker-restart test uses this)."""
    if action in ("stop", "restart"):
        kafka.stop()
    if action in ("start", "restart"):
        kafka.start()


@app.command()
def env() -> None:
    """Print shell exports for the test suite and tools: `eval "$(python -m infra env)"`."""
    values = secrets.load()
    exports = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.BOOTSTRAP,
        "DATABASE_URL": postgres.admin_url(),
        **{f"{p}_DATABASE_URL": postgres.service_url(s) for s, p in postgres.SERVICES.items()},
        **{k: values[k] for k in ("PII_HMAC_KEY", "BUREAU_API_KEY", "FINANCE_API_KEY", "TALENT_OFFICE_API_KEY")},
    }
    for name, value in exports.items():
        print(f"export {name}='{os.environ.get(name, value)}'")


@app.command("services")
def services_cmd(action: str = typer.Argument(..., help="start | stop | status")) -> None:
    """Run the three services as separate processes (logs in .local/logs/)."""
    if action == "start":
        services.start_all()
    elif action == "stop":
        services.stop_all()
    else:
        for name, line in services.status().items():
            print(f"{name:<12}{line}")


if __name__ == "__main__":
    app()
