"""Fixtures for the Tencent Cloud suite: havipd processes and SDK clients.

* ``tc_server``: one session-wide havipd in ``immediate`` mode, generous quotas and no rate
  limit (so loops in tests are never throttled); tests create their own HAVIPs.
* ``tc_manual``: a session-wide havipd in ``manual`` mode: async work stays RUNNING until
  ``/admin/v1/operations/advance``.
* ``tc_fresh(...)``: a havipd for one test (quotas, exhaustion, the default rate limit).
* ``vpc`` / ``ecm``: account A through the VPC and ECM SDKs (TC3, POST).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tc_harness import GENEROUS_QUOTAS, TcServer  # noqa: E402

for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

REPO_ROOT = Path(__file__).resolve().parents[2]
_LIVE: list[TcServer] = []


def _binary() -> Path:
    b = Path(os.environ.get("HAVIPD_BIN") or REPO_ROOT / "target" / "debug" / "havipd")
    if not b.is_file():
        pytest.fail(f"havipd binary not found at {b}: run `cargo build -p havipd` or set HAVIPD_BIN", pytrace=False)
    return b


def _start(factory, name: str, **kw) -> TcServer:
    srv = TcServer(_binary(), factory.mktemp(name), name=name, **kw).start()
    _LIVE.append(srv)
    return srv


def _stop(srv: TcServer) -> None:
    srv.stop()
    if srv in _LIVE:
        _LIVE.remove(srv)


@pytest.fixture(scope="session")
def tc_server(tmp_path_factory):
    srv = _start(tmp_path_factory, "tc-immediate", mode="immediate", quotas=GENEROUS_QUOTAS, rate=0)
    yield srv
    _stop(srv)


@pytest.fixture(scope="session")
def tc_manual(tmp_path_factory):
    srv = _start(tmp_path_factory, "tc-manual", mode="manual", quotas=GENEROUS_QUOTAS, rate=0)
    yield srv
    _stop(srv)


@pytest.fixture
def tc_fresh(tmp_path_factory):
    started: list[TcServer] = []

    def factory(*, mode: str = "immediate", quotas: dict | None = None, rate: int = 0) -> TcServer:
        srv = _start(tmp_path_factory, "tc-fresh", mode=mode,
                     quotas=GENEROUS_QUOTAS if quotas is None else quotas, rate=rate)
        started.append(srv)
        return srv

    yield factory
    for s in started:
        _stop(s)


@pytest.fixture
def vpc(tc_server):
    return tc_server.client("vpc")


@pytest.fixture
def ecm(tc_server):
    return tc_server.client("ecm")


@pytest.fixture
def tc_admin(tc_server):
    adm = tc_server.admin
    yield adm
    adm.clear_faults()


@pytest.fixture(autouse=True)
def _tc_log_offsets(request):
    request.node._tc_log_offsets = {id(s): s.log_size() for s in _LIVE}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and "tencent" in str(item.fspath):
        offsets = getattr(item, "_tc_log_offsets", {})
        for srv in list(_LIVE):
            text = srv.log_since(offsets.get(id(srv), 0))
            if text.strip():
                report.sections.append((f"havipd log ({srv.name})", text))
    return report
