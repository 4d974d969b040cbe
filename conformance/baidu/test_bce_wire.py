"""The wire around the operations: bce-auth-v1 (signature, key, validity window, unsigned
body), BCE's error envelope, routing (bare flags, versions, unknown targets), strict JSON,
the region of the endpoint host, quotas, address exhaustion, injected faults."""

from __future__ import annotations

import json

import pytest

from bce_harness import (ApiError, BaiduWorld as W, assert_bce_error, create, fresh_name, signed_request,
                         utc_stamp, wait_status)


def body(**kw) -> bytes:
    return json.dumps(kw).encode()


def test_a_hand_signed_request_should_succeed_and_carry_the_request_id_header(bce_server):
    r = signed_request(bce_server.endpoint, "GET", "/v1/havip", [("maxKeys", "1")])
    assert r.status == 200, r.body
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers.get("x-bce-request-id")
    assert set(r.json()) >= {"haVips", "isTruncated", "maxKeys"}


def test_a_wrong_secret_should_fail_signature_does_not_match(bce_server):
    r = signed_request(bce_server.endpoint, "GET", "/v1/havip", sk="wrong-secret")
    assert_bce_error(r, 400, "SignatureDoesNotMatch")


def test_an_unknown_key_should_fail_invalid_access_key_id(bce_server):
    r = signed_request(bce_server.endpoint, "GET", "/v1/havip", ak="unknown-ak")
    assert_bce_error(r, 403, "InvalidAccessKeyId")


@pytest.mark.parametrize("authorization", ["", "Bearer x", "bce-auth-v1/ak/2024-01-01T00:00:00Z/1800/"])
def test_a_missing_or_malformed_authorization_should_fail_invalid_http_auth_header(bce_server, authorization):
    r = signed_request(bce_server.endpoint, "GET", "/v1/havip", authorization=authorization)
    assert_bce_error(r, 400, "InvalidHTTPAuthHeader")


def test_a_signature_past_its_expiration_should_fail_request_expired(bce_server):
    r = signed_request(bce_server.endpoint, "GET", "/v1/havip", timestamp=utc_stamp(-120), expiration=60)
    assert_bce_error(r, 400, "RequestExpired")
    r = signed_request(bce_server.endpoint, "GET", "/v1/havip", timestamp=utc_stamp(-3600))
    assert_bce_error(r, 400, "RequestExpired")
    # Inside a long window an old timestamp is fine.
    r = signed_request(bce_server.endpoint, "GET", "/v1/havip", timestamp=utc_stamp(-3600), expiration=7200)
    assert r.status == 200, r.body


def test_a_timestamp_far_in_the_future_should_fail_request_expired(bce_server):
    r = signed_request(bce_server.endpoint, "GET", "/v1/havip", timestamp=utc_stamp(3600))
    assert_bce_error(r, 400, "RequestExpired")


def test_a_stale_x_bce_date_should_fail_even_with_a_fresh_authorization(bce_server):
    r = signed_request(bce_server.endpoint, "GET", "/v1/havip",
                       extra_headers={"x-bce-date": utc_stamp(-7200)})
    assert_bce_error(r, 400, "RequestExpired")


def test_the_body_is_not_signed_but_its_length_is(bce_server):
    ep = bce_server.endpoint
    good = body(name="unsigned_a", subnetId=W.SBN_MAIN, privateIpAddress="", description="")
    r = signed_request(ep, "POST", "/v1/havip", [("clientToken", fresh_name())], good)
    assert r.status == 200, r.body


def test_the_bare_flag_form_of_the_docs_should_route_like_the_sdk_form(bce, bce_server):
    havip_id = create(bce)
    r = signed_request(bce_server.endpoint, "PUT", f"/v1/havip/{havip_id}", [("attach", "")],
                       body(instanceIds=[W.I_RUN[0]], instanceType="SERVER"), raw_query="attach")
    assert r.status == 200, r.body
    assert r.body == b""
    wait_status(bce, havip_id, "binded")


@pytest.mark.parametrize("method, path, query, status, code", [
    ("GET", "/v2/havip", [], 404, "InvalidVersion"),
    ("GET", "/v1/subnet", [], 400, "InvalidURI"),
    ("PUT", "/v1/havip/havip-000000000000", [], 400, "InvalidURI"),
    ("PUT", "/v1/havip/havip-000000000000", [("attach", ""), ("detach", "")], 400, "InvalidURI"),
    ("PATCH", "/v1/havip/havip-000000000000", [], 400, "InvalidURI"),
    ("GET", "/v1/havip", [("pageNo", "1")], 400, "InvalidParameter"),
])
def test_unroutable_requests_should_fail_with_bce_codes(bce_server, method, path, query, status, code):
    r = signed_request(bce_server.endpoint, method, path, query)
    assert_bce_error(r, status, code)


@pytest.mark.parametrize("payload, code", [
    (b"{not json", "MalformedJSON"),
    (b"[]", "InappropriateJSON"),
    (b"", "InappropriateJSON"),
    (json.dumps({"name": "a", "subnetId": W.SBN_MAIN}).encode(), "InappropriateJSON"),
    (json.dumps({"name": "a", "subnetId": W.SBN_MAIN, "privateIpAddress": 5}).encode(), "InappropriateJSON"),
    (json.dumps({"name": "a", "subnetId": W.SBN_MAIN, "privateIpAddress": "", "vpcId": "x"}).encode(),
     "InappropriateJSON"),
])
def test_bad_json_bodies_should_fail(bce_server, payload, code):
    r = signed_request(bce_server.endpoint, "POST", "/v1/havip", [], payload)
    assert_bce_error(r, 400, code)


def test_a_host_naming_a_region_should_select_it(bce_server):
    ep = bce_server.endpoint
    payload = body(name="in_gz", subnetId=W.SBN_GZ, privateIpAddress="", description="")
    r = signed_request(ep, "POST", "/v1/havip", [], payload, host="bcc.gz.baidubce.com")
    assert r.status == 200, r.body
    havip_id = r.json()["haVipId"]
    r = signed_request(ep, "GET", f"/v1/havip/{havip_id}", host="bcc.gz.baidubce.com")
    assert r.status == 200 and r.json()["subnetId"] == W.SBN_GZ
    # Not visible from the default region (bj) ...
    assert_bce_error(signed_request(ep, "GET", f"/v1/havip/{havip_id}"), 404, "NoSuchObject")
    # ... and an unserved region is refused.
    assert_bce_error(signed_request(ep, "GET", "/v1/havip", host="bcc.su.baidubce.com"), 400, "InvalidRegion")


def test_havips_per_vpc_quota_should_fail_quota_exceeded(bce_fresh_server):
    srv = bce_fresh_server()  # Baidu's default quotas: 5 HAVIPs per VPC
    client = srv.client("A")
    for _ in range(5):
        client.create(fresh_name(), W.SBN_MAIN, "")
    with pytest.raises(ApiError) as e:
        client.create(fresh_name(), W.SBN_MAIN, "")
    assert (e.value.status, e.value.code) == (409, "HaVipQuotaExceeded")


def test_a_full_subnet_should_fail_exhausted(bce_fresh_server):
    srv = bce_fresh_server(quotas={"havips_per_vpc": 100})
    client = srv.client("A")
    # 10.0.3.0/29: 8 addresses, 3 reserved, one held by a server: 4 left.
    got = {client.get(client.create(fresh_name(), W.SBN_TINY, "").body["haVipId"]).body["privateIpAddress"]
           for _ in range(4)}
    assert got == {"10.0.3.3", "10.0.3.4", "10.0.3.5", "10.0.3.6"}
    with pytest.raises(ApiError) as e:
        client.create(fresh_name(), W.SBN_TINY, "")
    assert (e.value.status, e.value.code) == (409, "SubnetIpExhausted")


@pytest.mark.parametrize("fault, status, code", [
    ("OperationConflict", 409, "OperationConflict"),
    ("Throttling", 429, "RequestLimitExceeded"),
])
def test_injected_faults_should_surface_in_the_bce_envelope(bce, bce_admin, fault, status, code):
    havip_id = create(bce)
    bce_admin.inject_fault("AttachInstance", fault)
    with pytest.raises(ApiError) as e:
        bce.attach(havip_id, [W.I_RUN[0]])
    assert (e.value.status, e.value.code) == (status, code)
    bce.attach(havip_id, [W.I_RUN[0]])


def test_the_sdk_should_retry_a_busy_service_and_succeed(bce_server, bce_admin):
    client = bce_server.client("A", retries=True)
    bce_admin.inject_fault("ListHaVips", "SystemBusy")
    assert client.list(max_keys=1).body["maxKeys"] == 1
