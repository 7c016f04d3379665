#!/bin/sh
# docker-compose only, the model `python -m infra up` builds locally: the migration role plan_migrator owns one
# schema per service; each service's runtime role may only CONNECT until the one-shot `migrate` container has
# applied the migrations (as plan_migrator) and the grants of each service's grants.sql.
# Every connection needs a scram-sha-256 password (POSTGRES_INITDB_ARGS / POSTGRES_HOST_AUTH_METHOD).
set -e
psql -v ON_ERROR_STOP=1 -U postgres -d talentplan \
  -v migrator_password="$MIGRATOR_DB_PASSWORD" <<'SQL'
CREATE ROLE plan_migrator LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'migrator_password';
REVOKE ALL ON DATABASE talentplan FROM PUBLIC;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT CONNECT ON DATABASE talentplan TO plan_migrator;
SQL
for svc in enrollment:ENROLLMENT_DB_PASSWORD funding:FUNDING_DB_PASSWORD talent_card:TALENT_CARD_DB_PASSWORD portal:PORTAL_DB_PASSWORD; do
  role=${svc%%:*}; variable=${svc#*:}
  eval password=\$$variable
  psql -v ON_ERROR_STOP=1 -U postgres -d talentplan -v role="$role" -v password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
GRANT CONNECT ON DATABASE talentplan TO :"role";
CREATE SCHEMA :"role" AUTHORIZATION plan_migrator;
REVOKE ALL ON SCHEMA :"role" FROM PUBLIC;
SQL
done
