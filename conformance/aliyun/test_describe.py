"""DescribeHaVips: filters, tags, resource groups and paging (SEED-002)."""

from __future__ import annotations

import pytest

from helpers import (
    World,
    api_error,
    assert_describe_shape,
    associate,
    create_havip,
    describe,
    unique,
)


def ids(resp: dict) -> set[str]:
    return {h["HaVipId"] for h in resp["HaVips"]["HaVip"]}


@pytest.fixture
def marked(client):
    """Three HAVIPs carrying a tag unique to this test: two in VSW_MAIN, one in VSW_OTHER."""
    mark = unique("mark")
    tag = [{"Key": "suite-mark", "Value": mark}]
    a = create_havip(client, World.VSW_MAIN, Tag=tag)
    b = create_havip(client, World.VSW_MAIN, Tag=tag)
    c = create_havip(client, World.VSW_OTHER, Tag=tag)
    return {"mark": mark, "tags": tag, "a": a, "b": b, "c": c}


def test_filter_values_of_one_key_should_be_or_ed(client, marked):
    a, b = marked["a"]["HaVipId"], marked["b"]["HaVipId"]

    resp = describe(client, Filter=[{"Key": "HaVipId", "Value": [a, b]}])

    assert ids(resp) == {a, b}
    assert resp["TotalCount"] == 2


def test_filter_keys_should_be_and_ed(client, marked):
    a, b = marked["a"], marked["b"]

    resp = describe(client, Filter=[
        {"Key": "HaVipId", "Value": [a["HaVipId"], b["HaVipId"]]},
        {"Key": "HaVipAddress", "Value": [a["IpAddress"]]},
    ])

    assert ids(resp) == {a["HaVipId"]}


@pytest.mark.parametrize("key", ["VpcId", "VSwitchId", "Status", "HaVipAddress"])
def test_each_supported_filter_key_should_select_matching_havips(client, marked, key):
    c = marked["c"]["Item"]
    value = {"VpcId": World.VPC_A1, "VSwitchId": World.VSW_OTHER, "Status": "Available",
             "HaVipAddress": c["IpAddress"]}[key]

    resp = describe(client, PageSize=50, Tags=marked["tags"], Filter=[{"Key": key, "Value": [value]}])

    expected = {
        "VpcId": {marked[k]["HaVipId"] for k in "abc"},
        "VSwitchId": {c["HaVipId"]},
        "Status": {marked[k]["HaVipId"] for k in "abc"},
        "HaVipAddress": {c["HaVipId"]},
    }[key]
    assert ids(resp) == expected


def test_status_filter_should_exclude_other_statuses(client, marked):
    a = marked["a"]["HaVipId"]
    associate(client, a, World.I_RUN3)

    in_use = describe(client, Tags=marked["tags"], Filter=[{"Key": "Status", "Value": ["InUse"]}])
    available = describe(client, Tags=marked["tags"], Filter=[{"Key": "Status", "Value": ["Available"]}])

    assert ids(in_use) == {a}
    assert ids(available) == {marked["b"]["HaVipId"], marked["c"]["HaVipId"]}


def test_five_filter_keys_should_be_accepted(client, marked):
    a = marked["a"]["Item"]

    resp = describe(client, Filter=[
        {"Key": "VpcId", "Value": [a["VpcId"]]},
        {"Key": "VSwitchId", "Value": [a["VSwitchId"]]},
        {"Key": "Status", "Value": ["Available"]},
        {"Key": "HaVipId", "Value": [a["HaVipId"]]},
        {"Key": "HaVipAddress", "Value": [a["IpAddress"]]},
    ])

    assert ids(resp) == {a["HaVipId"]}


def test_unknown_filter_key_should_fail_value_not_supported(client):
    with api_error(404, "InvalidFilterKey.ValueNotSupported"):
        describe(client, Filter=[{"Key": "Color", "Value": ["blue"]}])


def test_keyless_filter_value_as_terraform_sends_it_should_not_be_an_error(client, marked):
    """Terraform's attachment reader sends ``Filter.1.Value.1=<id>`` without ``Filter.1.Key``."""
    a = marked["a"]["HaVipId"]

    resp = describe(client, PageSize=50, Filter=[{"Value": [a]}])

    assert_describe_shape(resp)


def test_unknown_havip_id_in_filter_should_give_an_empty_list(client):
    resp = describe(client, Filter=[{"Key": "HaVipId", "Value": ["havip-bp1doesnotexist00"]}])

    assert resp["HaVips"]["HaVip"] == []
    assert resp["TotalCount"] == 0


def test_tags_filter_should_select_tagged_havips(client, marked):
    extra = create_havip(client, Tag=[{"Key": "suite-mark", "Value": marked["mark"]}, {"Key": "second", "Value": "x"}])

    by_one = describe(client, Tags=marked["tags"], PageSize=50)
    by_two = describe(client, Tags=marked["tags"] + [{"Key": "second", "Value": "x"}], PageSize=50)

    assert ids(by_one) == {marked[k]["HaVipId"] for k in "abc"} | {extra["HaVipId"]}
    assert ids(by_two) == {extra["HaVipId"]}


def test_resource_group_filter_should_select_that_group(client):
    mark = [{"Key": "rg-mark", "Value": unique("m")}]
    in_a1 = create_havip(client, ResourceGroupId=World.RG_A1, Tag=mark)["HaVipId"]
    in_a2 = create_havip(client, ResourceGroupId=World.RG_A2, Tag=mark)["HaVipId"]

    resp = describe(client, ResourceGroupId=World.RG_A2, Tags=mark)

    assert ids(resp) == {in_a2}
    assert in_a1 not in ids(resp)


def test_paging_should_default_to_ten_and_count_all_matches(tea):
    mark = [{"Key": "page-mark", "Value": unique("p")}]
    created = {tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN, Tag=mark)["HaVipId"] for _ in range(12)}

    first = describe(tea, Tags=mark)
    second = describe(tea, Tags=mark, PageNumber=2)
    beyond = describe(tea, Tags=mark, PageNumber=3)
    big = describe(tea, Tags=mark, PageSize=50)

    assert (first["PageNumber"], first["PageSize"], first["TotalCount"]) == (1, 10, 12)
    assert len(first["HaVips"]["HaVip"]) == 10
    assert (second["PageNumber"], second["TotalCount"]) == (2, 12)
    assert len(second["HaVips"]["HaVip"]) == 2
    assert ids(first) | ids(second) == created
    assert not ids(first) & ids(second)
    assert beyond["HaVips"]["HaVip"] == [] and beyond["TotalCount"] == 12
    assert big["PageSize"] == 50 and ids(big) == created


def test_page_size_of_five_should_split_into_pages(client):
    mark = [{"Key": "page-mark", "Value": unique("p")}]
    created = {client.call("CreateHaVip", VSwitchId=World.VSW_MAIN, Tag=mark)["HaVipId"] for _ in range(6)}

    p1 = describe(client, Tags=mark, PageSize=5, PageNumber=1)
    p2 = describe(client, Tags=mark, PageSize=5, PageNumber=2)

    assert len(p1["HaVips"]["HaVip"]) == 5 and len(p2["HaVips"]["HaVip"]) == 1
    assert ids(p1) | ids(p2) == created
    assert p1["TotalCount"] == p2["TotalCount"] == 6


def test_six_filter_keys_should_be_rejected_as_invalid_parameter(tea):
    """SEED-002 allows at most five filter keys; the contract's code for a bad parameter is InvalidParameter."""
    filters = [{"Key": "Status", "Value": ["Available"]} for _ in range(6)]
    with api_error(400, "InvalidParameter"):
        describe(tea, Filter=filters)


def test_six_values_for_one_filter_key_should_be_rejected_as_invalid_parameter(tea):
    values = [f"havip-bp1nothere{i:06d}" for i in range(6)]
    with api_error(400, "InvalidParameter"):
        describe(tea, Filter=[{"Key": "HaVipId", "Value": values}])
