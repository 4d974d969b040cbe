"""Tag rules on CreateHaVip and TagResources, tag operations' edges, MoveResourceGroup."""

from __future__ import annotations

import pytest

from helpers import World, api_error, create_havip, get_havip, tags_of

BAD_KEYS = ["aliyunkey", "acs:key", "has http://inside", "has https://inside", "k" * 129, ""]
BAD_VALUES = ["aliyunvalue", "acs:value", "has http://inside", "v" * 129]


@pytest.mark.parametrize("key", BAD_KEYS, ids=lambda k: k[:20] or "empty")
def test_create_with_invalid_tag_key_should_fail_tag_key_malformed(tea, key):
    with api_error(400, "InvalidTagKey.Malformed"):
        tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN, Tag=[{"Key": key, "Value": "v"}])


@pytest.mark.parametrize("value", BAD_VALUES, ids=lambda v: v[:20])
def test_create_with_invalid_tag_value_should_fail_tag_value_malformed(tea, value):
    with api_error(400, "InvalidTagValue.Malformed"):
        tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN, Tag=[{"Key": "k", "Value": value}])


def test_create_with_twenty_one_tags_should_fail_size_limit(client):
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(21)]
    with api_error(400, "SizeLimitExceeded.TagNum"):
        client.call("CreateHaVip", VSwitchId=World.VSW_MAIN, Tag=tags)


def test_create_with_twenty_tags_and_longest_key_and_value_should_succeed(tea):
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(19)] + [{"Key": "K" * 128, "Value": "V" * 128}]

    item = create_havip(tea, Tag=tags)["Item"]

    assert len(tags_of(item)) == 20
    assert tags_of(item)["K" * 128] == "V" * 128


@pytest.mark.parametrize("key", BAD_KEYS[:4], ids=lambda k: k[:20])
def test_tag_resources_with_invalid_key_should_fail_tag_key_malformed(tea, key):
    havip = create_havip(tea)["HaVipId"]
    with api_error(400, "InvalidTagKey.Malformed"):
        tea.call("TagResources", ResourceType="HAVIP", ResourceId=[havip], Tag=[{"Key": key, "Value": "v"}])
    assert tags_of(get_havip(tea, havip)) == {}


@pytest.mark.parametrize("value", BAD_VALUES[:3], ids=lambda v: v[:20])
def test_tag_resources_with_invalid_value_should_fail_tag_value_malformed(tea, value):
    havip = create_havip(tea)["HaVipId"]
    with api_error(400, "InvalidTagValue.Malformed"):
        tea.call("TagResources", ResourceType="HAVIP", ResourceId=[havip], Tag=[{"Key": "k", "Value": value}])


def test_tag_resources_with_twenty_one_tags_should_fail_size_limit(tea):
    havip = create_havip(tea)["HaVipId"]
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(21)]
    with api_error(400, "SizeLimitExceeded.TagNum"):
        tea.call("TagResources", ResourceType="HAVIP", ResourceId=[havip], Tag=tags)


def test_tag_resources_should_accept_resource_type_in_any_case(tea):
    havip = create_havip(tea)["HaVipId"]

    tea.call("TagResources", ResourceType="havip", ResourceId=[havip], Tag=[{"Key": "lower", "Value": "1"}])
    tea.call("TagResources", ResourceType="HaVip", ResourceId=[havip], Tag=[{"Key": "mixed", "Value": "2"}])

    assert tags_of(get_havip(tea, havip)) == {"lower": "1", "mixed": "2"}


# Tag and resource-group operations are generic over resource types: the generic
# InvalidResourceId.NotFound is as plausible there as the HAVIP-specific code (see FINDINGS.md).
RESOURCE_NOT_FOUND = {"InvalidHaVipId.NotFound", "InvalidResourceId.NotFound"}


def test_tag_resources_on_unknown_havip_should_fail_not_found(tea):
    with api_error(404, RESOURCE_NOT_FOUND):
        tea.call("TagResources", ResourceType="HAVIP", ResourceId=["havip-bp1doesnotexist00"],
                 Tag=[{"Key": "k", "Value": "v"}])


def test_tag_resources_should_tag_several_havips_at_once(client):
    h1, h2 = create_havip(client)["HaVipId"], create_havip(client)["HaVipId"]

    client.call("TagResources", ResourceType="HAVIP", ResourceId=[h1, h2], Tag=[{"Key": "both", "Value": "yes"}])

    assert tags_of(get_havip(client, h1)) == tags_of(get_havip(client, h2)) == {"both": "yes"}


def test_move_resource_group_to_unknown_group_should_be_refused(tea):
    havip = create_havip(tea, ResourceGroupId=World.RG_A1)["HaVipId"]
    with pytest.raises(Exception) as raised:
        tea.call("MoveResourceGroup", ResourceType="HaVip", ResourceId=havip, NewResourceGroupId="rg-acfmnothere0001")
    assert 400 <= getattr(raised.value, "status", 0) < 500, raised.value
    assert get_havip(tea, havip)["ResourceGroupId"] == World.RG_A1


def test_move_resource_group_of_unknown_havip_should_fail_not_found(tea):
    with api_error(404, RESOURCE_NOT_FOUND):
        tea.call("MoveResourceGroup", ResourceType="HaVip", ResourceId="havip-bp1doesnotexist00",
                 NewResourceGroupId=World.RG_A2)
