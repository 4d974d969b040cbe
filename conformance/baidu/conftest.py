"""Fixtures of the Baidu suite: one session-wide havipd in ``immediate`` mode with generous
quotas (Baidu's 5 instances per HAVIP kept), fresh servers for quota and exhaustion tests,
``HavipClient``s of accounts A and B, the admin API. The binary is ``$HAVIPD_BIN`` or
``<repo>/target/debug/havipd``. A failing test gets the log lines havipd wrote during it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bce_harness import GENEROUS, BaiduServer  # noqa: E402

for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

REPO_ROOT = Path(__file__).resolve().parents[2]
_LIVE: list[BaiduServer] = []


def _binary() -> Path:
    binary = Path(os.environ.get("HAVIPD_BIN") or REPO_ROOT / "target" / "debug" / "havipd")
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(f"havipd binary not found at {binary}: run `cargo build -p havipd` or set HAVIPD_BIN",
                    pytrace=False)
    return binary


def _start(tmp_path_factory, name: str, **kw) -> BaiduServer:
    srv = BaiduServer(_binary(), tmp_path_factory.mktemp(name), name=name, **kw).start()
    _LIVE.append(srv)
    return srv


def _stop(srv: BaiduServer) -> None:
    srv.stop()
    if srv in _LIVE:
        _LIVE.remove(srv)


@pytest.fixture(scope="session")
def bce_server(tmp_path_factory):
    srv = _start(tmp_path_factory, "bce-immediate", quotas=GENEROUS)
    yield srv
    _stop(srv)


@pytest.fixture
def bce_fresh_server(tmp_path_factory):
    """``bce_fresh_server(quotas=None)``: a havipd for this test only (Baidu's default quotas)."""
    started: list[BaiduServer] = []

    def factory(quotas: dict | None = None, mode: str = "immediate") -> BaiduServer:
        srv = _start(tmp_path_factory, "bce-fresh", quotas=quotas, mode=mode)
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        _stop(srv)


@pytest.fixture
def bce(bce_server):
    return bce_server.client("A")


@pytest.fixture
def bce_b(bce_server):
    return bce_server.client("B")


@pytest.fixture
def bce_admin(bce_server):
    adm = bce_server.admin
    yield adm
    adm.clear_faults()


@pytest.fixture(autouse=True)
def _bce_log_offsets(request):
    request.node._bce_log_offsets = {id(s): s.log_size() for s in _LIVE}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        offsets = getattr(item, "_bce_log_offsets", {})
        for srv in list(_LIVE):
            text = srv.log_since(offsets.get(id(srv), 0))
            if text.strip():
                report.sections.append((f"havipd log ({srv.name}, {srv.log_path})", text))
    return report
