"""Harness for the Baidu AI Cloud conformance suite.

* ``BaiduWorld``: the test topology (two Baidu accounts, an Alibaba account for the
  wrong-cloud key, subnets in two VPCs and two regions, servers in every state, attached and
  free ENIs, EIPs) as a topology document.
* ``BaiduServer``: starts the real ``havipd`` binary with every listener on port 0, waits for
  ``ports.json``, keeps its log, and hands out ``HavipClient`` objects and an admin client.
* ``Bce``: the official ``bce-python-sdk`` ``HavipClient`` behind small wrappers that return
  the wire JSON (``raw_data``) next to the SDK object, and turn ``BceServerError`` into
  ``ApiError(status, code, message, request_id)``.
* ``signed_request``: a hand-written bce-auth-v1 signer (signatures.md §5) for requests no SDK
  sends: stale timestamps, wrong secrets, malformed JSON, bare flags, other hosts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import http.client
import ipaddress
import itertools
import json
import os
import signal
import subprocess
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any, Callable

import requests
from baidubce import protocol
from baidubce.auth.bce_credentials import BceCredentials
from baidubce.bce_client_configuration import BceClientConfiguration
from baidubce.exception import BceHttpClientError, BceServerError
from baidubce.retry.retry_policy import NoRetryPolicy
from baidubce.services.havip.havip_client import HavipClient
import sys

# conformance/havip_store.py, shared by the three suites: HAVIP_STORE_URL (SQLite or PostgreSQL).
_CONFORMANCE_DIR = str(Path(__file__).resolve().parents[1])
if _CONFORMANCE_DIR not in sys.path:
    sys.path.insert(0, _CONFORMANCE_DIR)
import havip_store  # noqa: E402


REGION = "bj"
OTHER_REGION = "gz"
ADMIN_TOKEN = "conformance-admin-token"
HAVIP_ID_RE = r"^havip-[0-9a-z]{12}$"
TIMESTAMP_FMT = "%Y-%m-%dT%H:%M:%SZ"


class BaiduWorld:
    ACCOUNT_A = "bce0conf00000000000000000000000a"
    AK_A = "bceconfak000000000000000000000a1"
    SECRET_A = "bceconfsecret0000000000000000a1"
    ACCOUNT_B = "bce0conf00000000000000000000000b"
    AK_B = "bceconfak000000000000000000000b1"
    SECRET_B = "bceconfsecret0000000000000000b1"
    ALI_ACCOUNT = "1000000000000009"
    ALI_AK = "LTAI5tConfAliForBaidu009"
    ALI_SECRET = "ConfAliSecretForBaidu000000009"

    VPC_A1 = "vpc-confa1000001"  # 10.0.0.0/16
    VPC_A2 = "vpc-confa2000002"  # 10.1.0.0/16
    VPC_A_GZ = "vpc-confagz00003"  # 10.2.0.0/16 in gz
    VPC_B = "vpc-confb0000004"  # 172.16.0.0/16
    VPC_LIST = "vpc-conflist0005"  # 10.3.0.0/16: listing tests only

    SBN_MAIN = "sbn-confmain0001"  # 10.0.1.0/24
    SBN_OTHER = "sbn-confother002"  # 10.0.2.0/24: same VPC, other subnet
    SBN_TINY = "sbn-conftiny0003"  # 10.0.3.0/29: exhaustion (fresh servers only)
    SBN_EXPL = "sbn-confexpl0004"  # 10.0.4.0/24: explicit addresses only
    SBN_A2 = "sbn-confa2sbn005"  # 10.1.1.0/24, other VPC
    SBN_GZ = "sbn-confgzsbn006"  # 10.2.1.0/24 in gz
    SBN_B = "sbn-confbsbn0007"  # 172.16.1.0/24, account B
    SBN_LIST = "sbn-conflist0008"  # 10.3.1.0/24

    CIDR = {
        SBN_MAIN: "10.0.1.0/24", SBN_OTHER: "10.0.2.0/24", SBN_TINY: "10.0.3.0/29",
        SBN_EXPL: "10.0.4.0/24", SBN_A2: "10.1.1.0/24", SBN_GZ: "10.2.1.0/24",
        SBN_B: "172.16.1.0/24", SBN_LIST: "10.3.1.0/24",
    }
    SBN_VPC = {
        SBN_MAIN: VPC_A1, SBN_OTHER: VPC_A1, SBN_TINY: VPC_A1, SBN_EXPL: VPC_A1,
        SBN_A2: VPC_A2, SBN_GZ: VPC_A_GZ, SBN_B: VPC_B, SBN_LIST: VPC_LIST,
    }

    # Servers (mixed-case IDs, as Baidu's are).
    I_RUN = [f"i-ConfRun{n}" for n in range(1, 8)]  # seven running servers in SBN_MAIN
    I_STOPPED = "i-ConfStop"
    I_STARTING = "i-ConfStarting"
    I_OTHER_SBN = "i-ConfOtherSbn"  # SBN_OTHER, same VPC
    I_A2 = "i-ConfOtherVpc"  # SBN_A2, other VPC
    I_TINY = "i-ConfTiny"
    I_B = "i-ConfAcctB"

    ENI_1 = "eni-confeni00001"  # attached to I_RUN[0]
    ENI_2 = "eni-confeni00002"  # attached to I_RUN[1]
    ENI_1B = "eni-confeni00003"  # a second ENI of I_RUN[0]
    ENI_FREE = "eni-conffree0004"

    EIP_B = "203.0.113.200"
    EIP_A_GZ = "203.0.113.201"

    INSTANCE_IPS: dict[str, tuple[str, str]] = {
        **dict(zip(I_RUN, [("sbn-confmain0001", f"10.0.1.{11 + n}") for n in range(7)])),
        I_STOPPED: (SBN_MAIN, "10.0.1.30"),
        I_STARTING: (SBN_MAIN, "10.0.1.31"),
        I_OTHER_SBN: (SBN_OTHER, "10.0.2.11"),
        I_A2: (SBN_A2, "10.1.1.11"),
        I_TINY: (SBN_TINY, "10.0.3.2"),
        I_B: (SBN_B, "172.16.1.11"),
    }
    ENI_IPS = {
        ENI_1: (SBN_MAIN, "10.0.1.41", I_RUN[0]),
        ENI_2: (SBN_MAIN, "10.0.1.42", I_RUN[1]),
        ENI_1B: (SBN_MAIN, "10.0.1.43", I_RUN[0]),
        ENI_FREE: (SBN_MAIN, "10.0.1.44", None),
    }

    @classmethod
    def topology(cls) -> dict[str, Any]:
        a, b = cls.ACCOUNT_A, cls.ACCOUNT_B
        state = {cls.I_STOPPED: "Stopped", cls.I_STARTING: "Starting"}
        vpc_owner = {cls.VPC_B: b}
        vpc_region = {cls.VPC_A_GZ: OTHER_REGION}
        vpc_cidr = {cls.VPC_A1: "10.0.0.0/16", cls.VPC_A2: "10.1.0.0/16", cls.VPC_A_GZ: "10.2.0.0/16",
                    cls.VPC_B: "172.16.0.0/16", cls.VPC_LIST: "10.3.0.0/16"}
        return {
            "region": [{"cloud": "baidu", "id": REGION}, {"cloud": "baidu", "id": OTHER_REGION},
                       {"cloud": "aliyun", "id": "cn-hangzhou"}],
            "account": [
                {"id": a, "cloud": "baidu", "name": "bce-a", "access_keys": [{"id": cls.AK_A, "secret": cls.SECRET_A}]},
                {"id": b, "cloud": "baidu", "name": "bce-b", "access_keys": [{"id": cls.AK_B, "secret": cls.SECRET_B}]},
                {"id": cls.ALI_ACCOUNT, "cloud": "aliyun", "name": "ali",
                 "access_keys": [{"id": cls.ALI_AK, "secret": cls.ALI_SECRET}]},
            ],
            "vpc": [{"id": v, "account": vpc_owner.get(v, a), "region": vpc_region.get(v, REGION), "cidr": c}
                    for v, c in vpc_cidr.items()],
            "vswitch": [{"id": s, "vpc": cls.SBN_VPC[s], "zone": "cn-bj-a", "cidr": c} for s, c in cls.CIDR.items()],
            "instance": [{"id": i, "vswitch": s, "private_ip": ip, "state": state.get(i, "Running")}
                         for i, (s, ip) in cls.INSTANCE_IPS.items()],
            "eni": [{"id": e, "vswitch": s, "private_ip": ip, **({"instance": i} if i else {})}
                    for e, (s, ip, i) in cls.ENI_IPS.items()],
            "eip": [
                {"id": "ip-confb0001", "account": b, "region": REGION, "address": cls.EIP_B},
                {"id": "ip-confagz01", "account": a, "region": OTHER_REGION, "address": cls.EIP_A_GZ},
            ],
        }


def reserved(cidr: str) -> set[str]:
    """Network address, gateway (.1) and broadcast address."""
    hosts = list(ipaddress.ip_network(cidr))
    return {str(hosts[0]), str(hosts[1]), str(hosts[-1])}


# ------------------------------------------------------------------------------------------
# TOML (just enough for the config and the topology)
# ------------------------------------------------------------------------------------------


def _v(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_v(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_v(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def to_toml(doc: dict[str, Any]) -> str:
    lines: list[str] = []
    for k, v in doc.items():
        if not isinstance(v, (dict, list)):
            lines.append(f"{k} = {_v(v)}")
    for k, v in doc.items():
        if isinstance(v, dict):
            flat = {sk: sv for sk, sv in v.items() if not isinstance(sv, dict)}
            lines.append(f"[{k}]")
            lines += [f"{sk} = {_v(sv)}" for sk, sv in flat.items()]
            for sk, sv in v.items():
                if isinstance(sv, dict):
                    lines.append(f"[{k}.{sk}]")
                    lines += [f"{a} = {_v(b)}" for a, b in sv.items()]
        elif isinstance(v, list):
            for item in v:
                lines.append(f"[[{k}]]")
                lines += [f"{a} = {_v(b)}" for a, b in item.items()]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------
# SDK wrapper
# ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ApiError(Exception):
    status: int
    code: str
    message: str
    request_id: str

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.code}: {self.message} (request {self.request_id})"


@dataclasses.dataclass
class Reply:
    """A success: the SDK's response object and the wire JSON (``{}`` for an empty body)."""

    sdk: Any
    body: dict

    @property
    def request_id(self) -> str:
        return self.sdk.metadata.bce_request_id


class Bce:
    """``HavipClient`` of one account; every method returns ``Reply`` or raises ``ApiError``."""

    def __init__(self, endpoint: str, ak: str, sk: str, retries: bool = False):
        config = BceClientConfiguration(credentials=BceCredentials(ak, sk), endpoint=endpoint,
                                        protocol=protocol.HTTP)
        if not retries:
            config.retry_policy = NoRetryPolicy()
        self.sdk = HavipClient(config)

    def _call(self, fn: Callable, *args, **kwargs) -> Reply:
        try:
            resp = fn(*args, **kwargs)
        except (BceServerError, BceHttpClientError) as e:
            err = e.last_error if isinstance(e, BceHttpClientError) else e
            if not isinstance(err, BceServerError):
                raise
            code = err.code.decode() if isinstance(err.code, bytes) else err.code
            rid = err.request_id.decode() if isinstance(err.request_id, bytes) else err.request_id
            raise ApiError(err.status_code, code, str(err), rid) from None
        raw = getattr(resp, "raw_data", None)
        return Reply(resp, json.loads(raw) if raw else {})

    def create(self, name: str, subnet: str, ip: str = "", description: str = "", token: str | None = None) -> Reply:
        return self._call(self.sdk.create_havip, name, subnet, ip, description=description, client_token=token)

    def list(self, vpc_id: str | None = None, marker: str | None = None, max_keys: int | None = None) -> Reply:
        return self._call(self.sdk.get_havip_detail_list, vpc_id=vpc_id, marker=marker, max_keys=max_keys)

    def get(self, havip_id: str) -> Reply:
        return self._call(self.sdk.get_havip_detail, havip_id)

    def update(self, havip_id: str, name: str, description: str = "", token: str | None = None) -> Reply:
        return self._call(self.sdk.update_havip, name, havip_id, description=description, client_token=token)

    def delete(self, havip_id: str, token: str | None = None) -> Reply:
        return self._call(self.sdk.delete_havip, havip_id, client_token=token)

    def attach(self, havip_id: str, ids: list[str], kind: str = "SERVER", token: str | None = None) -> Reply:
        return self._call(self.sdk.havip_attach_instance, ids, kind, havip_id, client_token=token)

    def detach(self, havip_id: str, ids: list[str], kind: str = "SERVER", token: str | None = None) -> Reply:
        return self._call(self.sdk.havip_detach_instance, ids, kind, havip_id, client_token=token)

    def bind(self, havip_id: str, address: str, token: str | None = None) -> Reply:
        return self._call(self.sdk.havip_bind_public_ip, havip_id, address, client_token=token)

    def unbind(self, havip_id: str, token: str | None = None) -> Reply:
        return self._call(self.sdk.havip_unbind_public_ip, havip_id, client_token=token)


# ------------------------------------------------------------------------------------------
# Hand-signed requests (signatures.md §5)
# ------------------------------------------------------------------------------------------


def pct(s: str) -> str:
    return urllib.parse.quote(s, safe="-_.~")


def utc_stamp(offset_seconds: float = 0) -> str:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=offset_seconds)).strftime(TIMESTAMP_FMT)


@dataclasses.dataclass
class Raw:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def signed_request(endpoint: str, method: str, path: str, query: list[tuple[str, str]] | None = None,
                   body: bytes = b"", *, ak: str = BaiduWorld.AK_A, sk: str = BaiduWorld.SECRET_A,
                   timestamp: str | None = None, expiration: int = 1800, host: str | None = None,
                   raw_query: str | None = None, authorization: str | None = None,
                   extra_headers: dict[str, str] | None = None) -> Raw:
    """Signs with the default header set (empty signedHeaders), as the Python SDK does."""
    query = query or []
    host = host or endpoint
    ts = timestamp or utc_stamp()
    headers = {"host": host, "content-type": "application/json;charset=utf-8",
               "content-length": str(len(body)), "x-bce-date": ts, **(extra_headers or {})}
    prefix = f"bce-auth-v1/{ak}/{ts}/{expiration}"
    key = hmac.new(sk.encode(), prefix.encode(), hashlib.sha256).hexdigest()
    cq = "&".join(sorted(f"{pct(k)}={pct(v)}" for k, v in query))
    ch = "\n".join(sorted(f"{pct(k)}:{pct(v.strip())}" for k, v in headers.items()
                          if v.strip() and (k in ("host", "content-length", "content-type", "content-md5")
                                            or k.startswith("x-bce-"))))
    canonical = f"{method}\n{pct_path(path)}\n{cq}\n{ch}"
    sig = hmac.new(key.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = authorization if authorization is not None else f"{prefix}//{sig}"
    if authorization == "":
        del headers["authorization"]
    qs = raw_query if raw_query is not None else "&".join(f"{pct(k)}={pct(v)}" for k, v in query)
    target = path + ("?" + qs if qs else "")
    h, port = endpoint.rsplit(":", 1)
    conn = http.client.HTTPConnection(h, int(port), timeout=15)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders(body or None)
        resp = conn.getresponse()
        return Raw(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def pct_path(path: str) -> str:
    return urllib.parse.quote(urllib.parse.unquote(path), safe="/-_.~")


def assert_bce_error(resp: Raw, status: int, code: str) -> dict:
    assert resp.status == status, f"expected HTTP {status} {code}, got {resp.status}: {resp.body[:400]!r}"
    body = resp.json()
    assert set(body) == {"code", "message", "requestId"}, body
    assert body["code"] == code, body
    assert body["message"] and body["requestId"], body
    assert resp.headers.get("x-bce-request-id") == body["requestId"], (resp.headers, body)
    return body


# ------------------------------------------------------------------------------------------
# Admin API and the server process
# ------------------------------------------------------------------------------------------


class Admin:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.trust_env = False

    def request(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.session.request(method, self.base_url + path, json=body,
                                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=15)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        r = self.request(method, path, body)
        assert r.status_code == 200, f"admin {method} {path} -> {r.status_code}: {r.text}"
        return r.json() if r.content else None

    def upsert(self, **objects: list[dict]) -> Any:
        return self.ok("POST", "/admin/v1/topology", objects)

    def announce(self, havip_id: str, claimant: str) -> requests.Response:
        return self.request("POST", f"/admin/v1/havips/{havip_id}/announce", {"claimant": claimant})

    def inject_fault(self, action: str, code: str, count: int = 1) -> Any:
        return self.ok("POST", "/admin/v1/faults", {"cloud": "baidu", "action": action, "code": code, "count": count})

    def clear_faults(self) -> Any:
        return self.ok("DELETE", "/admin/v1/faults")


GENEROUS = {"instances_per_havip": 5, "havips_per_instance": 500, "havips_per_vpc": 1000, "havips_per_account": 2000}


class BaiduServer:
    def __init__(self, binary: Path, workdir: Path, *, name: str, mode: str = "immediate",
                 quotas: dict[str, int] | None = None):
        self.binary, self.workdir, self.name = Path(binary), Path(workdir), name
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "havipd.log"
        self.config_path = self.workdir / "havipd.toml"
        topology = self.workdir / "topology.toml"
        topology.write_text(to_toml(BaiduWorld.topology()))
        # HAVIP_STORE_URL set: a PostgreSQL database of this server's own, the same one across
        # its restarts (conformance/havip_store.py). Unset: SQLite in data_dir.
        self.store = havip_store.database_for_server()
        config: dict[str, Any] = {
            "data_dir": str(self.data_dir),
            **({"store": self.store} if self.store else {}),
            "topology": str(topology),
            "listen": {"admin": "127.0.0.1:0", "aliyun": "127.0.0.1:0", "tencent": "127.0.0.1:0",
                       "baidu": "127.0.0.1:0"},
            "admin": {"token": ADMIN_TOKEN},
            "operations": {"mode": mode, "delay": "300ms"},
            "auth": {"max_clock_skew": "15m"},
        }
        if quotas:
            config["quotas"] = {"baidu": dict(quotas)}
        self.config_path.write_text(to_toml(config))
        self.proc: subprocess.Popen | None = None
        self.ports: dict[str, str] = {}

    def start(self, timeout: float = 20.0) -> "BaiduServer":
        ports_file = self.data_dir / "ports.json"
        ports_file.unlink(missing_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([str(self.binary), "--config", str(self.config_path)],
                                         stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"havipd exited with {self.proc.returncode}:\n{self.log_tail()}")
            if ports_file.exists():
                self.ports = json.loads(ports_file.read_text())
                try:
                    if self.admin.request("GET", "/admin/v1/health").status_code == 200:
                        return self
                except requests.ConnectionError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"havipd wrote no ports.json within {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def endpoint(self) -> str:
        return self.ports["baidu"]

    @property
    def admin(self) -> Admin:
        return Admin(f"http://{self.ports['admin']}")

    def client(self, account: str = "A", retries: bool = False) -> Bce:
        ak, sk = {"A": (BaiduWorld.AK_A, BaiduWorld.SECRET_A), "B": (BaiduWorld.AK_B, BaiduWorld.SECRET_B),
                  "ALI": (BaiduWorld.ALI_AK, BaiduWorld.ALI_SECRET)}[account]
        return Bce(self.endpoint, ak, sk, retries=retries)

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")[-20000:]

    def log_tail(self, n: int = 60) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


# ------------------------------------------------------------------------------------------
# Conveniences
# ------------------------------------------------------------------------------------------

SETTLE = 3.0
_names = itertools.count(1)
_explicit_hosts = itertools.count(10)
_eip_counter = itertools.count(1)


def fresh_name(prefix: str = "havip") -> str:
    return f"{prefix}_{next(_names)}_{uuid.uuid4().hex[:6]}"


def explicit_ip() -> str:
    """A fresh address of SBN_EXPL that no other test uses."""
    n = next(_explicit_hosts)
    assert n < 250
    return f"10.0.4.{n}"


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = SETTLE) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def wait_status(client: Bce, havip_id: str, status: str) -> dict:
    last: dict = {}

    def check():
        nonlocal last
        last = client.get(havip_id).body
        return last if last["status"] == status else None

    try:
        return wait_for(check, f"{havip_id} to be {status}")
    except AssertionError as e:
        raise AssertionError(f"{e}; last seen {last}") from None


def create(client: Bce, subnet: str = BaiduWorld.SBN_MAIN, ip: str = "", **kw: Any) -> str:
    """Creates an HAVIP and waits until it is available; returns its ID."""
    havip_id = client.create(kw.pop("name", None) or fresh_name(), subnet, ip, **kw).body["haVipId"]
    wait_status(client, havip_id, "available")
    return havip_id


def new_eip(admin: Admin, account: str = BaiduWorld.ACCOUNT_A, region: str = REGION) -> str:
    """Adds a fresh EIP to the topology; returns its address."""
    n = next(_eip_counter)
    address = f"198.51.{100 + n // 250}.{n % 250 + 1}"
    admin.upsert(eip=[{"id": f"ip-conft{n:05d}", "account": account, "region": region, "address": address}])
    return address
