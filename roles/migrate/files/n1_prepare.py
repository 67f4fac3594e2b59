"""N-1 check, step 1, run with the NEW image (python3 -c): make a scratch database with the
production schema and apply the new migrations to it; hold it until SIGTERM (or
ZDK_HOLD_SECONDS), then drop it. One result line on stdout: `ZDK-N1 {json}`.

The schema is rebuilt by replaying this build's migrations up to the revision production
is at (schema only: no rows are copied), then compared with production's columns; the
deploy kit then starts the version now serving against it and sends it the smoke checks.
Results: ready, up-to-date, ahead (the database is at a revision this build does not
know), no-createdb, replay-failed, migrate-failed, not-postgresql, error."""

# ruff: noqa: S603 - the commands are the chart's migration command and alembic
import json
import os
import signal
import subprocess
import sys
import time

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

source = make_url(os.environ["DATABASE_URL"])
scratch_name = os.environ["ZDK_SCRATCH_DATABASE"]
hold_seconds = float(os.environ.get("ZDK_HOLD_SECONDS", "600"))
migrate_command = json.loads(
    os.environ.get("ZDK_MIGRATE_COMMAND", '["alembic", "upgrade", "head"]')
)
COLUMNS = (
    "SELECT table_name, column_name, data_type FROM information_schema.columns"
    " WHERE table_schema = current_schema() ORDER BY 1, 2"
)


def say(result, **details):
    print("ZDK-N1 " + json.dumps({"result": result, **details}), flush=True)


def last_line(output):
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


if not source.drivername.startswith("postgresql"):
    say("not-postgresql")
    sys.exit(0)
source = source.set(drivername="postgresql+psycopg")
scratch = source.set(database=scratch_name)
admin = create_engine(source, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")


def known(script, revision):
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic: "Can't locate revision"
        return False


def drop():
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{scratch_name}" WITH (FORCE)'))


def stop(*_):
    drop()
    print(f"dropped scratch database {scratch_name}", flush=True)
    sys.exit(0)


def run_or_stop(command, env, result, code):
    """Run `command` on the scratch database; on failure drop it, say why (with the
    revisions `current` and `heads`, read below) and exit with `code`."""
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        drop()
        say(result, current=current, heads=heads, reason=last_line(done.stderr + done.stdout))
        sys.exit(code)


try:
    with admin.connect() as connection:
        has_table = connection.execute(
            text("SELECT to_regclass('alembic_version') IS NOT NULL")
        ).scalar()
        current = (
            sorted(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
            if has_table
            else []
        )
        production_columns = [tuple(row) for row in connection.execute(text(COLUMNS))]
        role = connection.execute(text("SELECT current_user")).scalar()
        script = ScriptDirectory.from_config(Config("alembic.ini"))
        heads = sorted(script.get_heads())
        if not all(known(script, rev) for rev in current):
            say("ahead", current=current, heads=heads)
            sys.exit(0)
        if current == heads:
            say("up-to-date", current=current, heads=heads)
            sys.exit(0)
        connection.execute(text(f'DROP DATABASE IF EXISTS "{scratch_name}" WITH (FORCE)'))
        try:
            connection.execute(text(f'CREATE DATABASE "{scratch_name}"'))
        except Exception as error:
            if "permission denied" in str(error):
                say("no-createdb", role=role)
                sys.exit(3)
            raise
        connection.execute(text(f'REVOKE CONNECT ON DATABASE "{scratch_name}" FROM PUBLIC'))
except SystemExit:
    raise
except Exception as error:
    say("error", reason=last_line(str(error)))
    sys.exit(2)


signal.signal(signal.SIGTERM, stop)
try:
    env = {**os.environ, "DATABASE_URL": scratch.render_as_string(hide_password=False)}
    for rev in current:
        run_or_stop(["alembic", "upgrade", rev], env, "replay-failed", 4)
    scratch_engine = create_engine(scratch, poolclass=pool.NullPool)
    with scratch_engine.connect() as connection:
        replayed = [tuple(row) for row in connection.execute(text(COLUMNS))]
    drift = sorted(
        {"/".join(c) for c in production_columns if c[0] != "alembic_version"}
        ^ {"/".join(c) for c in replayed if c[0] != "alembic_version"}
    )
    run_or_stop(migrate_command, env, "migrate-failed", 5)
    say("ready", current=current, heads=heads, drift=drift[:20])
    deadline = time.monotonic() + hold_seconds
    while time.monotonic() < deadline:
        time.sleep(1)
    stop()
except SystemExit:
    raise
except BaseException as error:
    drop()
    say("error", reason=last_line(str(error)))
    sys.exit(2)
