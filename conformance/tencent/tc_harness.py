"""Harness for the Tencent Cloud conformance suite (self-contained: no import from other suites).

* ``TcWorld``: the test topology (two Tencent accounts, VPC and ECM networks, CVMs, ENIs,
  EIPs; one Alibaba account for cross-cloud checks) and its TOML writer.
* ``TcServer``: starts the real ``havipd`` binary on port 0 with that topology, waits for
  ``ports.json`` and keeps its log.
* ``Client``: the official SDKs (``tencentcloud-sdk-python-vpc`` / ``-ecm``) behind
  ``call(action, **params)`` (typed request and response models, the way applications use
  them) and ``call_json`` (the SDK's generic JSON call, for parameters no model has).
  Signature ``"TC3-HMAC-SHA256"`` (default), ``"HmacSHA256"`` or ``"HmacSHA1"``; method
  ``"POST"`` (default) or ``"GET"``. API errors surface as the SDK's
  ``TencentCloudSDKException`` (``.code``, ``.message``, ``.requestId``).
* A hand-written TC3 signer for requests no SDK sends (stale timestamps, unknown versions,
  wrong scopes) and a raw HTTP helper that returns status, headers and body.
* ``Admin``: the admin API (topology changes, master announcements, faults).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import requests
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.ecm.v20190719 import ecm_client
from tencentcloud.ecm.v20190719 import models as ecm_models
from tencentcloud.vpc.v20170312 import models as vpc_models
from tencentcloud.vpc.v20170312 import vpc_client
import sys

# conformance/havip_store.py, shared by the three suites: HAVIP_STORE_URL (SQLite or PostgreSQL).
_CONFORMANCE_DIR = str(Path(__file__).resolve().parents[1])
if _CONFORMANCE_DIR not in sys.path:
    sys.path.insert(0, _CONFORMANCE_DIR)
import havip_store  # noqa: E402


REGION = "ap-guangzhou"
OTHER_REGION = "ap-shanghai"
ECM_REGION = "ap-xian-ecm"
VPC_VERSION = "2017-03-12"
ECM_VERSION = "2019-07-19"

SDKError = TencentCloudSDKException


class TcWorld:
    """IDs of the test topology. Account A owns almost everything; B exists for tenancy."""

    ACCOUNT_A = "100000000001"
    AK_A = "AKIDtcConfAccountA0000000001"
    SECRET_A = "tcConfSecretA0000000000000001"
    ACCOUNT_B = "200000000002"
    AK_B = "AKIDtcConfAccountB0000000002"
    SECRET_B = "tcConfSecretB0000000000000002"
    ALI_ACCOUNT = "3000000000000003"
    ALI_AK = "LTAI5tTcConfAliyun0000003"
    ALI_SECRET = "tcConfAliyunSecret00000000003"

    VPC_A = "vpc-tcaa0001"  # 10.10.0.0/16, ap-guangzhou
    VPC_A2 = "vpc-tcaa0002"  # 10.11.0.0/16, ap-guangzhou
    VPC_A_SH = "vpc-tcsh0001"  # 10.12.0.0/16, ap-shanghai
    VPC_ECM = "vpc-tcecm001"  # 172.16.0.0/16, ap-xian-ecm
    VPC_B = "vpc-tcbb0001"  # 10.20.0.0/16, ap-guangzhou (account B)

    SUBNET_MAIN = "subnet-tcmain01"  # 10.10.1.0/24: instances, ENIs, auto-allocated HAVIPs
    SUBNET_OTHER = "subnet-tcothr01"  # 10.10.2.0/24: an instance in another subnet
    SUBNET_TINY = "subnet-tctiny01"  # 10.10.3.0/29: exhaustion (fresh servers only)
    SUBNET_EXPL = "subnet-tcexpl01"  # 10.10.4.0/24: explicit Vip tests only
    SUBNET_A2 = "subnet-tca20001"  # 10.11.1.0/24 in VPC_A2
    SUBNET_SH = "subnet-tcsh0001"  # 10.12.1.0/24 in ap-shanghai
    SUBNET_ECM = "subnet-tcecm001"  # 172.16.0.0/24 (ECM)
    SUBNET_B = "subnet-tcbb0001"  # 10.20.1.0/24 (account B)

    INS_1 = "ins-tcrun001"
    INS_2 = "ins-tcrun002"
    INS_3 = "ins-tcrun003"
    INS_OTHER = "ins-tcothr01"
    INS_B = "ins-tcbb0001"
    ENI_1 = "eni-tcrun001"  # on INS_1
    ENI_2 = "eni-tcrun002"  # on INS_2
    ENI_FREE = "eni-tcfree01"  # attached to nothing

    EIP_A1 = ("eip-tca00001", "119.29.0.1")
    EIP_A2 = ("eip-tca00002", "119.29.0.2")
    EIP_A3 = ("eip-tca00003", "119.29.0.3")
    EIP_A_SH = ("eip-tcsh0001", "119.29.2.1")
    EIP_B = ("eip-tcb00001", "119.29.1.1")

    @classmethod
    def topology(cls) -> dict:
        return {
            "region": [
                {"cloud": "tencent", "id": REGION},
                {"cloud": "tencent", "id": OTHER_REGION},
                {"cloud": "tencent", "id": ECM_REGION},
                {"cloud": "aliyun", "id": "cn-hangzhou"},
            ],
            "account": [
                {"id": cls.ACCOUNT_A, "cloud": "tencent", "name": "tc-a",
                 "access_keys": [{"id": cls.AK_A, "secret": cls.SECRET_A}]},
                {"id": cls.ACCOUNT_B, "cloud": "tencent", "name": "tc-b",
                 "access_keys": [{"id": cls.AK_B, "secret": cls.SECRET_B}]},
                {"id": cls.ALI_ACCOUNT, "cloud": "aliyun", "name": "ali",
                 "access_keys": [{"id": cls.ALI_AK, "secret": cls.ALI_SECRET}]},
            ],
            "vpc": [
                {"id": cls.VPC_A, "account": cls.ACCOUNT_A, "region": REGION, "cidr": "10.10.0.0/16"},
                {"id": cls.VPC_A2, "account": cls.ACCOUNT_A, "region": REGION, "cidr": "10.11.0.0/16"},
                {"id": cls.VPC_A_SH, "account": cls.ACCOUNT_A, "region": OTHER_REGION, "cidr": "10.12.0.0/16"},
                {"id": cls.VPC_ECM, "account": cls.ACCOUNT_A, "region": ECM_REGION, "cidr": "172.16.0.0/16"},
                {"id": cls.VPC_B, "account": cls.ACCOUNT_B, "region": REGION, "cidr": "10.20.0.0/16"},
            ],
            "vswitch": [
                {"id": cls.SUBNET_MAIN, "vpc": cls.VPC_A, "zone": "ap-guangzhou-3", "cidr": "10.10.1.0/24"},
                {"id": cls.SUBNET_OTHER, "vpc": cls.VPC_A, "zone": "ap-guangzhou-3", "cidr": "10.10.2.0/24"},
                {"id": cls.SUBNET_TINY, "vpc": cls.VPC_A, "zone": "ap-guangzhou-3", "cidr": "10.10.3.0/29"},
                {"id": cls.SUBNET_EXPL, "vpc": cls.VPC_A, "zone": "ap-guangzhou-4", "cidr": "10.10.4.0/24"},
                {"id": cls.SUBNET_A2, "vpc": cls.VPC_A2, "zone": "ap-guangzhou-3", "cidr": "10.11.1.0/24"},
                {"id": cls.SUBNET_SH, "vpc": cls.VPC_A_SH, "zone": "ap-shanghai-2", "cidr": "10.12.1.0/24"},
                {"id": cls.SUBNET_ECM, "vpc": cls.VPC_ECM, "zone": "ap-xian-ecm-1", "cidr": "172.16.0.0/24"},
                {"id": cls.SUBNET_B, "vpc": cls.VPC_B, "zone": "ap-guangzhou-3", "cidr": "10.20.1.0/24"},
            ],
            "instance": [
                {"id": cls.INS_1, "vswitch": cls.SUBNET_MAIN, "private_ip": "10.10.1.11"},
                {"id": cls.INS_2, "vswitch": cls.SUBNET_MAIN, "private_ip": "10.10.1.12"},
                {"id": cls.INS_3, "vswitch": cls.SUBNET_MAIN, "private_ip": "10.10.1.13"},
                {"id": cls.INS_OTHER, "vswitch": cls.SUBNET_OTHER, "private_ip": "10.10.2.11"},
                {"id": cls.INS_B, "vswitch": cls.SUBNET_B, "private_ip": "10.20.1.11"},
            ],
            "eni": [
                {"id": cls.ENI_1, "vswitch": cls.SUBNET_MAIN, "private_ip": "10.10.1.21", "instance": cls.INS_1},
                {"id": cls.ENI_2, "vswitch": cls.SUBNET_MAIN, "private_ip": "10.10.1.22", "instance": cls.INS_2},
                {"id": cls.ENI_FREE, "vswitch": cls.SUBNET_MAIN, "private_ip": "10.10.1.23"},
            ],
            "eip": [
                {"id": cls.EIP_A1[0], "account": cls.ACCOUNT_A, "region": REGION, "address": cls.EIP_A1[1]},
                {"id": cls.EIP_A2[0], "account": cls.ACCOUNT_A, "region": REGION, "address": cls.EIP_A2[1]},
                {"id": cls.EIP_A3[0], "account": cls.ACCOUNT_A, "region": REGION, "address": cls.EIP_A3[1]},
                {"id": cls.EIP_A_SH[0], "account": cls.ACCOUNT_A, "region": OTHER_REGION,
                 "address": cls.EIP_A_SH[1]},
                {"id": cls.EIP_B[0], "account": cls.ACCOUNT_B, "region": REGION, "address": cls.EIP_B[1]},
            ],
        }


# --------------------------------------------------------------------------------------------
# TOML
# --------------------------------------------------------------------------------------------


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def to_toml(doc: dict) -> str:
    """A small TOML writer: scalars, tables of scalars, and arrays of tables."""
    lines: list[str] = []
    for k, v in doc.items():
        if not isinstance(v, (dict, list)):
            lines.append(f"{k} = {_toml_value(v)}")
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append(f"\n[{k}]")
            for kk, vv in v.items():
                if isinstance(vv, dict):
                    continue
                lines.append(f"{kk} = {_toml_value(vv)}")
            for kk, vv in v.items():
                if isinstance(vv, dict):
                    lines.append(f"\n[{k}.{kk}]")
                    lines.extend(f"{a} = {_toml_value(b)}" for a, b in vv.items())
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                lines.append(f"\n[[{k}]]")
                lines.extend(f"{a} = {_toml_value(b)}" for a, b in item.items())
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------

ADMIN_TOKEN = "tc-conformance-admin-token"
GENEROUS_QUOTAS = {"havips_per_vpc": 1000, "havips_per_account": 2000, "havips_per_instance": 200}


class TcServer:
    """One ``havipd`` with its own data directory, config, topology and log."""

    def __init__(self, binary: Path, workdir: Path, *, name: str, mode: str = "immediate",
                 quotas: dict[str, int] | None = None, rate: int = 0):
        self.binary = Path(binary)
        self.workdir = Path(workdir)
        self.name = name
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "havipd.log"
        self.config_path = self.workdir / "havipd.toml"
        topology = self.workdir / "topology.toml"
        topology.write_text(to_toml(TcWorld.topology()))
        # HAVIP_STORE_URL set: a PostgreSQL database of this server's own, the same one across
        # its restarts (conformance/havip_store.py). Unset: SQLite in data_dir.
        self.store = havip_store.database_for_server()
        config: dict[str, Any] = {
            "data_dir": str(self.data_dir),
            **({"store": self.store} if self.store else {}),
            "topology": str(topology),
            "listen": {"admin": "127.0.0.1:0", "aliyun": "127.0.0.1:0", "baidu": "127.0.0.1:0",
                       "tencent": "127.0.0.1:0"},
            "admin": {"token": ADMIN_TOKEN},
            "operations": {"mode": mode, "delay": "300ms"},
            "limits": {"tencent_requests_per_second": rate},
        }
        if quotas:
            config["quotas"] = {"tencent": dict(quotas)}
        self.config_path.write_text(to_toml(config))
        self.proc: subprocess.Popen | None = None
        self.ports: dict[str, str] = {}

    def start(self, timeout: float = 20.0) -> "TcServer":
        ports_file = self.data_dir / "ports.json"
        ports_file.unlink(missing_ok=True)
        log = open(self.log_path, "ab")
        env = dict(os.environ)
        env.setdefault("HAVIPD_LOG", "info")
        self.proc = subprocess.Popen([str(self.binary), "--config", str(self.config_path)],
                                     stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"havipd ({self.name}) exited with {self.proc.returncode}:\n{self.log_tail()}")
            if ports_file.exists():
                self.ports = json.loads(ports_file.read_text())
                try:
                    if self.admin.health().status_code == 200:
                        return self
                except requests.RequestException:
                    pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"havipd ({self.name}) wrote no ports.json within {timeout}s:\n{self.log_tail()}")

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
        return self.ports["tencent"]

    @property
    def admin(self) -> "Admin":
        return Admin(f"http://{self.ports['admin']}", ADMIN_TOKEN)

    def client(self, product: str = "vpc", *, account: str = "A", region: str | None = None,
               sign: str = "TC3-HMAC-SHA256", method: str = "POST") -> "Client":
        ak, sk = {"A": (TcWorld.AK_A, TcWorld.SECRET_A), "B": (TcWorld.AK_B, TcWorld.SECRET_B),
                  "ALI": (TcWorld.ALI_AK, TcWorld.ALI_SECRET)}[account]
        if region is None:
            region = REGION if product == "vpc" else ""
        return Client(self.endpoint, product, ak, sk, region, sign=sign, method=method)

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


# --------------------------------------------------------------------------------------------
# SDK clients
# --------------------------------------------------------------------------------------------


class Client:
    """One SDK client: ``call(action, **params)`` returns the response model as a dict."""

    def __init__(self, endpoint: str, product: str, ak: str, sk: str, region: str, *,
                 sign: str = "TC3-HMAC-SHA256", method: str = "POST"):
        self.product = product
        hp = HttpProfile(protocol="http", endpoint=endpoint, reqMethod=method, reqTimeout=15)
        cp = ClientProfile(httpProfile=hp, signMethod=sign)
        cred = credential.Credential(ak, sk)
        if product == "vpc":
            self.sdk = vpc_client.VpcClient(cred, region, cp)
            self.models = vpc_models
        else:
            self.sdk = ecm_client.EcmClient(cred, region, cp)
            self.models = ecm_models

    def call(self, action: str, **params: Any) -> dict:
        req = getattr(self.models, action + "Request")()
        req.from_json_string(json.dumps(params))
        resp = getattr(self.sdk, action)(req)
        return json.loads(resp.to_json_string())

    def call_json(self, action: str, params: dict) -> dict:
        """The SDK's generic call: parameters as given, the ``Response`` object back."""
        return self.sdk.call_json(action, params)["Response"]


def expect_error(code: str, fn: Callable[[], Any]) -> SDKError:
    """Runs ``fn`` and asserts it raised the SDK exception with ``code`` and a request ID."""
    try:
        got = fn()
    except TencentCloudSDKException as e:
        assert e.code == code, f"expected {code}, got {e.code}: {e.message}"
        assert e.requestId, f"{code} without a RequestId"
        assert e.message, f"{code} without a Message"
        return e
    raise AssertionError(f"expected {code}, got success: {got}")


# --------------------------------------------------------------------------------------------
# Hand-signed requests
# --------------------------------------------------------------------------------------------


def tc3_headers(endpoint: str, service: str, action: str, version: str, body: bytes, *,
                ak: str = TcWorld.AK_A, sk: str = TcWorld.SECRET_A, region: str | None = REGION,
                timestamp: int | None = None, content_type: str = "application/json",
                method: str = "POST", query: str = "") -> dict[str, str]:
    """TC3 headers for a request (``signatures.md`` §3)."""
    ts = int(time.time()) if timestamp is None else timestamp
    date = dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d")
    payload = hashlib.sha256(b"" if method == "GET" else body).hexdigest()
    canonical = "\n".join([method, "/", query if method == "GET" else "",
                           f"content-type:{content_type}\nhost:{endpoint}\n", "content-type;host", payload])
    scope = f"{date}/{service}/tc3_request"
    sts = "\n".join(["TC3-HMAC-SHA256", str(ts), scope, hashlib.sha256(canonical.encode()).hexdigest()])

    def h(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    key = h(h(h(("TC3" + sk).encode(), date), service), "tc3_request")
    sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    headers = {
        "Host": endpoint,
        "Content-Type": content_type,
        "X-TC-Action": action,
        "X-TC-Version": version,
        "X-TC-Timestamp": str(ts),
        "Authorization": f"TC3-HMAC-SHA256 Credential={ak}/{scope}, SignedHeaders=content-type;host, Signature={sig}",
    }
    if region:
        headers["X-TC-Region"] = region
    return headers


class Raw:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def error_code(self) -> str | None:
        return self.json()["Response"].get("Error", {}).get("Code")


def raw_request(endpoint: str, method: str, target: str, headers: dict[str, str], body: bytes = b"") -> Raw:
    host, port = endpoint.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        hdrs = dict(headers)
        if method == "POST":
            hdrs["Content-Length"] = str(len(body))
        conn.request(method, target, body=body or None, headers=hdrs)
        r = conn.getresponse()
        return Raw(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def signed_post(endpoint: str, action: str, params: dict, *, service: str = "vpc",
                version: str = VPC_VERSION, **kw: Any) -> Raw:
    body = json.dumps(params).encode()
    return raw_request(endpoint, "POST", "/", tc3_headers(endpoint, service, action, version, body, **kw), body)


# --------------------------------------------------------------------------------------------
# The admin API
# --------------------------------------------------------------------------------------------


class Admin:
    def __init__(self, base_url: str, token: str):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.trust_env = False
        self.token = token

    def request(self, method: str, path: str, body: Any = None, auth: bool = True) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        return self.session.request(method, self.base_url + path, json=body, headers=headers, timeout=15)

    def _ok(self, method: str, path: str, body: Any = None) -> Any:
        r = self.request(method, path, body)
        assert r.status_code == 200, f"admin {method} {path} -> {r.status_code}: {r.text}"
        return r.json()

    def health(self) -> requests.Response:
        return self.request("GET", "/admin/v1/health", auth=False)

    def upsert(self, **objects: list[dict]) -> Any:
        return self._ok("POST", "/admin/v1/topology", objects)

    def announce(self, havip_id: str, claimant: str) -> requests.Response:
        return self.request("POST", f"/admin/v1/havips/{havip_id}/announce", {"claimant": claimant})

    def inject_fault(self, action: str, code: str, count: int = 1) -> Any:
        return self._ok("POST", "/admin/v1/faults", {"cloud": "tencent", "action": action, "code": code,
                                                      "count": count})

    def clear_faults(self) -> Any:
        return self._ok("DELETE", "/admin/v1/faults")

    def advance(self) -> Any:
        return self._ok("POST", "/admin/v1/operations/advance")


# --------------------------------------------------------------------------------------------
# HAVIP conveniences
# --------------------------------------------------------------------------------------------

_names = itertools.count(1)


def name(prefix: str = "tc") -> str:
    return f"{prefix}-{next(_names)}-{os.getpid() % 1000}"


def describe_one(client: Client, havip_id: str) -> dict | None:
    items = client.call("DescribeHaVips", HaVipIds=[havip_id])["HaVipSet"]
    assert len(items) <= 1, items
    return items[0] if items else None


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def wait_task(client: Client, task_id: str, timeout: float = 5.0) -> dict:
    """Polls DescribeVpcTaskResult until the task is no longer RUNNING; returns the last answer."""
    last: dict = {}

    def done():
        nonlocal last
        last = client.call("DescribeVpcTaskResult", TaskId=task_id)
        assert last["Status"] in ("SUCCESS", "FAILED", "RUNNING"), last
        return last["Status"] != "RUNNING"

    wait_for(done, timeout, f"task {task_id}")
    return last


_explicit_hosts = itertools.count(10)


def explicit_vip() -> str:
    """A fresh address in SUBNET_EXPL for tests that need a known Vip."""
    n = next(_explicit_hosts)
    assert n <= 250
    return f"10.10.4.{n}"


def create(client: Client, subnet: str = TcWorld.SUBNET_MAIN, vpc: str = TcWorld.VPC_A, **params: Any) -> dict:
    params.setdefault("HaVipName", name())
    return client.call("CreateHaVip", VpcId=vpc, SubnetId=subnet, **params)["HaVip"]


HAVIP_CORE_FIELDS = ("HaVipId", "HaVipName", "Vip", "VpcId", "SubnetId", "NetworkInterfaceId", "InstanceId",
                     "AddressIp", "State", "CreatedTime", "Business")


def assert_havip_shape(item: dict, product: str = "vpc") -> None:
    import ipaddress
    import re
    for key in HAVIP_CORE_FIELDS:
        assert isinstance(item.get(key), str), f"{key} missing or not a string in {item}"
    assert re.fullmatch(r"havip-[0-9a-z]{8}", item["HaVipId"]), item
    ipaddress.IPv4Address(item["Vip"])
    assert item["State"] in ("AVAILABLE", "UNBIND"), item
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", item["CreatedTime"]), item
    if product == "vpc":
        assert isinstance(item.get("HaVipAssociationSet"), list), item
        assert isinstance(item.get("TagSet"), list), item
        assert isinstance(item.get("CheckAssociate"), bool), item
        assert isinstance(item.get("FlushedTime"), str), item
