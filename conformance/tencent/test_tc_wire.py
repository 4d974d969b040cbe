"""The wire: request forms (TC3 POST/GET, legacy v1 HmacSHA1/HmacSHA256 POST/GET), the
envelope (HTTP 200, Content-Type exactly application/json), authentication and routing errors."""

import json
import time

import pytest

from tc_harness import (ECM_VERSION, REGION, VPC_VERSION, TcWorld, create, describe_one, expect_error,
                        raw_request, signed_post, tc3_headers, wait_task)

W = TcWorld

FORMS = [("TC3-HMAC-SHA256", "POST"), ("TC3-HMAC-SHA256", "GET"), ("HmacSHA256", "POST"),
         ("HmacSHA256", "GET"), ("HmacSHA1", "POST"), ("HmacSHA1", "GET")]


@pytest.mark.parametrize("sign,method", FORMS)
def test_every_vpc_operation_should_work_in_every_request_form(tc_server, tc_admin, sign, method):
    c = tc_server.client("vpc", sign=sign, method=method)
    h = c.call("CreateHaVip", VpcId=W.VPC_A, SubnetId=W.SUBNET_MAIN, HaVipName=f"form {sign} {method}+é",
               CheckAssociate=False, Tags=[{"Key": "k", "Value": "v w"}])["HaVip"]
    hid = h["HaVipId"]
    assert h["HaVipName"] == f"form {sign} {method}+é"
    got = c.call("DescribeHaVips", Filters=[{"Name": "havip-id", "Values": [hid]},
                                            {"Name": "subnet-id", "Values": [W.SUBNET_MAIN, W.SUBNET_OTHER]}],
                 Offset=0, Limit=10)
    assert [x["HaVipId"] for x in got["HaVipSet"]] == [hid]
    c.call("ModifyHaVipAttribute", HaVipId=hid, HaVipName="renamed & more")
    assert describe_one(c, hid)["HaVipName"] == "renamed & more"
    wait_task(c, c.call("AssociateHaVipInstance",
                        HaVipAssociationSet=[{"HaVipId": hid, "InstanceId": W.INS_3, "InstanceType": "CVM"}])
              ["RequestId"])
    wait_task(c, c.call("DisassociateHaVipInstance",
                        HaVipAssociationSet=[{"HaVipId": hid, "InstanceId": W.INS_3, "InstanceType": "CVM"}])
              ["RequestId"])
    wait_task(c, c.call("HaVipAssociateAddressIp", HaVipId=hid, AddressIp=W.EIP_A2[1])["RequestId"])
    wait_task(c, c.call("HaVipDisassociateAddressIp", HaVipId=hid)["RequestId"])
    wait_task(c, c.call("DeleteHaVip", HaVipId=hid)["RequestId"])
    # Errors arrive as SDK exceptions with code and request ID in every form.
    expect_error("ResourceNotFound", lambda: c.call("DeleteHaVip", HaVipId=hid))


@pytest.mark.parametrize("sign,method", FORMS)
def test_every_ecm_operation_should_work_in_every_request_form(tc_server, sign, method):
    c = tc_server.client("ecm", sign=sign, method=method)
    h = c.call("CreateHaVip", VpcId=W.VPC_ECM, SubnetId=W.SUBNET_ECM, HaVipName="ecm form")["HaVip"]
    c.call("ModifyHaVipAttribute", HaVipId=h["HaVipId"], HaVipName="x y")
    got = c.call("DescribeHaVips", HaVipIds=[h["HaVipId"]], Offset=0, Limit=100)
    assert got["HaVipSet"][0]["HaVipName"] == "x y"
    c.call("DeleteHaVip", HaVipId=h["HaVipId"])
    expect_error("ResourceNotFound", lambda: c.call("ModifyHaVipAttribute", HaVipId="havip-zzzzzzzz",
                                                    HaVipName="x"))


def test_envelope_should_be_http_200_with_exact_json_content_type(tc_server):
    ep = tc_server.endpoint
    ok = signed_post(ep, "DescribeHaVips", {"Limit": 1})
    assert ok.status == 200 and ok.headers["content-type"] == "application/json"
    body = ok.json()["Response"]
    assert set(body) == {"TotalCount", "HaVipSet", "RequestId"}
    err = signed_post(ep, "DeleteHaVip", {"HaVipId": "havip-zzzzzzzz"})
    assert err.status == 200 and err.headers["content-type"] == "application/json"
    e = err.json()["Response"]
    assert set(e) == {"Error", "RequestId"} and e["Error"]["Code"] == "ResourceNotFound" and e["Error"]["Message"]
    assert e["RequestId"] != body["RequestId"]


def test_authentication_errors(tc_server):
    ep = tc_server.endpoint
    from tc_harness import Client
    wrong = Client(ep, "vpc", W.AK_A, "not-the-secret", REGION)
    expect_error("AuthFailure.SignatureFailure", lambda: wrong.call("DescribeHaVips"))
    wrong_v1 = Client(ep, "vpc", W.AK_A, "not-the-secret", REGION, sign="HmacSHA256")
    expect_error("AuthFailure.SignatureFailure", lambda: wrong_v1.call("DescribeHaVips"))
    unknown = Client(ep, "vpc", "AKIDnobody", "x", REGION)
    expect_error("AuthFailure.SecretIdNotFound", lambda: unknown.call("DescribeHaVips"))
    # An Alibaba account's key is not a Tencent SecretId.
    expect_error("AuthFailure.SecretIdNotFound", lambda: tc_server.client("vpc", account="ALI").call("DescribeHaVips"))
    stale = signed_post(ep, "DescribeHaVips", {}, timestamp=int(time.time()) - 600)
    assert stale.error_code == "AuthFailure.SignatureExpire"
    future = signed_post(ep, "DescribeHaVips", {}, timestamp=int(time.time()) + 600)
    assert future.error_code == "AuthFailure.SignatureExpire"
    fresh = signed_post(ep, "DescribeHaVips", {}, timestamp=int(time.time()) - 200)
    assert fresh.error_code is None
    # Tampering with the body after signing.
    body = json.dumps({"Limit": 1}).encode()
    hdrs = tc3_headers(ep, "vpc", "DescribeHaVips", VPC_VERSION, body)
    assert raw_request(ep, "POST", "/", hdrs, b'{"Limit": 2}').error_code == "AuthFailure.SignatureFailure"
    # No signature at all; a foreign Authorization scheme.
    assert raw_request(ep, "POST", "/", {"Content-Type": "application/json", "X-TC-Action": "DescribeHaVips",
                                         "X-TC-Version": VPC_VERSION}, b"{}").error_code == \
        "AuthFailure.InvalidAuthorization"
    assert raw_request(ep, "POST", "/", {"Authorization": "Bearer x", "Content-Type": "application/json"},
                       b"{}").error_code == "AuthFailure.InvalidAuthorization"


def test_routing_errors(tc_server, vpc):
    ep = tc_server.endpoint
    expect_error("InvalidAction", lambda: vpc.call_json("DescribeNothing", {}))
    assert signed_post(ep, "DescribeHaVips", {}, version="2099-01-01").error_code == "NoSuchVersion"
    # The credential scope must name the product of the version.
    assert signed_post(ep, "DescribeHaVips", {}, service="ecm").error_code == "AuthFailure.InvalidAuthorization"
    assert signed_post(ep, "DescribeHaVips", {}, service="ecm", version=ECM_VERSION, region=None).error_code is None
    # VPC needs a region; it must exist.
    assert signed_post(ep, "DescribeHaVips", {}, region=None).error_code == "MissingParameter"
    assert signed_post(ep, "DescribeHaVips", {}, region="ap-moon").error_code == "UnsupportedRegion"
    assert signed_post(ep, "DescribeHaVips", {}, service="ecm", version=ECM_VERSION,
                       region="ap-moon").error_code == "InvalidParameterValue.InvalidRegion"
    # Malformed bodies.
    body = b"[1, 2]"
    hdrs = tc3_headers(ep, "vpc", "DescribeHaVips", VPC_VERSION, body)
    assert raw_request(ep, "POST", "/", hdrs, body).error_code == "InvalidParameter"
    expect_error("InvalidParameter", lambda: vpc.call_json("DescribeHaVips", {"Limit": "lots"}))
    # Booleans and numbers as strings are accepted (the flattened forms send them so).
    assert vpc.call_json("DescribeHaVips", {"Limit": "1", "Offset": "0"})["TotalCount"] >= 0
