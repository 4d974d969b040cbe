"""Shared pieces of the reliability suite (RELIABILITY.md).

Reuses the Alibaba harness (``conformance/aliyun/helpers.py``: the test world, ``HavipServer``,
the hand-made V2/V3 signers, the admin client) and adds:

* ``PgCluster``: a fresh PostgreSQL database per test on the server named by
  ``HAVIP_TEST_POSTGRES_URL`` (created and dropped with ``psql``), or a clear failure when the
  URL is missing under CI;
* ``node(...)``: a havipd on SQLite or on a given PostgreSQL URL (its own data_dir either way);
* ``Caller``: one signed request (V2 and V3 in turn) to whichever node it is pointed at, telling
  an answer (``dict``), a refusal (``ApiError``) and no answer at all (``NoAnswer``: the node
  is down or died mid-request, so the outcome is unknown) apart;
* ``describe_all``: every HAVIP of account A through DescribeHaVips paging;
* ``db_*``: read-only looks at the store (SQLite file or PostgreSQL) for the allocator check;
* ``FIGURES``: one line per test, printed in pytest's terminal summary.
"""

from __future__ import annotations

import http.client
import ipaddress
import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest

ALIYUN_DIR = Path(__file__).resolve().parents[1] / "aliyun"
if str(ALIYUN_DIR) not in sys.path:
    sys.path.insert(0, str(ALIYUN_DIR))

from helpers import (  # noqa: E402
    GENEROUS_QUOTAS,
    REGION,
    ApiError,
    HavipServer,
    World,
    make_client,
    usable_addresses,
    v2_request,
    v3_request,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

# A /27 in VPC_A1 for the exhaustion race: 32 addresses, 4 reserved, 28 usable, none held.
VSW_27 = "vsw-bp1confrel27000010"
CIDR_27 = "10.0.7.0/27"

FIGURES: list[str] = []
_figures_lock = threading.Lock()


def figure(line: str) -> None:
    with _figures_lock:
        FIGURES.append(line)
    print(line, flush=True)


def topology() -> dict:
    topo = World.topology()
    topo["vswitch"].append({"id": VSW_27, "vpc": World.VPC_A1, "zone": "cn-hangzhou-h", "cidr": CIDR_27})
    return topo


def havipd_binary() -> Path:
    binary = Path(os.environ.get("HAVIPD_BIN") or REPO_ROOT / "target" / "debug" / "havipd")
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(f"havipd binary not found at {binary}: run `cargo build -p havipd` or set HAVIPD_BIN",
                    pytrace=False)
    return binary


class RelServer(HavipServer):
    """``HavipServer`` with an optional ``store = <postgres URL>`` (prepended: a top-level key)."""

    def __init__(self, binary: Path, workdir: Path, *, name: str, store: str | None = None,
                 delay: str | None = None, **kwargs):
        super().__init__(binary, workdir, name=name, topology=topology(), store_from_env=False, **kwargs)
        self.store = store
        text = self.config_path.read_text()
        if delay:
            assert 'delay = "300ms"' in text, text
            text = text.replace('delay = "300ms"', f"delay = {json.dumps(delay)}")
        if store:
            text = f"store = {json.dumps(store)}\n" + text
        self.config_path.write_text(text)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "havip.db"


# --------------------------------------------------------------------------------------------
# PostgreSQL: one fresh database per test
# --------------------------------------------------------------------------------------------


def _psql_binary() -> str:
    found = shutil.which("psql")
    if found:
        return found
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / "psql").is_file():
            return str(d / "psql")
    pytest.fail("psql not found (Debian: apt-get install postgresql-client); the PostgreSQL reliability "
                "tests need it to create their databases", pytrace=False)


def postgres_admin_url() -> str:
    url = os.environ.get("HAVIP_TEST_POSTGRES_URL")
    if url:
        return url
    msg = ("HAVIP_TEST_POSTGRES_URL is not set: the PostgreSQL reliability tests need a server whose user "
           "may CREATE DATABASE (scripts/test-all.sh brings one up through scripts/postgres.sh)")
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(msg, pytrace=False)
    pytest.skip("NOT RUN (set HAVIP_TEST_POSTGRES_URL; under CI=true this fails): " + msg)


class PgDatabase:
    def __init__(self, admin_url: str):
        self.psql = _psql_binary()
        self.admin_url = admin_url
        self.name = "havip_rel_" + uuid.uuid4().hex[:12]
        parts = urllib.parse.urlsplit(admin_url)
        self.url = urllib.parse.urlunsplit(parts._replace(path="/" + self.name))
        self._run(self.admin_url, f"CREATE DATABASE {self.name}")

    def _run(self, url: str, sql: str) -> str:
        r = subprocess.run([self.psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-F", "\t", "-d", url, "-c", sql],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed ({r.returncode}) on {sql!r}: {r.stderr.strip()}")
        return r.stdout

    def query(self, sql: str) -> list[list[str]]:
        return [line.split("\t") for line in self._run(self.url, sql).splitlines() if line]

    def drop(self) -> None:
        try:
            self._run(self.admin_url, f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
        except Exception as e:  # cleanup only: never hide the test's own outcome
            print(f"warning: could not drop {self.name}: {e}")


# --------------------------------------------------------------------------------------------
# Signed calls that tell "refused" from "no answer"
# --------------------------------------------------------------------------------------------


class NoAnswer(Exception):
    """The request got no HTTP answer (node down, or killed mid-request): outcome unknown."""


def _flatten(params: dict[str, Any]) -> dict[str, str]:
    flat: dict[str, str] = {}
    for k, v in params.items():
        if isinstance(v, list):
            for i, item in enumerate(v, 1):
                if isinstance(item, dict):
                    for ik, iv in item.items():
                        if isinstance(iv, list):
                            for j, x in enumerate(iv, 1):
                                flat[f"{k}.{i}.{ik}.{j}"] = str(x)
                        else:
                            flat[f"{k}.{i}.{ik}"] = str(iv)
                else:
                    flat[f"{k}.{i}"] = str(item)
        else:
            flat[k] = str(v)
    return flat


_sig_turn = itertools.count()


def call(srv: HavipServer, action: str, **params: Any) -> dict:
    """One signed request to ``srv`` (V3 and V2 alternately). Raises ApiError or NoAnswer."""
    flat = _flatten(params)
    endpoint = srv.ports.get("aliyun") if srv.ports else None
    if not endpoint or (srv.proc is not None and srv.proc.poll() is not None):
        raise NoAnswer(f"{srv.name} is down")
    try:
        if next(_sig_turn) % 2:
            resp = v2_request(endpoint, action, flat)
        else:
            resp = v3_request(endpoint, action, flat)
    except (OSError, http.client.HTTPException) as e:
        raise NoAnswer(f"{srv.name}: {type(e).__name__}: {e}") from None
    try:
        body = resp.json()
    except ValueError:
        raise ApiError(resp.status, "NotJson", resp.body[:200].decode(errors="replace"), None) from None
    if resp.status != 200:
        raise ApiError(resp.status, body.get("Code", "?"), body.get("Message", ""), body.get("RequestId"), body)
    return body


def describe_all(srv: HavipServer, **filters: Any) -> list[dict]:
    """Every HAVIP of account A in REGION through DescribeHaVips, page by page (Tea SDK, V3)."""
    client = make_client("tea-v3", srv.aliyun_endpoint, World.AK_A, World.SECRET_A, REGION)
    items: list[dict] = []
    page = 1
    while True:
        body = client.call("DescribeHaVips", PageNumber=page, PageSize=50, **filters)
        batch = body["HaVips"]["HaVip"]
        items.extend(batch)
        if not batch or len(items) >= body["TotalCount"]:
            break
        page += 1
        assert page < 200, "DescribeHaVips paging does not end"
    ids = [i["HaVipId"] for i in items]
    assert len(ids) == len(set(ids)), f"DescribeHaVips lists an HAVIP twice across pages: {ids}"
    return items


def instances_of(item: dict) -> list[str]:
    return item["AssociatedInstances"]["associatedInstance"]


# --------------------------------------------------------------------------------------------
# The allocator, read from the store
# --------------------------------------------------------------------------------------------


def _ip(n: int | str) -> str:
    return str(ipaddress.IPv4Address(int(n)))


def db_state(srv: RelServer, pg: PgDatabase | None) -> dict:
    """``havips``: {id: (vswitch, ip, status)}; ``allocs``: {owner: (vswitch, ip)} for havip:* owners;
    ``counters``: {name: n}; ``operations``: count."""
    q_havips = "SELECT id, vswitch, ip, status FROM havips"
    q_allocs = "SELECT owner, vswitch, ip FROM ip_allocations WHERE owner LIKE 'havip:%'"
    q_counters = "SELECT name, n FROM counters"
    q_ops = "SELECT COUNT(*) FROM operations"
    q_all_allocs = "SELECT vswitch, COUNT(*) FROM ip_allocations GROUP BY vswitch"
    q_accounts = "SELECT account, COUNT(*) FROM havips GROUP BY account"
    if pg is not None:
        rows = {k: pg.query(q) for k, q in (("h", q_havips), ("a", q_allocs), ("c", q_counters), ("o", q_ops),
                                              ("v", q_all_allocs), ("acc", q_accounts))}
    else:
        con = sqlite3.connect(f"file:{srv.db_path}?mode=ro", uri=True, timeout=10)
        try:
            rows = {k: con.execute(q).fetchall() for k, q in (("h", q_havips), ("a", q_allocs), ("c", q_counters),
                                                              ("o", q_ops), ("v", q_all_allocs),
                                                              ("acc", q_accounts))}
        finally:
            con.close()
    allocs: dict[str, list] = {}
    for owner, vsw, ip in rows["a"]:
        allocs.setdefault(owner, []).append((vsw, _ip(ip)))
    return {
        "havips": {h: (vsw, _ip(ip), st) for h, vsw, ip, st in rows["h"]},
        "allocs": allocs,
        "counters": {name: int(n) for name, n in rows["c"]},
        "operations": int(rows["o"][0][0]),
        "vsw_allocs": {vsw: int(n) for vsw, n in rows["v"]},
        "per_account": {acc: int(n) for acc, n in rows["acc"]},
    }


def check_allocator(state: dict, described: list[dict]) -> int:
    """No address leaked or shared: the havip:* rows of ip_allocations are exactly the HAVIPs'
    addresses, DescribeHaVips shows the same (id, ip) pairs, and the quota counters match the
    rows they count. Returns the number of addresses checked."""
    havips = state["havips"]
    allocs = state["allocs"]
    problems = []
    for owner, held in allocs.items():
        hid = owner.split(":", 1)[1]
        if len(held) != 1:
            problems.append(f"{owner} holds {len(held)} addresses: {held}")
        if hid not in havips:
            problems.append(f"leaked address: {owner} holds {held} but no such HAVIP exists")
        elif held[0] != havips[hid][:2]:
            problems.append(f"{hid} is at {havips[hid][:2]} but holds {held}")
    for hid, (vsw, ip, _st) in havips.items():
        if f"havip:{hid}" not in allocs:
            problems.append(f"{hid} at {vsw}/{ip} holds no ip_allocations row")
    addresses = [(vsw, ip) for vsw, ip, _ in havips.values()]
    dups = len(addresses) - len(set(addresses))
    if dups:
        problems.append(f"{dups} addresses held by two HAVIPs")
    seen = {(i["HaVipId"], i["VSwitchId"], i["IpAddress"]) for i in described}
    stored = {(h, vsw, ip) for h, (vsw, ip, _st) in havips.items()}
    if seen != stored:
        problems.append(f"DescribeHaVips and the havips table differ: only listed {sorted(seen - stored)}, "
                        f"only stored {sorted(stored - seen)}")
    for vsw, n in state["vsw_allocs"].items():
        c = state["counters"].get(f"vsw:{vsw}")
        if c is not None and c != n:
            problems.append(f"counter vsw:{vsw} = {c}, but {n} ip_allocations rows")
    for acc, n in state["per_account"].items():
        c = state["counters"].get(f"acct:{acc}")
        if c is not None and c != n:
            problems.append(f"counter acct:{acc} = {c}, but {n} HAVIPs")
    assert not problems, "allocator check failed:\n  " + "\n  ".join(problems)
    return len(addresses)


__all__ = [
    "ApiError", "CIDR_27", "FIGURES", "GENEROUS_QUOTAS", "NoAnswer", "PgDatabase", "RelServer", "VSW_27",
    "World", "call", "check_allocator", "db_state", "describe_all", "figure", "havipd_binary", "instances_of",
    "postgres_admin_url", "usable_addresses",
]
