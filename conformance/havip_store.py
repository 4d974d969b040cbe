"""Which store the conformance suites' havipd processes use (shared by the three SDK suites).

Unset ``HAVIP_STORE_URL``: SQLite in each server's ``data_dir`` (the default).

``HAVIP_STORE_URL=postgres://user@host:port/db``: the PostgreSQL backend. The URL names a
server whose user may ``CREATE DATABASE``; every havipd the suites start gets a fresh database
of its own there (``havip_conf_<random>``), kept across that server's restarts (the database
is made once per server object) and dropped when the pytest process exits. ``psql`` makes and
drops them (Debian's ``postgresql`` package, which ``scripts/postgres.sh`` installs).

Every SDK test runs on both backends: none looks inside the store (only the reliability
suite does, and it picks its backend per test, ignoring ``HAVIP_STORE_URL``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import urllib.parse
import uuid
from pathlib import Path

ENV = "HAVIP_STORE_URL"

_created: list[tuple[str, str]] = []


def store_url() -> str | None:
    """The PostgreSQL server of this run, or None for SQLite."""
    url = os.environ.get(ENV, "").strip()
    if not url:
        return None
    if not url.startswith(("postgres://", "postgresql://")):
        raise RuntimeError(f"{ENV} must be a postgres:// URL (or unset for SQLite), not {url!r}")
    return url


def describe() -> str:
    url = store_url()
    if url is None:
        return "store: SQLite (HAVIP_STORE_URL unset)"
    parts = urllib.parse.urlsplit(url)
    return f"store: PostgreSQL on {parts.hostname}:{parts.port or 5432} (HAVIP_STORE_URL; one database per havipd)"


def _psql() -> str:
    found = shutil.which("psql")
    if found:
        return found
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / "psql").is_file():
            return str(d / "psql")
    raise RuntimeError(f"{ENV} is set but psql is not installed (Debian: postgresql-client)")


def _run(url: str, sql: str) -> None:
    r = subprocess.run([_psql(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"psql failed ({r.returncode}) on {sql!r}: {r.stderr.strip()}")


def database_for_server() -> str | None:
    """A fresh database for one havipd (its ``store`` URL), or None when the run uses SQLite."""
    admin = store_url()
    if admin is None:
        return None
    name = "havip_conf_" + uuid.uuid4().hex[:12]
    _run(admin, f"CREATE DATABASE {name}")
    _created.append((admin, name))
    parts = urllib.parse.urlsplit(admin)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


@atexit.register
def _drop_all() -> None:
    for admin, name in _created:
        try:
            _run(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        except Exception as e:  # cleanup only
            print(f"warning: could not drop {name}: {e}")

