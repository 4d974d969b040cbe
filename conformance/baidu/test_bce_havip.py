"""Create, detail, list, update and delete through ``HavipClient``, with every documented
parameter rule of SEED-004 and the errors each can raise."""

from __future__ import annotations

import ipaddress
import re
import time

import pytest

from bce_harness import (HAVIP_ID_RE, TIMESTAMP_FMT, ApiError, BaiduWorld as W, create, explicit_ip,
                         fresh_name, reserved, wait_status)

HAVIP_KEYS = {"haVipId", "name", "description", "vpcId", "subnetId", "status", "privateIpAddress",
              "publicIpAddress", "bindedInstances", "createdTime"}


def assert_havip_shape(h: dict) -> None:
    assert set(h) == HAVIP_KEYS, h
    assert re.match(HAVIP_ID_RE, h["haVipId"]), h
    assert h["status"] in {"creating", "available", "binding", "binded", "unbinding", "deleting"}, h
    ipaddress.IPv4Address(h["privateIpAddress"])
    assert h["publicIpAddress"] == "" or ipaddress.IPv4Address(h["publicIpAddress"])
    assert isinstance(h["bindedInstances"], list)
    for b in h["bindedInstances"]:
        assert set(b) == {"instanceId", "instanceType", "master"} and b["instanceType"] in {"SERVER", "ENI"}, b
        assert isinstance(b["master"], bool)
    time.strptime(h["createdTime"], TIMESTAMP_FMT)


def test_create_with_an_explicit_address_should_return_the_id_and_show_every_field(bce):
    ip = explicit_ip()
    name = fresh_name()
    reply = bce.create(name, W.SBN_EXPL, ip, description="desc")
    assert set(reply.body) == {"haVipId"}
    havip_id = reply.sdk.ha_vip_id
    assert re.match(HAVIP_ID_RE, havip_id), havip_id
    h = wait_status(bce, havip_id, "available")
    assert_havip_shape(h)
    assert (h["name"], h["description"], h["vpcId"], h["subnetId"], h["privateIpAddress"]) == (
        name, "desc", W.VPC_A1, W.SBN_EXPL, ip)
    assert (h["publicIpAddress"], h["bindedInstances"]) == ("", [])
    sdk = bce.get(havip_id).sdk
    assert (sdk.ha_vip_id, sdk.private_ip_address, sdk.binded_instances) == (havip_id, ip, [])


def test_create_with_an_empty_address_should_allocate_a_free_one_in_the_subnet(bce):
    held = {ip for _, (s, ip) in W.INSTANCE_IPS.items() if s == W.SBN_MAIN}
    held |= {ip for _, (s, ip, _) in W.ENI_IPS.items()}
    seen = set()
    for _ in range(5):
        h = bce.get(create(bce, W.SBN_MAIN)).body
        ip = h["privateIpAddress"]
        assert ipaddress.IPv4Address(ip) in ipaddress.ip_network(W.CIDR[W.SBN_MAIN])
        assert ip not in reserved(W.CIDR[W.SBN_MAIN]) and ip not in held and ip not in seen
        seen.add(ip)


@pytest.mark.parametrize("name", ["a", "高可用虚拟IP", "A-b_c/d.e9", "中" + "a" * 64])
def test_names_following_the_seed_rules_should_be_accepted(bce, name):
    havip_id = bce.create(name, W.SBN_MAIN, "").body["haVipId"]
    assert bce.get(havip_id).body["name"] == name


@pytest.mark.parametrize("name", ["", "9abc", "_abc", "-abc", "a b", "a*b", "a" * 66, "éa"])
def test_names_breaking_the_seed_rules_should_fail_invalid_parameter(bce, name):
    with pytest.raises(ApiError) as e:
        bce.create(name, W.SBN_MAIN, "")
    assert (e.value.status, e.value.code) == (400, "InvalidParameter")
    assert e.value.request_id


@pytest.mark.parametrize("ip, status, code", [
    ("10.0.9.5", 400, "PrivateIpNotInSubnet"),
    ("10.0.4.0", 400, "PrivateIpReserved"),
    ("10.0.4.1", 400, "PrivateIpReserved"),
    ("10.0.4.255", 400, "PrivateIpReserved"),
    ("10.0.1.11", None, None),  # held by a server: checked in the MAIN subnet below
    ("10.0.4.300", 400, "InvalidParameter"),
    ("10.0.4.07", 400, "InvalidParameter"),
])
def test_create_with_an_unusable_address_should_fail(bce, ip, status, code):
    if status is None:
        with pytest.raises(ApiError) as e:
            bce.create(fresh_name(), W.SBN_MAIN, ip)
        assert (e.value.status, e.value.code) == (409, "PrivateIpInUse")
        return
    with pytest.raises(ApiError) as e:
        bce.create(fresh_name(), W.SBN_EXPL, ip)
    assert (e.value.status, e.value.code) == (status, code)


def test_create_on_an_address_held_by_another_havip_should_fail_in_use(bce):
    ip = explicit_ip()
    create(bce, W.SBN_EXPL, ip)
    with pytest.raises(ApiError) as e:
        bce.create(fresh_name(), W.SBN_EXPL, ip)
    assert (e.value.status, e.value.code) == (409, "PrivateIpInUse")


@pytest.mark.parametrize("subnet", ["sbn-doesnotexist", W.SBN_B, W.SBN_GZ])
def test_create_in_a_subnet_the_caller_cannot_see_should_fail_no_such_object(bce, subnet):
    with pytest.raises(ApiError) as e:
        bce.create(fresh_name(), subnet, "")
    assert (e.value.status, e.value.code) == (404, "NoSuchObject")


def test_detail_of_an_unknown_havip_should_fail_no_such_object(bce):
    with pytest.raises(ApiError) as e:
        bce.get("havip-000000000000")
    assert (e.value.status, e.value.code) == (404, "NoSuchObject")


def test_list_should_page_with_marker_and_next_marker(bce):
    ids = [create(bce, W.SBN_LIST) for _ in range(3)]
    first = bce.list(vpc_id=W.VPC_LIST, max_keys=2).body
    assert set(first) == {"haVips", "marker", "isTruncated", "nextMarker", "maxKeys"}, first
    assert [h["haVipId"] for h in first["haVips"]] == ids[:2]
    assert (first["isTruncated"], first["nextMarker"], first["maxKeys"], first["marker"]) == (True, ids[2], 2, ids[0])
    for h in first["haVips"]:
        assert_havip_shape(h)
    second = bce.list(vpc_id=W.VPC_LIST, marker=first["nextMarker"], max_keys=2)
    assert [h["haVipId"] for h in second.body["haVips"]] == ids[2:]
    assert second.body["isTruncated"] is False and "nextMarker" not in second.body
    assert second.body["marker"] == ids[2]
    assert second.sdk.is_truncated is False and second.sdk.ha_vips[0].ha_vip_id == ids[2]


def test_list_without_parameters_should_return_up_to_1000_of_the_callers_havips(bce):
    havip_id = create(bce)
    body = bce.list().body
    assert body["maxKeys"] == 1000 and body["isTruncated"] is False
    listed = [h["haVipId"] for h in body["haVips"]]
    assert havip_id in listed and len(listed) == len(set(listed))
    assert all(h["vpcId"] != W.VPC_B for h in body["haVips"])


def test_list_filtered_by_another_vpc_should_not_show_the_havip(bce):
    havip_id = create(bce, W.SBN_MAIN)
    assert havip_id not in [h["haVipId"] for h in bce.list(vpc_id=W.VPC_A2).body["haVips"]]
    empty = bce.list(vpc_id="vpc-unknown00000").body
    assert empty["haVips"] == [] and "marker" not in empty and empty["isTruncated"] is False


@pytest.mark.parametrize("max_keys", [0, 1001, -1])
def test_list_with_max_keys_out_of_range_should_fail_invalid_parameter(bce, max_keys):
    with pytest.raises(ApiError) as e:
        bce.list(max_keys=max_keys)
    assert (e.value.status, e.value.code) == (400, "InvalidParameter")


def test_list_with_an_unknown_marker_should_fail_invalid_parameter(bce):
    with pytest.raises(ApiError) as e:
        bce.list(marker="havip-marker01")
    assert (e.value.status, e.value.code) == (400, "InvalidParameter")


def test_update_should_rename_and_redescribe(bce):
    havip_id = create(bce, description="before")
    reply = bce.update(havip_id, "renamed_1", description="after")
    assert reply.body == {}
    h = bce.get(havip_id).body
    assert (h["name"], h["description"]) == ("renamed_1", "after")
    # The Python SDK always sends description; "" clears it.
    bce.update(havip_id, "renamed_2")
    h = bce.get(havip_id).body
    assert (h["name"], h["description"]) == ("renamed_2", "")


def test_update_with_an_invalid_name_or_unknown_havip_should_fail(bce):
    havip_id = create(bce)
    with pytest.raises(ApiError) as e:
        bce.update(havip_id, "1bad")
    assert (e.value.status, e.value.code) == (400, "InvalidParameter")
    with pytest.raises(ApiError) as e:
        bce.update("havip-000000000000", "good")
    assert (e.value.status, e.value.code) == (404, "NoSuchObject")


def test_delete_should_remove_the_havip_and_free_its_address(bce):
    ip = explicit_ip()
    havip_id = create(bce, W.SBN_EXPL, ip)
    assert bce.delete(havip_id).body == {}
    deadline = time.monotonic() + 3
    while True:
        try:
            bce.get(havip_id)
        except ApiError as e:
            assert (e.status, e.code) == (404, "NoSuchObject")
            break
        assert time.monotonic() < deadline, "the HAVIP was not deleted"
        time.sleep(0.05)
    assert create(bce, W.SBN_EXPL, ip)
    with pytest.raises(ApiError) as e:
        bce.delete(havip_id)
    assert (e.value.status, e.value.code) == (404, "NoSuchObject")


def test_delete_while_instances_are_bound_should_fail_havip_in_use(bce):
    havip_id = create(bce)
    bce.attach(havip_id, [W.I_RUN[0]])
    wait_status(bce, havip_id, "binded")
    with pytest.raises(ApiError) as e:
        bce.delete(havip_id)
    assert (e.value.status, e.value.code) == (409, "HaVipInUse")
    assert bce.get(havip_id).body["status"] == "binded"
