"""The 13 HAVIP operations through each SDK generation, with the response shapes the SDKs read.

Every test here runs three times (``client`` fixture): Tea SDK with the V3 signature, Tea SDK
with ``signature_algorithm="v2"``, and the old ``aliyun-python-sdk-core`` client.
"""

from __future__ import annotations

import ipaddress

from helpers import (
    World,
    assert_describe_shape,
    assert_havip_shape,
    associate,
    associated_eips,
    associated_instances,
    create_havip,
    get_havip,
    new_eip,
    tags_of,
    unique,
    usable_addresses,
    wait_for,
    wait_for_status,
    wait_until_gone,
)


def test_create_ha_vip_should_return_id_and_assigned_address(client):
    resp = client.call("CreateHaVip", VSwitchId=World.VSW_MAIN)

    assert resp["RequestId"]
    assert resp["HaVipId"].startswith("havip-")
    assert resp["IpAddress"] in usable_addresses(World.CIDR[World.VSW_MAIN])
    item = wait_for_status(client, resp["HaVipId"], "Available")
    assert item["IpAddress"] == resp["IpAddress"]


def test_create_ha_vip_should_store_every_given_attribute(client):
    name = unique("conf-name-")
    resp = create_havip(
        client,
        Name=name,
        Description="made by the conformance suite",
        ResourceGroupId=World.RG_A2,
        Tag=[{"Key": "team", "Value": "net"}, {"Key": "empty", "Value": ""}],
    )
    item = resp["Item"]

    assert_havip_shape(item)
    assert item["HaVipId"] == resp["HaVipId"]
    assert item["Name"] == name
    assert item["Description"] == "made by the conformance suite"
    assert item["ResourceGroupId"] == World.RG_A2
    assert item["RegionId"] == "cn-hangzhou"
    assert item["VpcId"] == World.VPC_A1
    assert item["VSwitchId"] == World.VSW_MAIN
    assert item["Status"] == "Available"
    assert tags_of(item) == {"team": "net", "empty": ""}
    assert associated_instances(item) == []
    assert associated_eips(item) == []


def test_describe_ha_vips_should_return_paged_envelope_with_havip_items(client):
    havip = create_havip(client)["HaVipId"]

    resp = client.call("DescribeHaVips", Filter=[{"Key": "HaVipId", "Value": [havip]}])

    assert_describe_shape(resp)
    assert resp["PageNumber"] == 1
    assert resp["PageSize"] == 10
    assert resp["TotalCount"] == 1
    assert [h["HaVipId"] for h in resp["HaVips"]["HaVip"]] == [havip]


def test_modify_ha_vip_attribute_should_change_name_and_description(client):
    havip = create_havip(client, Name="before", Description="old text")["HaVipId"]

    resp = client.call("ModifyHaVipAttribute", HaVipId=havip, Name="after", Description="new text")

    assert resp["RequestId"]
    item = get_havip(client, havip)
    assert (item["Name"], item["Description"]) == ("after", "new text")
    assert item["Status"] == "Available"


def test_modify_ha_vip_attribute_should_work_while_in_use(client):
    havip = create_havip(client)["HaVipId"]
    associate(client, havip, World.I_RUN1)

    client.call("ModifyHaVipAttribute", HaVipId=havip, Name="renamed-in-use")

    item = get_havip(client, havip)
    assert (item["Name"], item["Status"]) == ("renamed-in-use", "InUse")


def test_modify_ha_vip_attribute_should_keep_fields_that_are_not_given(client):
    havip = create_havip(client, Name="keep-me", Description="old text")["HaVipId"]

    client.call("ModifyHaVipAttribute", HaVipId=havip, Description="only this")

    item = get_havip(client, havip)
    assert (item["Name"], item["Description"]) == ("keep-me", "only this")


def test_modify_ha_vip_attribute_should_round_trip_special_characters(client):
    havip = create_havip(client)["HaVipId"]
    text = "a b*c~d/é+&=?%"

    client.call("ModifyHaVipAttribute", HaVipId=havip, Description=text)

    assert get_havip(client, havip)["Description"] == text


def test_delete_ha_vip_should_remove_it_from_describe(client):
    havip = create_havip(client)["HaVipId"]

    resp = client.call("DeleteHaVip", HaVipId=havip)

    assert resp["RequestId"]
    wait_until_gone(client, havip)


def test_associate_ha_vip_should_list_ecs_instance_and_become_in_use(client):
    havip = create_havip(client)["HaVipId"]

    resp = client.call("AssociateHaVip", HaVipId=havip, InstanceId=World.I_RUN1)

    assert resp["RequestId"]
    item = wait_for_status(client, havip, "InUse")
    assert_havip_shape(item)
    assert associated_instances(item) == [World.I_RUN1]
    assert item["AssociatedInstanceType"] == "EcsInstance"


def test_associate_ha_vip_should_accept_two_instances_and_a_stopped_one(client):
    havip = create_havip(client)["HaVipId"]

    associate(client, havip, World.I_RUN2, "EcsInstance")
    associate(client, havip, World.I_STOPPED, "EcsInstance")

    item = get_havip(client, havip)
    assert sorted(associated_instances(item)) == sorted([World.I_RUN2, World.I_STOPPED])
    assert item["Status"] == "InUse"


def test_associate_ha_vip_should_accept_network_interfaces(client):
    havip = create_havip(client)["HaVipId"]

    associate(client, havip, World.ENI_RUN1, "NetworkInterface")
    associate(client, havip, World.ENI_RUN2, "NetworkInterface")

    item = get_havip(client, havip)
    assert sorted(associated_instances(item)) == sorted([World.ENI_RUN1, World.ENI_RUN2])
    assert item["AssociatedInstanceType"] == "NetworkInterface"


def test_unassociate_ha_vip_should_leave_in_use_while_instances_remain(client):
    havip = create_havip(client)["HaVipId"]
    associate(client, havip, World.I_RUN1)
    associate(client, havip, World.I_RUN2)

    resp = client.call("UnassociateHaVip", HaVipId=havip, InstanceId=World.I_RUN2, InstanceType="EcsInstance")

    assert resp["RequestId"]
    item = wait_for(lambda: (i := get_havip(client, havip)) and associated_instances(i) == [World.I_RUN1] and i,
                    what="I_RUN2 to be removed")
    assert item["Status"] == "InUse"


def test_unassociate_ha_vip_should_return_to_available_when_last_instance_leaves(client):
    havip = create_havip(client)["HaVipId"]
    associate(client, havip, World.ENI_RUN3, "NetworkInterface")

    client.call("UnassociateHaVip", HaVipId=havip, InstanceId=World.ENI_RUN3, InstanceType="NetworkInterface",
                Force="False")

    item = wait_for_status(client, havip, "Available")
    assert associated_instances(item) == []


def test_associate_eip_address_should_list_the_eip_address_on_the_havip(client, admin):
    havip = create_havip(client)["HaVipId"]
    eip, address = new_eip(admin)

    resp = client.call("AssociateEipAddress", AllocationId=eip, InstanceId=havip, InstanceType="HaVip")

    assert resp["RequestId"]
    item = wait_for(lambda: (i := get_havip(client, havip)) and associated_eips(i) == [address] and i,
                    what="the EIP address to be listed")
    assert item["Status"] == "Available"
    assert_havip_shape(item)


def test_unassociate_eip_address_should_remove_the_address(client, admin):
    havip = create_havip(client)["HaVipId"]
    eip, address = new_eip(admin)
    client.call("AssociateEipAddress", AllocationId=eip, InstanceId=havip, InstanceType="HaVip")
    wait_for(lambda: associated_eips(get_havip(client, havip)) == [address], what="EIP bound")

    resp = client.call("UnassociateEipAddress", AllocationId=eip, InstanceId=havip, InstanceType="HaVip")

    assert resp["RequestId"]
    wait_for(lambda: associated_eips(get_havip(client, havip)) == [], what="EIP unbound")
    client.call("DeleteHaVip", HaVipId=havip)
    wait_until_gone(client, havip)


def test_tag_resources_should_add_tags_visible_in_describe(client):
    havip = create_havip(client, Tag=[{"Key": "a", "Value": "1"}])["HaVipId"]

    resp = client.call("TagResources", ResourceType="HAVIP", ResourceId=[havip],
                       Tag=[{"Key": "b", "Value": "2"}, {"Key": "c", "Value": ""}])

    assert resp["RequestId"]
    assert tags_of(get_havip(client, havip)) == {"a": "1", "b": "2", "c": ""}


def test_tag_resources_should_overwrite_the_value_of_an_existing_key(client):
    havip = create_havip(client, Tag=[{"Key": "a", "Value": "1"}])["HaVipId"]

    client.call("TagResources", ResourceType="HAVIP", ResourceId=[havip], Tag=[{"Key": "a", "Value": "2"}])

    assert tags_of(get_havip(client, havip)) == {"a": "2"}


def test_un_tag_resources_should_remove_named_keys(client):
    havip = create_havip(client, Tag=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])["HaVipId"]

    resp = client.call("UnTagResources", ResourceType="HAVIP", ResourceId=[havip], TagKey=["a"])

    assert resp["RequestId"]
    assert tags_of(get_havip(client, havip)) == {"b": "2"}


def test_un_tag_resources_with_all_should_remove_every_tag(client):
    havip = create_havip(client, Tag=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])["HaVipId"]

    client.call("UnTagResources", ResourceType="HAVIP", ResourceId=[havip], All=True)

    assert tags_of(get_havip(client, havip)) == {}


def test_list_tag_resources_should_return_one_entry_per_resource_and_tag(client):
    h1 = create_havip(client, Tag=[{"Key": "x", "Value": "1"}, {"Key": "y", "Value": "2"}])["HaVipId"]
    h2 = create_havip(client, Tag=[{"Key": "x", "Value": "3"}])["HaVipId"]

    resp = client.call("ListTagResources", ResourceType="HAVIP", ResourceId=[h1, h2])

    assert resp["RequestId"]
    entries = resp["TagResources"]["TagResource"]
    got = sorted((e["ResourceId"], e["TagKey"], e["TagValue"]) for e in entries)
    assert got == sorted([(h1, "x", "1"), (h1, "y", "2"), (h2, "x", "3")])
    for e in entries:
        assert e["ResourceType"].upper() == "HAVIP", e
    assert not resp.get("NextToken"), "a short listing must be the last page"


def test_list_tag_resources_should_find_resources_by_tag(client):
    marker = unique("m")
    h1 = create_havip(client, Tag=[{"Key": "finder", "Value": marker}])["HaVipId"]
    create_havip(client, Tag=[{"Key": "finder", "Value": "other"}])

    resp = client.call("ListTagResources", ResourceType="HAVIP", Tag=[{"Key": "finder", "Value": marker}])

    entries = resp["TagResources"]["TagResource"]
    assert {e["ResourceId"] for e in entries} == {h1}


def test_list_tag_resources_should_page_with_max_results_and_next_token(client):
    tags = [{"Key": f"k{i}", "Value": str(i)} for i in range(5)]
    havip = create_havip(client, Tag=tags)["HaVipId"]

    seen, token, pages = [], None, 0
    while True:
        params = {"ResourceType": "HAVIP", "ResourceId": [havip], "MaxResults": 2}
        if token:
            params["NextToken"] = token
        resp = client.call("ListTagResources", **params)
        page = resp["TagResources"]["TagResource"]
        assert len(page) <= 2
        seen += [e["TagKey"] for e in page]
        pages += 1
        token = resp.get("NextToken")
        if not token:
            break
        assert pages < 10, "NextToken never ends"
    assert sorted(seen) == [f"k{i}" for i in range(5)]
    assert pages == 3


def test_describe_tags_should_list_the_tags_of_havips(client):
    havip = create_havip(client, Tag=[{"Key": "dt", "Value": "v1"}])["HaVipId"]

    resp = client.call("DescribeTags", ResourceType="HAVIP", ResourceId=[havip])

    assert resp["RequestId"]
    pairs = {(e["TagKey"], e["TagValue"]) for e in resp["TagResources"]["TagResource"]}
    assert pairs == {("dt", "v1")}


def test_move_resource_group_should_change_the_resource_group(client):
    havip = create_havip(client, ResourceGroupId=World.RG_A1)["HaVipId"]

    resp = client.call("MoveResourceGroup", ResourceType="HaVip", ResourceId=havip, NewResourceGroupId=World.RG_A2)

    assert resp["RequestId"]
    assert get_havip(client, havip)["ResourceGroupId"] == World.RG_A2
    listed = client.call("DescribeHaVips", ResourceGroupId=World.RG_A2,
                         Filter=[{"Key": "HaVipId", "Value": [havip]}])["HaVips"]["HaVip"]
    assert [h["HaVipId"] for h in listed] == [havip]
    listed = client.call("DescribeHaVips", ResourceGroupId=World.RG_A1,
                         Filter=[{"Key": "HaVipId", "Value": [havip]}])["HaVips"]["HaVip"]
    assert listed == []


def test_full_lifecycle_should_end_with_the_havip_gone(client, admin):
    """Create, associate two instances, bind an EIP, unbind, unassociate, delete."""
    created = create_havip(client)
    havip, ip = created["HaVipId"], created["IpAddress"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(World.CIDR[World.VSW_MAIN])
    associate(client, havip, World.I_RUN1)
    associate(client, havip, World.I_RUN2)
    eip, address = new_eip(admin)
    client.call("AssociateEipAddress", AllocationId=eip, InstanceId=havip, InstanceType="HaVip")
    wait_for(lambda: associated_eips(get_havip(client, havip)) == [address], what="EIP bound")
    client.call("UnassociateEipAddress", AllocationId=eip, InstanceId=havip, InstanceType="HaVip")
    wait_for(lambda: associated_eips(get_havip(client, havip)) == [], what="EIP unbound")
    # One at a time: the HAVIP is Unassociating until the first completes (immediate mode
    # completes it on the worker, a few ms later), and a second call meanwhile is refused
    # with IncorrectHaVipStatus, as the cloud does. Seen once on the PostgreSQL run.
    for instance, after in ((World.I_RUN1, "InUse"), (World.I_RUN2, "Available")):
        client.call("UnassociateHaVip", HaVipId=havip, InstanceId=instance, Force="True")
        wait_for_status(client, havip, after)
    client.call("DeleteHaVip", HaVipId=havip)
    wait_until_gone(client, havip)
