"""Fixtures: havipd processes, SDK clients of three generations, the admin API.

* ``server``: one session-wide havipd in ``immediate`` mode with generous quotas; tests create
  their own HAVIPs (and their own instances, ENIs and EIPs when they change them), so they do
  not depend on each other.
* ``manual_server``: one session-wide havipd in ``manual`` mode: transient states persist until
  ``/admin/v1/operations/advance``.
* ``make_server(...)``: a fresh havipd for one test (quota, exhaustion and restart tests).
* ``client``: parametrized over the three SDK generations, account A of ``server``.

The binary is ``$HAVIPD_BIN`` or ``<repo>/target/debug/havipd``. On a failing test, the lines
each live havipd wrote to its log during that test are attached to the report.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import CLIENT_KINDS, GENEROUS_QUOTAS, HavipServer

# Loopback only: never let a proxy from the environment intercept SDK traffic.
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

REPO_ROOT = Path(__file__).resolve().parents[2]
_LIVE_SERVERS: list[HavipServer] = []


def havipd_binary() -> Path:
    binary = Path(os.environ.get("HAVIPD_BIN") or REPO_ROOT / "target" / "debug" / "havipd")
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(f"havipd binary not found at {binary}: run `cargo build -p havipd` or set HAVIPD_BIN",
                    pytrace=False)
    return binary


def _start(tmp_path_factory, name: str, **kwargs) -> HavipServer:
    srv = HavipServer(havipd_binary(), tmp_path_factory.mktemp(name), name=name, **kwargs)
    srv.start()
    _LIVE_SERVERS.append(srv)
    return srv


def _stop(srv: HavipServer) -> None:
    srv.stop()
    if srv in _LIVE_SERVERS:
        _LIVE_SERVERS.remove(srv)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    srv = _start(tmp_path_factory, "immediate", mode="immediate", quotas=GENEROUS_QUOTAS)
    yield srv
    _stop(srv)


@pytest.fixture(scope="session")
def manual_server(tmp_path_factory):
    srv = _start(tmp_path_factory, "manual", mode="manual", quotas=GENEROUS_QUOTAS)
    yield srv
    _stop(srv)


@pytest.fixture
def make_server(tmp_path_factory):
    """``make_server(mode="immediate", quotas={...})`` starts a havipd that lives for this test."""
    started: list[HavipServer] = []

    def factory(mode: str = "immediate", quotas: dict | None = None, name: str = "fresh") -> HavipServer:
        srv = _start(tmp_path_factory, name, mode=mode, quotas=quotas if quotas is not None else GENEROUS_QUOTAS)
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        _stop(srv)


@pytest.fixture(params=CLIENT_KINDS)
def client(request, server):
    """Account A of the session server, through each SDK generation in turn."""
    return server.client(request.param)


@pytest.fixture
def tea(server):
    """Account A through the default client (Tea SDK, V3 signature)."""
    return server.client("tea-v3")


@pytest.fixture
def tea_b(server):
    """Account B through the default client."""
    return server.client("tea-v3", account="B")


@pytest.fixture
def admin(server):
    """The session server's admin API; faults armed by a test are cleared after it."""
    adm = server.admin
    yield adm
    adm.clear_faults()


@pytest.fixture(autouse=True)
def _log_offsets(request):
    request.node._havipd_log_offsets = {id(s): s.log_size() for s in _LIVE_SERVERS}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        offsets = getattr(item, "_havipd_log_offsets", {})
        for srv in list(_LIVE_SERVERS):
            text = srv.log_since(offsets.get(id(srv), 0))
            if text.strip():
                report.sections.append((f"havipd log ({srv.name}, {srv.log_path})", text))
    return report
