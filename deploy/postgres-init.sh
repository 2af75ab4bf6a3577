#!/bin/sh
# Two databases, each owned by the service that creates its tables (docs/scale-out.md). The example reuses
# POSTGRES_PASSWORD for both users; give each its own in production.
set -e
psql -v ON_ERROR_STOP=1 -U postgres <<SQL
CREATE USER rasa PASSWORD '$POSTGRES_PASSWORD';
CREATE USER handoff PASSWORD '$POSTGRES_PASSWORD';
CREATE DATABASE rasa OWNER rasa;
CREATE DATABASE handoff OWNER handoff;
SQL
