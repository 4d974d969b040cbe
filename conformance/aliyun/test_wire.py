"""Requests no SDK call makes by default: XML, GET, form bodies, and authentication failures.

These go through the hand-written signers in ``helpers`` (``signatures.md`` §1 and §2), so every
byte is under the test's control.
"""

from __future__ import annotations

import uuid

import pytest

from helpers import (
    World,
    api_error,
    assert_error_body,
    associate,
    create_havip,
    get_havip,
    http_request,
    make_client,
    unique,
    utc_stamp,
    v2_request,
    v3_request,
)

STS_MARKER = "server string to sign is:"


@pytest.fixture
def endpoint(server):
    return server.aliyun_endpoint


# -- formats and transports -----------------------------------------------------------------------


def test_v2_json_success_should_be_a_flat_json_object(endpoint, tea):
    havip = create_havip(tea)["HaVipId"]

    resp = v2_request(endpoint, "DescribeHaVips", {"Filter.1.Key": "HaVipId", "Filter.1.Value.1": havip})

    assert resp.status == 200, resp.body
    assert resp.content_type.startswith("application/json"), resp.content_type
    body = resp.json()
    assert body["RequestId"] and body["TotalCount"] == 1
    item = body["HaVips"]["HaVip"][0]
    assert item["HaVipId"] == havip
    assert item["AssociatedInstances"] == {"associatedInstance": []}
    assert item["AssociatedEipAddresses"] == {"associatedEipAddresse": []}
    assert item["Tags"] == {"Tag": []}


@pytest.mark.parametrize("fmt", ["json", "JSON", "Json"])
def test_v2_format_should_be_case_insensitive(endpoint, fmt):
    resp = v2_request(endpoint, "DescribeHaVips", {}, fmt=fmt)

    assert resp.status == 200, resp.body
    assert resp.json()["RequestId"]


def test_v2_format_xml_should_answer_describe_in_xml(endpoint, tea):
    created = create_havip(tea, Name="xml-me", Tag=[{"Key": "k", "Value": "v"}])
    havip = created["HaVipId"]
    associate(tea, havip, World.I_RUN1)

    resp = v2_request(endpoint, "DescribeHaVips", {"Filter.1.Key": "HaVipId", "Filter.1.Value.1": havip}, fmt="XML")

    assert resp.status == 200, resp.body
    assert "xml" in resp.content_type, resp.content_type
    root = resp.xml()
    assert root.tag == "DescribeHaVipsResponse"
    assert root.findtext("RequestId")
    assert root.findtext("TotalCount") == "1"
    items = root.findall("./HaVips/HaVip")
    assert len(items) == 1
    item = items[0]
    assert item.findtext("HaVipId") == havip
    assert item.findtext("Name") == "xml-me"
    assert item.findtext("IpAddress") == created["IpAddress"]
    assert [e.text for e in item.findall("./AssociatedInstances/associatedInstance")] == [World.I_RUN1]
    assert [(t.findtext("Key"), t.findtext("Value")) for t in item.findall("./Tags/Tag")] == [("k", "v")]


def test_v2_format_xml_should_answer_create_in_xml(endpoint):
    resp = v2_request(endpoint, "CreateHaVip", {"VSwitchId": World.VSW_MAIN}, fmt="XML")

    assert resp.status == 200, resp.body
    root = resp.xml()
    assert root.tag == "CreateHaVipResponse"
    assert root.findtext("HaVipId").startswith("havip-")
    assert root.findtext("IpAddress")
    assert root.findtext("RequestId")


def test_v2_without_format_should_default_to_xml(endpoint):
    resp = v2_request(endpoint, "DescribeHaVips", {}, fmt=None)

    assert resp.status == 200, resp.body
    assert resp.xml().tag == "DescribeHaVipsResponse"


def test_v2_get_request_should_be_accepted(endpoint, tea):
    havip = create_havip(tea)["HaVipId"]

    resp = v2_request(endpoint, "ModifyHaVipAttribute", {"HaVipId": havip, "Description": "a b*c~d/é+"}, method="GET")

    assert resp.status == 200, resp.body
    assert get_havip(tea, havip)["Description"] == "a b*c~d/é+"


def test_v2_form_body_parameters_should_be_read_and_signed(endpoint, tea):
    """Terraform's Go client sends business parameters in a form body, protocol ones in the query."""
    name = unique("form-")

    resp = v2_request(endpoint, "CreateHaVip", {"VSwitchId": World.VSW_MAIN, "Name": name, "Tag.1.Key": "f",
                                                "Tag.1.Value": "b o d y"},
                      in_body=["VSwitchId", "Name", "RegionId", "Tag.1.Key", "Tag.1.Value"])

    assert resp.status == 200, resp.body
    item = get_havip(tea, resp.json()["HaVipId"])
    assert item["Name"] == name
    assert item["Tags"]["Tag"] == [{"Key": "f", "Value": "b o d y"}]


def test_owner_parameters_should_be_accepted_and_ignored(endpoint):
    resp = v2_request(endpoint, "DescribeHaVips", {"OwnerId": "123", "OwnerAccount": "x", "ResourceOwnerId": "456",
                                                   "ResourceOwnerAccount": "y"})
    assert resp.status == 200, resp.body


def test_v3_request_from_hand_signer_should_be_accepted(endpoint):
    resp = v3_request(endpoint, "DescribeHaVips", {"PageSize": 1})

    assert resp.status == 200, resp.body
    assert resp.json()["PageSize"] == 1


def test_v3_form_body_parameters_should_be_read_and_signed(endpoint, tea):
    """The Tea SDK's generic ``call_api`` can send business parameters as a signed form body."""
    name = unique("v3form-")

    resp = v3_request(endpoint, "CreateHaVip", {}, form={"RegionId": "cn-hangzhou", "VSwitchId": World.VSW_MAIN,
                                                         "Name": name})

    assert resp.status == 200, resp.body
    assert get_havip(tea, resp.json()["HaVipId"])["Name"] == name


def test_v3_body_not_matching_its_hash_should_be_refused(endpoint):
    """The payload hash is signed: a body swapped after signing must not be accepted (no code is
    documented for it, so any client error will do)."""
    form = {"RegionId": "cn-hangzhou", "PageSize": "5"}

    resp = v3_request(endpoint, "DescribeHaVips", {}, form=form, body_after_signing=b"RegionId=cn-hangzhou&PageSize=7")

    assert 400 <= resp.status < 500, resp.body
    assert resp.json()["Code"], resp.body


# -- authentication -------------------------------------------------------------------------------


def test_v2_wrong_secret_should_fail_signature_mismatch_with_server_string_to_sign(endpoint):
    resp = v2_request(endpoint, "DescribeHaVips", {}, secret="not-the-secret")

    body = assert_error_body(resp, 400, "SignatureDoesNotMatch")
    assert STS_MARKER in body["Message"]
    assert body["Message"].split(STS_MARKER, 1)[1] == resp.string_to_sign


def test_v2_tampered_parameter_should_fail_signature_mismatch(endpoint):
    resp = v2_request(endpoint, "DescribeHaVips", {"PageSize": 10}, tamper={"PageSize": "20"})

    body = assert_error_body(resp, 400, "SignatureDoesNotMatch")
    assert STS_MARKER in body["Message"]


def test_v3_wrong_secret_should_fail_signature_mismatch(endpoint):
    resp = v3_request(endpoint, "DescribeHaVips", {}, secret="not-the-secret")

    body = assert_error_body(resp, 400, "SignatureDoesNotMatch")
    assert STS_MARKER in body["Message"]


@pytest.mark.parametrize("kind", ["tea-v3", "tea-v2"])
def test_tea_sdk_with_wrong_secret_should_raise_signature_mismatch(endpoint, kind):
    client = make_client(kind, endpoint, World.AK_A, "not-the-secret")
    with api_error(400, "SignatureDoesNotMatch") as raised:
        client.call("DescribeHaVips")
    assert STS_MARKER in raised.error.message


def test_old_sdk_with_wrong_secret_should_recognise_its_own_string_to_sign(endpoint):
    """aliyun-python-sdk-core compares the server's string to sign with its own and, when they
    match, reports InvalidAccessKeySecret: proof the server canonicalised exactly like the SDK."""
    client = make_client("old-sdk", endpoint, World.AK_A, "not-the-secret")
    with api_error(400, "InvalidAccessKeySecret"):
        client.call("DescribeHaVips")


@pytest.mark.parametrize("offset", [-20 * 60, 20 * 60], ids=["past", "future"])
def test_v2_timestamp_outside_the_window_should_fail_expired(endpoint, offset):
    resp = v2_request(endpoint, "DescribeHaVips", {}, timestamp=utc_stamp(offset))
    assert_error_body(resp, 400, "InvalidTimeStamp.Expired")


def test_v2_timestamp_inside_the_window_should_be_accepted(endpoint):
    resp = v2_request(endpoint, "DescribeHaVips", {}, timestamp=utc_stamp(-10 * 60))
    assert resp.status == 200, resp.body


@pytest.mark.parametrize("offset", [-20 * 60, 20 * 60], ids=["past", "future"])
def test_v3_date_outside_the_window_should_fail_expired(endpoint, offset):
    # The window (15 min here) holds either way: a request dated ahead of the server's
    # clock is refused as a stale one is, with the same code.
    resp = v3_request(endpoint, "DescribeHaVips", {}, date=utc_stamp(offset))
    assert_error_body(resp, 400, "InvalidTimeStamp.Expired")


@pytest.mark.parametrize("offset", [-10 * 60, 10 * 60], ids=["past", "future"])
def test_v3_date_inside_the_window_should_be_accepted(endpoint, offset):
    resp = v3_request(endpoint, "DescribeHaVips", {}, date=utc_stamp(offset))
    assert resp.status == 200, resp.body


def test_v2_reused_nonce_should_fail_nonce_used(endpoint):
    nonce = uuid.uuid4().hex
    first = v2_request(endpoint, "DescribeHaVips", {}, nonce=nonce)
    assert first.status == 200, first.body

    second = v2_request(endpoint, "DescribeHaVips", {"PageSize": 5}, nonce=nonce)

    assert_error_body(second, 400, "SignatureNonceUsed")


def test_v3_reused_nonce_should_fail_nonce_used(endpoint):
    nonce = uuid.uuid4().hex
    first = v3_request(endpoint, "DescribeHaVips", {}, nonce=nonce)
    assert first.status == 200, first.body

    second = v3_request(endpoint, "DescribeHaVips", {}, nonce=nonce)

    assert_error_body(second, 400, "SignatureNonceUsed")


def test_replayed_create_should_fail_nonce_used_and_create_nothing(endpoint, tea):
    nonce = uuid.uuid4().hex
    params = {"VSwitchId": World.VSW_MAIN, "Tag.1.Key": "replay", "Tag.1.Value": unique("r")}
    first = v2_request(endpoint, "CreateHaVip", params, nonce=nonce)
    assert first.status == 200, first.body

    second = v2_request(endpoint, "CreateHaVip", params, nonce=nonce)

    assert_error_body(second, 400, "SignatureNonceUsed")
    tags = [{"Key": "replay", "Value": params["Tag.1.Value"]}]
    assert tea.call("DescribeHaVips", Tags=tags)["TotalCount"] == 1


@pytest.mark.parametrize("kind", ["v2", "v3", "tea-v3", "old-sdk"])
def test_unknown_access_key_should_fail_access_key_not_found(endpoint, kind):
    if kind == "v2":
        assert_error_body(v2_request(endpoint, "DescribeHaVips", {}, access_key_id="LTAI5tNoSuchKey000000"),
                          404, "InvalidAccessKeyId.NotFound")
    elif kind == "v3":
        assert_error_body(v3_request(endpoint, "DescribeHaVips", {}, access_key_id="LTAI5tNoSuchKey000000"),
                          404, "InvalidAccessKeyId.NotFound")
    else:
        with api_error(404, "InvalidAccessKeyId.NotFound"):
            make_client(kind, endpoint, "LTAI5tNoSuchKey000000", "whatever").call("DescribeHaVips")


def test_unsigned_request_should_be_refused(endpoint):
    resp = http_request(endpoint, "POST", "/?Action=DescribeHaVips&Version=2016-04-28&RegionId=cn-hangzhou&Format=JSON")

    assert 400 <= resp.status < 500, resp.body
    body = resp.json()
    assert body["Code"] and body["RequestId"]


# -- request validation ---------------------------------------------------------------------------


def test_unknown_action_should_fail_action_not_found(endpoint):
    assert_error_body(v2_request(endpoint, "DescribeUnicorns", {}), 404, "InvalidAction.NotFound")


def test_unknown_action_over_v3_should_fail_action_not_found(endpoint):
    assert_error_body(v3_request(endpoint, "DescribeUnicorns", {}), 404, "InvalidAction.NotFound")


def test_missing_region_id_should_fail_missing_region_id(endpoint):
    resp = v2_request(endpoint, "DescribeHaVips", {}, include_region=False)
    assert_error_body(resp, 400, "MissingRegionId")


@pytest.mark.parametrize("action, params, missing", [
    ("DeleteHaVip", {}, "MissingHaVipId"),
    ("AssociateHaVip", {"HaVipId": "havip-bp1doesnotexist00"}, "MissingInstanceId"),
    ("ModifyHaVipAttribute", {"Name": "x"}, "MissingHaVipId"),
])
def test_missing_required_parameter_should_fail_missing_name(endpoint, action, params, missing):
    assert_error_body(v2_request(endpoint, action, params), 400, missing)


@pytest.mark.parametrize("value", ["51", "abc", "0", "-1", "1.5"])
def test_invalid_page_size_should_fail_invalid_parameter(endpoint, value):
    assert_error_body(v2_request(endpoint, "DescribeHaVips", {"PageSize": value}), 400, "InvalidParameter")


@pytest.mark.parametrize("value", ["abc", "0"])
def test_invalid_page_number_should_fail_invalid_parameter(endpoint, value):
    assert_error_body(v2_request(endpoint, "DescribeHaVips", {"PageNumber": value}), 400, "InvalidParameter")


def test_page_size_of_fifty_should_be_accepted(endpoint):
    resp = v2_request(endpoint, "DescribeHaVips", {"PageSize": "50"})
    assert resp.status == 200 and resp.json()["PageSize"] == 50, resp.body


def test_every_error_should_carry_the_full_envelope_as_json(endpoint):
    resp = v2_request(endpoint, "DeleteHaVip", {"HaVipId": "havip-bp1doesnotexist00"})

    body = assert_error_body(resp, 404, "InvalidHaVipId.NotFound")
    assert resp.content_type.startswith("application/json"), resp.content_type
    assert body["Message"]
