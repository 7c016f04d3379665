#!/bin/sh
# docker-compose only: one login role and one schema per service, as `python -m infra up` does locally.
set -e
for svc in enrollment:$ENROLLMENT_DB_PASSWORD funding:$FUNDING_DB_PASSWORD talent_card:$TALENT_CARD_DB_PASSWORD; do
  role=${svc%%:*}; password=${svc#*:}
  psql -v ON_ERROR_STOP=1 -U postgres -d talentplan <<SQL
CREATE ROLE $role LOGIN PASSWORD '$password';
GRANT CONNECT ON DATABASE talentplan TO $role;
CREATE SCHEMA $role AUTHORIZATION $role;
REVOKE ALL ON SCHEMA $role FROM PUBLIC;
SQL
done
psql -v ON_ERROR_STOP=1 -U postgres -d talentplan -c "REVOKE ALL ON DATABASE talentplan FROM PUBLIC; REVOKE ALL ON SCHEMA public FROM PUBLIC;"
