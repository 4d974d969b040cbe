"""Fixtures of the reliability suite (RELIABILITY.md).

* ``nodes(n, store=..., **kw)``: starts n havipd processes for this test, each with its own
  data_dir; ``store`` is a PostgreSQL URL (shared by all n) or None for SQLite.
* ``pg_db``: a fresh PostgreSQL database on ``$HAVIP_TEST_POSTGRES_URL``'s server, dropped
  after the test. Without the URL: a failure under ``CI=true``, otherwise a skip whose reason
  says the test did not run.

On a failing test every node's log (its last lines) is attached to the report; the figures of
every test are printed in the terminal summary.
"""

from __future__ import annotations

import os

import pytest

from rel_harness import FIGURES, PgDatabase, RelServer, havipd_binary, postgres_admin_url

for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


@pytest.fixture
def pg_db():
    db = PgDatabase(postgres_admin_url())
    yield db
    db.drop()


@pytest.fixture
def nodes(request, tmp_path_factory):
    started: list[RelServer] = []
    request.node._rel_nodes = started

    def factory(n: int, store: str | None = None, **kwargs) -> list[RelServer]:
        binary = havipd_binary()
        batch = [RelServer(binary, tmp_path_factory.mktemp(f"node{i}"), name=f"node{i}", store=store, **kwargs)
                 for i in range(len(started), len(started) + n)]
        started.extend(batch)
        for srv in batch:
            srv.start(timeout=30)
        return batch

    yield factory
    for srv in started:
        srv.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for srv in getattr(item, "_rel_nodes", []):
            report.sections.append((f"havipd log ({srv.name}, {srv.log_path})", srv.log_tail(120)))
    return report


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("reliability figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
