"""Tenancy: one account never sees or touches another account's resources."""

from __future__ import annotations

import pytest

from helpers import World, api_error, create_havip, describe, get_havip
from test_tags import RESOURCE_NOT_FOUND


@pytest.fixture
def havip_of_a(tea):
    return create_havip(tea, Name="owned-by-a")["HaVipId"]


@pytest.mark.parametrize("kind", ["tea-v3", "tea-v2", "old-sdk"])
def test_other_account_should_not_see_the_havip_in_describe(server, havip_of_a, kind):
    b = server.client(kind, account="B")

    by_id = describe(b, Filter=[{"Key": "HaVipId", "Value": [havip_of_a]}])
    everything = describe(b, PageSize=50)

    assert by_id["HaVips"]["HaVip"] == [] and by_id["TotalCount"] == 0
    assert havip_of_a not in {h["HaVipId"] for h in everything["HaVips"]["HaVip"]}


@pytest.mark.parametrize("op, params", [
    ("ModifyHaVipAttribute", {"Name": "stolen"}),
    ("DeleteHaVip", {}),
    ("AssociateHaVip", {"InstanceId": World.I_B}),
    ("UnassociateHaVip", {"InstanceId": World.I_RUN1}),
])
def test_other_account_should_get_not_found_for_havip_operations(tea, tea_b, havip_of_a, op, params):
    with api_error(404, "InvalidHaVipId.NotFound"):
        tea_b.call(op, HaVipId=havip_of_a, **params)
    item = get_havip(tea, havip_of_a)
    assert item["Name"] == "owned-by-a" and item["Status"] == "Available"


def test_other_account_should_not_tag_the_havip(tea, tea_b, havip_of_a):
    with api_error(404, RESOURCE_NOT_FOUND):
        tea_b.call("TagResources", ResourceType="HAVIP", ResourceId=[havip_of_a], Tag=[{"Key": "k", "Value": "v"}])
    listed = tea_b.call("ListTagResources", ResourceType="HAVIP", Tag=[{"Key": "k", "Value": "v"}])
    assert havip_of_a not in {e["ResourceId"] for e in listed["TagResources"]["TagResource"]}


def test_other_account_should_not_move_the_havip(tea_b, havip_of_a):
    with api_error(404, RESOURCE_NOT_FOUND):
        tea_b.call("MoveResourceGroup", ResourceType="HaVip", ResourceId=havip_of_a, NewResourceGroupId=World.RG_B1)


def test_other_account_should_not_bind_its_eip_to_the_havip(tea_b, havip_of_a):
    with api_error({400, 404}, {"InvalidHaVipId.NotFound", "InvalidInstanceId.NotFound", "InvalidInstanId.NotFound"}):
        tea_b.call("AssociateEipAddress", AllocationId=World.EIP_B1, InstanceId=havip_of_a, InstanceType="HaVip")


def test_vswitch_of_another_account_should_not_be_found(tea_b):
    with api_error(404, "InvalidVSwitchId.NotFound"):
        tea_b.call("CreateHaVip", VSwitchId=World.VSW_MAIN)


def test_instance_of_another_account_should_not_be_found(tea_b):
    havip = create_havip(tea_b, World.VSW_B)["HaVipId"]
    with api_error(400, "InvalidInstanceId.NotFound"):
        tea_b.call("AssociateHaVip", HaVipId=havip, InstanceId=World.I_RUN1)
    with api_error(400, "InvalidNetworkInterfaceId.NotFound"):
        tea_b.call("AssociateHaVip", HaVipId=havip, InstanceId=World.ENI_RUN1, InstanceType="NetworkInterface")


def test_account_b_should_manage_its_own_havip(tea_b):
    created = create_havip(tea_b, World.VSW_B, ResourceGroupId=World.RG_B1)

    assert created["Item"]["VpcId"] == World.VPC_B1
    tea_b.call("AssociateHaVip", HaVipId=created["HaVipId"], InstanceId=World.I_B)
