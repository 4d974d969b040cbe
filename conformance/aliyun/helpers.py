"""Helpers for the Alibaba Cloud conformance suite.

Everything a test needs besides pytest itself lives here:

* ``World``: the test topology (two accounts, vSwitches of several sizes, instances in all
  four states, attached and free ENIs, EIPs, resource groups) and a TOML writer for it.
* ``HavipServer``: starts the real ``havipd`` binary on port 0, waits for ``ports.json``,
  restarts it after a SIGKILL on the same data directory, and keeps its log.
* Three SDK client generations behind one ``call(action, **params)`` interface:
  the Tea SDK with the V3 signature (default), the Tea SDK with ``signature_algorithm="v2"``,
  and the old ``aliyun-python-sdk-core`` AcsClient with ``aliyunsdkvpc`` request classes.
  Parameters are given by their wire names (``VSwitchId``, ``Tag=[{"Key":..,"Value":..}]``,
  ``Filter=[{"Key":..,"Value":[..]}]``); each generation builds its own request objects from
  them, so the SDK does the flattening. Results are the response body as the SDK sees it.
  API errors become ``ApiError(status, code, message, request_id, data)``.
* A hand-written V2 (HMAC-SHA1) and V3 (ACS3-HMAC-SHA256) signer (``signatures.md`` §1, §2)
  for requests no SDK sends: XML, GET, form bodies, stale timestamps, replayed nonces, wrong keys.
* ``AdminClient`` for the admin HTTP API, and polling and shape-checking helpers.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import hmac
import http.client
import importlib
import itertools
import ipaddress
import json
import os
import re
import signal
import subprocess
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Callable, Iterable

import requests
import sys

# conformance/havip_store.py, shared by the three suites: HAVIP_STORE_URL (SQLite or PostgreSQL).
_CONFORMANCE_DIR = str(Path(__file__).resolve().parents[1])
if _CONFORMANCE_DIR not in sys.path:
    sys.path.insert(0, _CONFORMANCE_DIR)
import havip_store  # noqa: E402


# --------------------------------------------------------------------------------------------
# The test world
# --------------------------------------------------------------------------------------------

REGION = "cn-hangzhou"
OTHER_REGION = "cn-shanghai"
API_VERSION = "2016-04-28"


class World:
    """IDs of the test topology. Account A owns almost everything; account B exists for tenancy."""

    ACCOUNT_A = "1000000000000001"
    AK_A = "LTAI5tConfAccountA000001"
    SECRET_A = "ConfSecretAccountA0000000000001"
    ACCOUNT_B = "2000000000000002"
    AK_B = "LTAI5tConfAccountB000002"
    SECRET_B = "ConfSecretAccountB0000000000002"

    RG_A1 = "rg-acfmconfa0000001"
    RG_A2 = "rg-acfmconfa0000002"
    RG_B1 = "rg-acfmconfb0000001"

    VPC_A1 = "vpc-bp1confa1vpc000001"
    VPC_A2 = "vpc-bp1confa2vpc000002"
    VPC_A_SH = "vpc-uf6confashvpc00003"
    VPC_B1 = "vpc-bp1confb1vpc000001"

    # Account A, VPC_A1 (10.0.0.0/16)
    VSW_MAIN = "vsw-bp1confmain000001"  # 10.0.16.0/20: auto-allocated HAVIPs, instances, ENIs
    VSW_OTHER = "vsw-bp1confother00002"  # 10.0.2.0/24: an instance in another vSwitch
    VSW_TINY = "vsw-bp1conftiny000003"  # 10.0.3.0/29: exhaustion (fresh servers only)
    VSW_EXPLICIT = "vsw-bp1confexpl000004"  # 10.0.4.0/24: explicit IpAddress tests only
    VSW_SMALL = "vsw-bp1confsmall00005"  # 10.0.5.0/28: allocation property (fresh servers only)
    VSW_DYN = "vsw-bp1confdyn0000009"  # 10.0.6.0/24: objects tests add and change; explicit IPs only
    # Account A, VPC_A2 (10.1.0.0/16) and Shanghai
    VSW_A2 = "vsw-bp1confa2vsw00006"  # 10.1.1.0/24
    VSW_SH = "vsw-uf6confshvsw00007"  # 10.2.1.0/24 in cn-shanghai
    # Account B (172.16.0.0/16)
    VSW_B = "vsw-bp1confbvsw000008"  # 172.16.1.0/24

    CIDR = {
        VSW_MAIN: "10.0.16.0/20",  # large: most tests create their HAVIPs here
        VSW_OTHER: "10.0.2.0/24",
        VSW_TINY: "10.0.3.0/29",
        VSW_EXPLICIT: "10.0.4.0/24",
        VSW_SMALL: "10.0.5.0/28",
        VSW_DYN: "10.0.6.0/24",
        VSW_A2: "10.1.1.0/24",
        VSW_SH: "10.2.1.0/24",
        VSW_B: "172.16.1.0/24",
    }

    I_RUN1 = "i-bp1confrun1000001"
    I_RUN2 = "i-bp1confrun2000002"
    I_RUN3 = "i-bp1confrun3000003"
    I_STOPPED = "i-bp1confstopped0004"
    I_STARTING = "i-bp1confstarting005"
    I_STOPPING = "i-bp1confstopping006"
    I_OTHER = "i-bp1confother000007"
    I_TINY = "i-bp1conftiny0000008"
    I_EXPLICIT = "i-bp1confexpl0000009"
    I_SMALL = "i-bp1confsmall000010"
    I_B = "i-bp1confb00000000011"

    ENI_RUN1 = "eni-bp1confrun1a00001"
    ENI_RUN1_B = "eni-bp1confrun1b00002"  # a second ENI of I_RUN1
    ENI_RUN2 = "eni-bp1confrun2a00003"
    ENI_RUN3 = "eni-bp1confrun3a00004"
    ENI_FREE = "eni-bp1conffree000005"
    ENI_EXPLICIT = "eni-bp1confexpl000006"
    ENI_SMALL = "eni-bp1confsmall00007"

    EIP_A1 = "eip-bp1confa1eip00001"
    EIP_A2 = "eip-bp1confa2eip00002"
    EIP_B1 = "eip-bp1confb1eip00003"

    # Addresses held by instances and ENIs, per vSwitch (allocation must avoid them).
    INSTANCE_IPS = {
        I_RUN1: "10.0.16.11",
        I_RUN2: "10.0.16.12",
        I_RUN3: "10.0.16.13",
        I_STOPPED: "10.0.16.14",
        I_STARTING: "10.0.16.15",
        I_STOPPING: "10.0.16.16",
        I_OTHER: "10.0.2.11",
        I_TINY: "10.0.3.1",
        I_EXPLICIT: "10.0.4.10",
        I_SMALL: "10.0.5.4",
        I_B: "172.16.1.11",
    }
    ENI_IPS = {
        ENI_RUN1: "10.0.16.21",
        ENI_RUN1_B: "10.0.16.23",
        ENI_RUN2: "10.0.16.22",
        ENI_RUN3: "10.0.16.25",
        ENI_FREE: "10.0.16.24",
        ENI_EXPLICIT: "10.0.4.20",
        ENI_SMALL: "10.0.5.7",
    }

    @classmethod
    def topology(cls) -> dict[str, list[dict[str, Any]]]:
        """The topology document (same shape as ``demo/topology.toml``)."""
        a, b = cls.ACCOUNT_A, cls.ACCOUNT_B
        vsw_vpc = {
            cls.VSW_MAIN: cls.VPC_A1,
            cls.VSW_OTHER: cls.VPC_A1,
            cls.VSW_TINY: cls.VPC_A1,
            cls.VSW_EXPLICIT: cls.VPC_A1,
            cls.VSW_SMALL: cls.VPC_A1,
            cls.VSW_DYN: cls.VPC_A1,
            cls.VSW_A2: cls.VPC_A2,
            cls.VSW_SH: cls.VPC_A_SH,
            cls.VSW_B: cls.VPC_B1,
        }
        vsw_zone = {cls.VSW_SH: "cn-shanghai-b", cls.VSW_OTHER: "cn-hangzhou-i"}
        instance_vsw = {
            cls.I_RUN1: cls.VSW_MAIN,
            cls.I_RUN2: cls.VSW_MAIN,
            cls.I_RUN3: cls.VSW_MAIN,
            cls.I_STOPPED: cls.VSW_MAIN,
            cls.I_STARTING: cls.VSW_MAIN,
            cls.I_STOPPING: cls.VSW_MAIN,
            cls.I_OTHER: cls.VSW_OTHER,
            cls.I_TINY: cls.VSW_TINY,
            cls.I_EXPLICIT: cls.VSW_EXPLICIT,
            cls.I_SMALL: cls.VSW_SMALL,
            cls.I_B: cls.VSW_B,
        }
        instance_state = {cls.I_STOPPED: "Stopped", cls.I_STARTING: "Starting", cls.I_STOPPING: "Stopping"}
        enis = [
            (cls.ENI_RUN1, cls.VSW_MAIN, cls.I_RUN1),
            (cls.ENI_RUN1_B, cls.VSW_MAIN, cls.I_RUN1),
            (cls.ENI_RUN2, cls.VSW_MAIN, cls.I_RUN2),
            (cls.ENI_RUN3, cls.VSW_MAIN, cls.I_RUN3),
            (cls.ENI_FREE, cls.VSW_MAIN, None),
            (cls.ENI_EXPLICIT, cls.VSW_EXPLICIT, cls.I_EXPLICIT),
            (cls.ENI_SMALL, cls.VSW_SMALL, cls.I_SMALL),
        ]
        return {
            "region": [{"cloud": "aliyun", "id": REGION}, {"cloud": "aliyun", "id": OTHER_REGION}],
            "account": [
                {"id": a, "cloud": "aliyun", "name": "conformance-a",
                 "access_keys": [{"id": cls.AK_A, "secret": cls.SECRET_A}]},
                {"id": b, "cloud": "aliyun", "name": "conformance-b",
                 "access_keys": [{"id": cls.AK_B, "secret": cls.SECRET_B}]},
            ],
            "resource_group": [
                {"id": cls.RG_A1, "account": a},
                {"id": cls.RG_A2, "account": a},
                {"id": cls.RG_B1, "account": b},
            ],
            "vpc": [
                {"id": cls.VPC_A1, "account": a, "region": REGION, "cidr": "10.0.0.0/16"},
                {"id": cls.VPC_A2, "account": a, "region": REGION, "cidr": "10.1.0.0/16"},
                {"id": cls.VPC_A_SH, "account": a, "region": OTHER_REGION, "cidr": "10.2.0.0/16"},
                {"id": cls.VPC_B1, "account": b, "region": REGION, "cidr": "172.16.0.0/16"},
            ],
            "vswitch": [
                {"id": vsw, "vpc": vpc, "zone": vsw_zone.get(vsw, "cn-hangzhou-h"), "cidr": cls.CIDR[vsw]}
                for vsw, vpc in vsw_vpc.items()
            ],
            "instance": [
                {"id": i, "vswitch": vsw, "private_ip": cls.INSTANCE_IPS[i],
                 "state": instance_state.get(i, "Running")}
                for i, vsw in instance_vsw.items()
            ],
            "eni": [
                {"id": e, "vswitch": vsw, "private_ip": cls.ENI_IPS[e], **({"instance": i} if i else {})}
                for e, vsw, i in enis
            ],
            "eip": [
                {"id": cls.EIP_A1, "account": a, "region": REGION, "address": "47.96.0.1"},
                {"id": cls.EIP_A2, "account": a, "region": REGION, "address": "47.96.0.2"},
                {"id": cls.EIP_B1, "account": b, "region": REGION, "address": "47.96.1.1"},
            ],
        }


def unique(prefix: str) -> str:
    """A fresh ID-shaped name: ``prefix`` plus 12 lower-case hex digits."""
    return prefix + uuid.uuid4().hex[:12]


def reserved_addresses(cidr: str) -> set[str]:
    """Alibaba reserves the first address and the last three of every vSwitch."""
    net = ipaddress.ip_network(cidr)
    hosts = list(net)
    return {str(hosts[0]), *(str(h) for h in hosts[-3:])}


def usable_addresses(cidr: str) -> set[str]:
    return {str(h) for h in ipaddress.ip_network(cidr)} - reserved_addresses(cidr)


# --------------------------------------------------------------------------------------------
# TOML writer (just enough for the config and the topology)
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
    raise TypeError(f"cannot write {v!r} as TOML")


def to_toml(doc: dict[str, Any]) -> str:
    """Scalars first, then ``[table]`` for dicts (one level of nesting) and ``[[array]]`` for lists of dicts."""
    lines: list[str] = []
    for k, v in doc.items():
        if not isinstance(v, (dict, list)) or (isinstance(v, list) and not all(isinstance(x, dict) for x in v)):
            lines.append(f"{k} = {_toml_value(v)}")
    for k, v in doc.items():
        if isinstance(v, dict):
            subtables = {sk: sv for sk, sv in v.items() if isinstance(sv, dict)}
            lines.append(f"\n[{k}]")
            lines.extend(f"{sk} = {_toml_value(sv)}" for sk, sv in v.items() if sk not in subtables)
            for sk, sv in subtables.items():
                lines.append(f"\n[{k}.{sk}]")
                lines.extend(f"{ssk} = {_toml_value(ssv)}" for ssk, ssv in sv.items())
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                lines.append(f"\n[[{k}]]")
                lines.extend(f"{ik} = {_toml_value(iv)}" for ik, iv in item.items())
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Errors and assertions
# --------------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer of the Alibaba API, as one SDK generation reported it."""

    def __init__(self, status: int, code: str, message: str, request_id: str | None, data: Any = None):
        super().__init__(f"HTTP {status} {code}: {message} (RequestId {request_id})")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.data = data


@contextlib.contextmanager
def api_error(status: int | Iterable[int], code: str | Iterable[str]):
    """``with api_error(400, "X"): client.call(...)`` asserts the call fails with that status and code.

    ``status`` and ``code`` may be sets only where the reference itself lists several answers
    for one situation. Yields a holder whose ``.error`` is the ``ApiError``.
    """
    codes = {code} if isinstance(code, str) else set(code)
    statuses = {status} if isinstance(status, int) else set(status)
    holder = type("Raised", (), {"error": None})()
    try:
        yield holder
    except ApiError as e:
        holder.error = e
        assert e.status in statuses and e.code in codes, (
            f"expected HTTP {sorted(statuses)} {sorted(codes)}, got HTTP {e.status} {e.code}: {e.message}"
        )
        assert e.request_id, f"error {e.code} carries no RequestId"
    else:
        raise AssertionError(f"expected HTTP {sorted(statuses)} {sorted(codes)}, but the call succeeded")


# --------------------------------------------------------------------------------------------
# SDK clients: three generations, one interface
# --------------------------------------------------------------------------------------------

CLIENT_KINDS = ("tea-v3", "tea-v2", "old-sdk")


def _snake(action: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()


class VpcClient:
    """``call(action, **wire_params) -> dict`` through one official SDK generation."""

    kind: str

    def __init__(self, endpoint: str, access_key_id: str, secret: str, region: str = REGION):
        self.endpoint = endpoint
        self.access_key_id = access_key_id
        self.secret = secret
        self.region = region

    def call(self, action: str, **params: Any) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{self.kind} {self.access_key_id}@{self.endpoint}>"


class TeaClient(VpcClient):
    """``alibabacloud-vpc20160428`` on ``alibabacloud-tea-openapi``: V3 by default, V2 on request."""

    def __init__(self, endpoint, access_key_id, secret, region=REGION, signature_v2: bool = False):
        super().__init__(endpoint, access_key_id, secret, region)
        from alibabacloud_tea_openapi.models import Config
        from alibabacloud_vpc20160428.client import Client

        self.kind = "tea-v2" if signature_v2 else "tea-v3"
        config = Config(
            access_key_id=access_key_id,
            access_key_secret=secret,
            region_id=region,
            endpoint=endpoint,
            protocol="http",
            read_timeout=15000,
            connect_timeout=5000,
        )
        if signature_v2:
            config.signature_algorithm = "v2"
        self._client = Client(config)

    def call(self, action: str, **params: Any) -> dict:
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
        from alibabacloud_vpc20160428 import models

        params.setdefault("RegionId", self.region)
        request = getattr(models, f"{action}Request")().from_map(params)
        try:
            response = getattr(self._client, _snake(action))(request)
        except AlibabaCloudException as e:
            data = e.data if isinstance(e.data, dict) else {}
            raise ApiError(e.status_code, e.code, data.get("Message") or data.get("message") or "",
                           data.get("RequestId") or data.get("requestId"), data) from None
        return response.body.to_map()


class OldSdkClient(VpcClient):
    """``aliyun-python-sdk-core`` AcsClient with ``aliyunsdkvpc.request.v20160428`` request classes."""

    kind = "old-sdk"

    def __init__(self, endpoint, access_key_id, secret, region=REGION):
        super().__init__(endpoint, access_key_id, secret, region)
        from aliyunsdkcore.client import AcsClient

        # auto_retry off: a retried request would hide faults and double-count them.
        self._client = AcsClient(access_key_id, secret, region, auto_retry=False, timeout=15, connect_timeout=5)

    def call(self, action: str, **params: Any) -> dict:
        from aliyunsdkcore.acs_exception.exceptions import ServerException

        module = importlib.import_module(f"aliyunsdkvpc.request.v20160428.{action}Request")
        request = getattr(module, f"{action}Request")()
        request.set_endpoint(self.endpoint)
        request.set_protocol_type("http")
        for name, value in params.items():
            if name == "RegionId":  # no setter: the SDK fills it from the client unless given
                request.add_query_param("RegionId", value)
            elif isinstance(value, list):  # RepeatList setters are named in the plural
                getattr(request, f"set_{name}s")(value)
            else:
                getattr(request, f"set_{name}")(value)
        try:
            body = self._client.do_action_with_exception(request)
        except ServerException as e:
            raise ApiError(e.get_http_status(), e.get_error_code(), e.get_error_msg(), e.get_request_id()) from None
        return json.loads(body)


def make_client(kind: str, endpoint: str, access_key_id: str, secret: str, region: str = REGION) -> VpcClient:
    if kind == "tea-v3":
        return TeaClient(endpoint, access_key_id, secret, region)
    if kind == "tea-v2":
        return TeaClient(endpoint, access_key_id, secret, region, signature_v2=True)
    if kind == "old-sdk":
        return OldSdkClient(endpoint, access_key_id, secret, region)
    raise ValueError(kind)


# --------------------------------------------------------------------------------------------
# Hand-made signed requests (signatures.md §1 and §2)
# --------------------------------------------------------------------------------------------


def pct(s: Any) -> str:
    """RFC 3986 percent-encoding with upper-case hex."""
    return urllib.parse.quote(str(s), safe="-_.~")


def utc_stamp(offset_seconds: float = 0) -> str:
    t = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=offset_seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def v2_string_to_sign(method: str, params: dict[str, str]) -> str:
    canonical = "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(params.items()))
    return f"{method}&{pct('/')}&{pct(canonical)}"


def v2_signature(secret: str, string_to_sign: str) -> str:
    digest = hmac.new((secret + "&").encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclasses.dataclass
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    string_to_sign: str = ""

    def json(self) -> dict:
        return json.loads(self.body)

    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def http_request(endpoint: str, method: str, target: str, headers: dict[str, str] | None = None,
                 body: bytes = b"") -> RawResponse:
    host, port = endpoint.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        hdrs = dict(headers or {})
        if body or method == "POST":
            hdrs.setdefault("Content-Length", str(len(body)))
        conn.request(method, target, body=body or None, headers=hdrs)
        resp = conn.getresponse()
        return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def v2_request(endpoint: str, action: str | None, params: dict[str, Any], *,
               access_key_id: str = World.AK_A, secret: str = World.SECRET_A,
               method: str = "POST", fmt: str | None = "JSON", timestamp: str | None = None,
               nonce: str | None = None, in_body: Iterable[str] = (),
               tamper: dict[str, str] | None = None, include_region: bool = True) -> RawResponse:
    """Sends an RPC request signed with HMAC-SHA1 the way ``signatures.md`` §1 describes.

    ``params`` are the business parameters; protocol parameters are added here. ``in_body``
    names parameters sent in an ``application/x-www-form-urlencoded`` body instead of the
    query (Terraform's Go client does this); the signature covers query and body together.
    ``tamper`` replaces parameter values *after* signing.
    """
    p: dict[str, str] = {k: str(v) for k, v in params.items()}
    if include_region:
        p.setdefault("RegionId", REGION)
    if action is not None:
        p["Action"] = action
    p.setdefault("Version", API_VERSION)
    if fmt is not None:
        p["Format"] = fmt
    p.update({
        "AccessKeyId": access_key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce or uuid.uuid4().hex,
        "Timestamp": timestamp or utc_stamp(),
    })
    sts = v2_string_to_sign(method, p)
    p["Signature"] = v2_signature(secret, sts)
    if tamper:
        p.update(tamper)
    body_names = set(in_body)
    query = "&".join(f"{pct(k)}={pct(v)}" for k, v in p.items() if k not in body_names)
    body = "&".join(f"{pct(k)}={pct(v)}" for k, v in p.items() if k in body_names).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body_names else {}
    resp = http_request(endpoint, method, "/?" + query, headers, body)
    resp.string_to_sign = sts
    return resp


def v3_authorization(method: str, query: dict[str, str], headers: dict[str, str], access_key_id: str,
                     secret: str) -> tuple[str, str]:
    """The ``Authorization`` header over every header given (lower-case names); also returns the string to sign."""
    canonical_query = "&".join(f"{k}={pct(v)}" for k, v in sorted(query.items()))
    signed = sorted(headers)
    canonical_headers = "".join(f"{h}:{headers[h].strip()}\n" for h in signed)
    canonical_request = "\n".join([method, "/", canonical_query, canonical_headers, ";".join(signed),
                                   headers["x-acs-content-sha256"]])
    sts = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical_request.encode()).hexdigest()
    signature = hmac.new(secret.encode(), sts.encode(), hashlib.sha256).hexdigest()
    return f"ACS3-HMAC-SHA256 Credential={access_key_id},SignedHeaders={';'.join(signed)},Signature={signature}", sts


def v3_request(endpoint: str, action: str, params: dict[str, Any], *,
               access_key_id: str = World.AK_A, secret: str = World.SECRET_A,
               date: str | None = None, nonce: str | None = None,
               form: dict[str, Any] | None = None, body_after_signing: bytes | None = None) -> RawResponse:
    """Sends an RPC request signed with ACS3-HMAC-SHA256 (``signatures.md`` §2).

    ``params`` go in the query; ``form`` (optional) in an ``application/x-www-form-urlencoded``
    body, covered by ``x-acs-content-sha256`` as the Tea SDK's generic ``call_api`` sends it.
    ``body_after_signing`` replaces the body once the request is signed (a tampering test).
    """
    p = {k: str(v) for k, v in params.items()}
    if not form or "RegionId" not in form:
        p.setdefault("RegionId", REGION)
    body = "&".join(f"{pct(k)}={pct(v)}" for k, v in (form or {}).items()).encode()
    headers = {
        "host": endpoint,
        "x-acs-action": action,
        "x-acs-version": API_VERSION,
        "x-acs-date": date or utc_stamp(),
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
    }
    if form:
        headers["content-type"] = "application/x-www-form-urlencoded"
    headers["Authorization"], sts = v3_authorization("POST", p, headers, access_key_id, secret)
    headers["accept"] = "application/json"
    query = "&".join(f"{pct(k)}={pct(v)}" for k, v in p.items())
    if body_after_signing is not None:
        body = body_after_signing
    resp = http_request(endpoint, "POST", "/?" + query, headers, body)
    resp.string_to_sign = sts
    return resp


def assert_error_body(resp: RawResponse, status: int, code: str) -> dict:
    """An error answer: the status, a JSON body with the full Alibaba envelope and ``code``."""
    assert resp.status == status, f"expected HTTP {status} {code}, got {resp.status}: {resp.body[:500]!r}"
    body = resp.json()
    assert body.get("Code") == code, f"expected {code}, got {body}"
    for key in ("RequestId", "HostId", "Code", "Message", "Recommend"):
        assert key in body, f"error envelope lacks {key}: {body}"
    assert body["RequestId"], body
    return body


# --------------------------------------------------------------------------------------------
# The admin API
# --------------------------------------------------------------------------------------------


class AdminClient:
    """JSON client for ``/admin/v1``; every helper asserts HTTP 200 unless it returns the response."""

    def __init__(self, base_url: str, token: str):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.session = requests.Session()
        self.session.trust_env = False  # never route loopback traffic through a proxy

    def request(self, method: str, path: str, body: Any = None, auth: bool = True) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        return self.session.request(method, self.base_url + path, json=body, headers=headers, timeout=15)

    def _ok(self, method: str, path: str, body: Any = None) -> Any:
        r = self.request(method, path, body)
        assert r.status_code == 200, f"admin {method} {path} -> {r.status_code}: {r.text}"
        return r.json() if r.content else None

    def health(self) -> requests.Response:
        return self.request("GET", "/admin/v1/health", auth=False)

    def upsert(self, **objects: list[dict]) -> Any:
        """``upsert(instance=[{...}], eni=[{...}])``: adds or updates topology objects."""
        return self._ok("POST", "/admin/v1/topology", objects)

    def delete(self, kind: str, object_id: str) -> Any:
        return self._ok("DELETE", f"/admin/v1/{kind}/{object_id}")

    def set_instance_state(self, instance_id: str, state: str) -> Any:
        return self._ok("PATCH", f"/admin/v1/instances/{instance_id}", {"state": state})

    def announce(self, havip_id: str, claimant: str) -> requests.Response:
        return self.request("POST", f"/admin/v1/havips/{havip_id}/announce", {"claimant": claimant})

    def inject_fault(self, action: str, code: str, count: int = 1) -> Any:
        return self._ok("POST", "/admin/v1/faults", {"cloud": "aliyun", "action": action, "code": code, "count": count})

    def clear_faults(self) -> Any:
        return self._ok("DELETE", "/admin/v1/faults")

    def operations(self) -> list[dict]:
        return self._ok("GET", "/admin/v1/operations")["operations"]

    def advance(self, havip_id: str | None = None) -> Any:
        return self._ok("POST", "/admin/v1/operations/advance", {"havip_id": havip_id} if havip_id else None)


# --------------------------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------------------------

ADMIN_TOKEN = "conformance-admin-token"

GENEROUS_QUOTAS = {
    "instances_per_havip": 2,
    "havips_per_instance": 200,
    "havips_per_vpc": 1000,
    "havips_per_account": 2000,
}


class HavipServer:
    """One ``havipd`` process with its own data directory, config, topology and log."""

    def __init__(self, binary: Path, workdir: Path, *, name: str, mode: str = "immediate",
                 quotas: dict[str, int] | None = None, topology: dict | None = None,
                 store_from_env: bool = True):
        self.binary = Path(binary)
        self.workdir = Path(workdir)
        self.name = name
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "havipd.log"
        self.config_path = self.workdir / "havipd.toml"
        self.topology_path = self.workdir / "topology.toml"
        self.topology_path.write_text(to_toml(topology or World.topology()))
        # HAVIP_STORE_URL set: a PostgreSQL database of this server's own, the same one across
        # its restarts (conformance/havip_store.py). Unset: SQLite in data_dir. The reliability
        # suite chooses its stores itself (store_from_env=False).
        self.store = havip_store.database_for_server() if store_from_env else None
        config = {
            "data_dir": str(self.data_dir),
            **({"store": self.store} if self.store else {}),
            "topology": str(self.topology_path),
            # Every listener on port 0: unnamed ones default to fixed ports, and the suite runs
            # several havipd processes side by side.
            "listen": {"admin": "127.0.0.1:0", "aliyun": "127.0.0.1:0", "tencent": "127.0.0.1:0",
                       "baidu": "127.0.0.1:0"},
            "admin": {"token": ADMIN_TOKEN},
            "operations": {"mode": mode, "delay": "300ms"},
            "auth": {"max_clock_skew": "15m"},
        }
        if quotas:
            config["quotas"] = {"aliyun": dict(quotas)}
        self.config_path.write_text(to_toml(config))
        self.proc: subprocess.Popen | None = None
        self.ports: dict[str, str] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> "HavipServer":
        ports_file = self.data_dir / "ports.json"
        ports_file.unlink(missing_ok=True)  # a stale file from before a SIGKILL names dead ports
        log = open(self.log_path, "ab")
        log.write(f"\n===== starting {self.binary} --config {self.config_path} =====\n".encode())
        log.flush()
        env = dict(os.environ)
        # Per-request detail from our crates (shown for failing tests only), plain text.
        env.setdefault("RUST_LOG", "info,havipd=debug,havip_api=debug,havip_api_aliyun=debug,havip_core=debug,"
                                   "havip_worker=debug")
        env.setdefault("NO_COLOR", "1")
        self.proc = subprocess.Popen([str(self.binary), "--config", str(self.config_path)],
                                     stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"havipd ({self.name}) exited with {self.proc.returncode} before it was ready:\n"
                                   + self.log_tail(80))
            if ports_file.exists():
                self.ports = json.loads(ports_file.read_text())
                if self.admin.health().status_code == 200:
                    return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"havipd ({self.name}) wrote no ports.json within {timeout}s:\n" + self.log_tail(80))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart(self) -> "HavipServer":
        """SIGKILL (no graceful shutdown), then start again on the same data directory."""
        self.kill()
        return self.start()

    # -- access ------------------------------------------------------------------------------

    @property
    def aliyun_endpoint(self) -> str:
        return self.ports["aliyun"]

    @property
    def admin(self) -> AdminClient:
        return AdminClient(f"http://{self.ports['admin']}", ADMIN_TOKEN)

    def client(self, kind: str = "tea-v3", account: str = "A", region: str = REGION) -> VpcClient:
        ak, secret = (World.AK_A, World.SECRET_A) if account == "A" else (World.AK_B, World.SECRET_B)
        return make_client(kind, self.aliyun_endpoint, ak, secret, region)

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int, max_lines: int = 200) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            lines = f.read().decode(errors="replace").splitlines()
        return "\n".join(lines[-max_lines:])

    def log_tail(self, n: int = 60) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


# --------------------------------------------------------------------------------------------
# HAVIP conveniences
# --------------------------------------------------------------------------------------------

HAVIP_STATUSES = {"Creating", "Available", "InUse", "Associating", "Unassociating", "Deleting"}
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
SETTLE_TIMEOUT = 3.0  # immediate mode: how long an async operation may take to show


def describe(client: VpcClient, **params: Any) -> dict:
    return client.call("DescribeHaVips", **params)


def find_havip(client: VpcClient, havip_id: str) -> dict | None:
    items = describe(client, Filter=[{"Key": "HaVipId", "Value": [havip_id]}])["HaVips"]["HaVip"]
    assert len(items) <= 1, items
    return items[0] if items else None


def get_havip(client: VpcClient, havip_id: str) -> dict:
    item = find_havip(client, havip_id)
    assert item is not None, f"{havip_id} is not listed by DescribeHaVips"
    return item


def wait_for(predicate: Callable[[], Any], timeout: float = SETTLE_TIMEOUT, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def wait_for_status(client: VpcClient, havip_id: str, status: str, timeout: float = SETTLE_TIMEOUT) -> dict:
    last: dict = {}

    def check():
        nonlocal last
        last = get_havip(client, havip_id)
        return last if last["Status"] == status else None

    try:
        return wait_for(check, timeout, f"{havip_id} to be {status}")
    except AssertionError as e:
        raise AssertionError(f"{e}; last seen: {last.get('Status')}") from None


def wait_until_gone(client: VpcClient, havip_id: str, timeout: float = SETTLE_TIMEOUT) -> None:
    wait_for(lambda: find_havip(client, havip_id) is None, timeout, f"{havip_id} to disappear")


def create_havip(client: VpcClient, vswitch: str = World.VSW_MAIN, *, wait: bool = True, **params: Any) -> dict:
    """CreateHaVip, then (by default) wait until it is Available; returns the Create response
    merged with ``Item`` (the DescribeHaVips entry once Available)."""
    resp = client.call("CreateHaVip", VSwitchId=vswitch, **params)
    assert resp.get("HaVipId", "").startswith("havip-"), resp
    if wait:
        resp["Item"] = wait_for_status(client, resp["HaVipId"], "Available")
    return resp


def associate(client: VpcClient, havip_id: str, instance_id: str, instance_type: str | None = None,
              wait: bool = True, **params: Any) -> dict:
    if instance_type:
        params["InstanceType"] = instance_type
    resp = client.call("AssociateHaVip", HaVipId=havip_id, InstanceId=instance_id, **params)
    if wait:
        wait_for(lambda: instance_id in associated_instances(get_havip(client, havip_id))
                 and get_havip(client, havip_id)["Status"] == "InUse",
                 what=f"{instance_id} associated with {havip_id}")
    return resp


def associated_instances(item: dict) -> list[str]:
    return item["AssociatedInstances"]["associatedInstance"]


def associated_eips(item: dict) -> list[str]:
    return item["AssociatedEipAddresses"]["associatedEipAddresse"]


def tags_of(item: dict) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in item["Tags"]["Tag"]}


def assert_havip_shape(item: dict) -> None:
    """Every field of the DescribeHaVips item (reference §2.1) in the wire shape the SDKs read."""
    for key in ("HaVipId", "RegionId", "VpcId", "VSwitchId", "IpAddress", "Status", "CreateTime"):
        assert isinstance(item.get(key), str) and item[key], f"{key} missing or empty in {item}"
    for key in ("Name", "Description", "MasterInstanceId", "AssociatedInstanceType", "ResourceGroupId", "ChargeType"):
        assert key not in item or isinstance(item[key], str), f"{key} is not a string in {item}"
    assert re.fullmatch(r"havip-[a-z0-9]+", item["HaVipId"]), f"HaVipId shape: {item['HaVipId']!r}"
    assert item["Status"] in HAVIP_STATUSES, item
    assert TIMESTAMP_RE.match(item["CreateTime"]), f"CreateTime {item['CreateTime']!r} is not YYYY-MM-DDThh:mm:ssZ"
    ipaddress.IPv4Address(item["IpAddress"])
    assert isinstance(item.get("AssociatedInstances"), dict), f"AssociatedInstances wrapper missing: {item}"
    assert isinstance(item["AssociatedInstances"].get("associatedInstance"), list), item
    assert isinstance(item.get("AssociatedEipAddresses"), dict), f"AssociatedEipAddresses wrapper missing: {item}"
    assert isinstance(item["AssociatedEipAddresses"].get("associatedEipAddresse"), list), item
    assert isinstance(item.get("Tags"), dict) and isinstance(item["Tags"].get("Tag"), list), f"Tags.Tag missing: {item}"
    for tag in item["Tags"]["Tag"]:
        assert set(tag) <= {"Key", "Value"} and "Key" in tag, tag


def assert_describe_shape(resp: dict) -> None:
    assert resp.get("RequestId"), resp
    for key in ("PageNumber", "PageSize", "TotalCount"):
        assert isinstance(resp.get(key), int), f"{key} missing or not an integer: {resp}"
    assert isinstance(resp.get("HaVips"), dict) and isinstance(resp["HaVips"].get("HaVip"), list), resp
    for item in resp["HaVips"]["HaVip"]:
        assert_havip_shape(item)


# Addresses in VSW_DYN: HAVIPs take .2-.99, added instances and ENIs take .100-.252.
_dyn_havip_host = itertools.count(2)
_dyn_nic_host = itertools.count(100)


def _dyn_ip(counter) -> str:
    n = next(counter)
    assert n <= 252, "VSW_DYN ran out of test addresses"
    return f"10.0.6.{n}"


def dyn_havip(client: VpcClient, **params: Any) -> str:
    """Creates an Available HAVIP in VSW_DYN at the next test-owned address; returns its ID."""
    return create_havip(client, World.VSW_DYN, IpAddress=_dyn_ip(_dyn_havip_host), **params)["HaVipId"]


def fresh_instance(admin: AdminClient, state: str = "Running") -> str:
    """Adds an instance in VSW_DYN that the test may change freely."""
    instance = unique("i-bp1t")
    admin.upsert(instance=[{"id": instance, "vswitch": World.VSW_DYN, "private_ip": _dyn_ip(_dyn_nic_host),
                            "state": state}])
    return instance


def fresh_attached_eni(admin: AdminClient) -> tuple[str, str]:
    """Adds an instance with one attached ENI in VSW_DYN; returns (eni, instance)."""
    instance = fresh_instance(admin)
    eni = unique("eni-bp1t")
    admin.upsert(eni=[{"id": eni, "vswitch": World.VSW_DYN, "private_ip": _dyn_ip(_dyn_nic_host),
                       "instance": instance}])
    return eni, instance


_eip_counter = itertools.count(1)


def new_eip(admin: AdminClient, account: str = World.ACCOUNT_A, region: str = REGION) -> tuple[str, str]:
    """Adds a fresh EIP to the topology; returns (allocation id, address)."""
    eip_id = unique("eip-bp1t")
    n = next(_eip_counter)
    address = f"47.98.{n // 250}.{n % 250 + 1}"
    admin.upsert(eip=[{"id": eip_id, "account": account, "region": region, "address": address}])
    return eip_id, address
