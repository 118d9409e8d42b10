"""A read-only database role for BI tools: it can read the ``marts`` schema and nothing else.

``forkalytics db grant-bi`` creates (or updates) the role and grants ``usage`` on ``marts`` and ``select``
on its tables, now and on every table dbt creates there later (default privileges of the role that runs
dbt). It gets nothing on ``raw``, ``enrichment``, ``staging``, ``intermediate`` or ``snapshots``, and no
write privilege anywhere. The password, if any, comes from an environment variable.
"""

from __future__ import annotations

import os
import re

from psycopg2 import sql

from orchestration.errors import UserError
from orchestration.warehouse import Warehouse

DEFAULT_ROLE = "forkalytics_bi"
PASSWORD_ENV = "FORKALYTICS_BI_PASSWORD"
READABLE_SCHEMA = "marts"


def grant_bi(warehouse: Warehouse, role: str = DEFAULT_ROLE, password_env: str = PASSWORD_ENV) -> str:
    """Create or update the BI role; return a one-line description of what it may do."""
    if not re.match(r"^[a-z_][a-z0-9_]{0,62}$", role):
        raise UserError(f"{role!r} is not a plain lower-case role name.", exit_code=2)
    password = os.environ.get(password_env) or None
    conn = warehouse.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute("select 1 from pg_roles where rolname = %s", (role,))
            exists = cur.fetchone() is not None
            verb = sql.SQL("alter role" if exists else "create role")
            options = sql.SQL("login nosuperuser nocreatedb nocreaterole noinherit")
            if password:
                cur.execute(sql.SQL("{} {} {} password %s").format(verb, sql.Identifier(role), options), (password,))
            else:
                cur.execute(sql.SQL("{} {} {}").format(verb, sql.Identifier(role), options))
            cur.execute("select current_database(), current_user")
            database, owner = cur.fetchone()
            ident = sql.Identifier(role)
            cur.execute(sql.SQL("grant connect on database {} to {}").format(sql.Identifier(database), ident))
            cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(READABLE_SCHEMA)))
            cur.execute(sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(READABLE_SCHEMA), ident))
            cur.execute(sql.SQL("grant select on all tables in schema {} to {}").format(
                sql.Identifier(READABLE_SCHEMA), ident))
            cur.execute(sql.SQL("alter default privileges for role {} in schema {} grant select on tables to {}")
                        .format(sql.Identifier(owner), sql.Identifier(READABLE_SCHEMA), ident))
            # Nothing else: no usage on the other schemas, and no write or create privilege anywhere.
            cur.execute(sql.SQL("revoke create on schema public from {}").format(ident))
    finally:
        conn.close()
    auth = f"password from {password_env}" if password else f"no password set ({password_env} is empty)"
    return f"role {role} can read schema {READABLE_SCHEMA} only ({auth})"
