"""Local infrastructure without Docker: a real Kafka broker (KRaft) and PostgreSQL, plus the services."""
