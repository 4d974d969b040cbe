"""CreateHaVip: parameter validation, address allocation, quotas (SEED-000 error table)."""

from __future__ import annotations

import ipaddress

import pytest

from helpers import (
    OTHER_REGION,
    World,
    api_error,
    create_havip,
    describe,
    reserved_addresses,
    unique,
    usable_addresses,
    wait_for_status,
    wait_until_gone,
)

EXPLICIT_NET = ipaddress.ip_network(World.CIDR[World.VSW_EXPLICIT])


def explicit_ip(client_kind: str, slot: int) -> str:
    """Addresses in VSW_EXPLICIT (where nothing is auto-allocated), disjoint per client and test."""
    base = {"tea-v3": 30, "tea-v2": 90, "old-sdk": 150}[client_kind]
    return str(EXPLICIT_NET[base + slot])


# -- explicit IpAddress ---------------------------------------------------------------------------


def test_create_with_explicit_free_address_should_use_it(client):
    ip = explicit_ip(client.kind, 0)

    resp = create_havip(client, World.VSW_EXPLICIT, IpAddress=ip)

    assert resp["IpAddress"] == ip
    assert resp["Item"]["IpAddress"] == ip
    client.call("DeleteHaVip", HaVipId=resp["HaVipId"])
    wait_until_gone(client, resp["HaVipId"])


def test_create_with_first_usable_address_should_succeed(tea):
    ip = str(EXPLICIT_NET[1])

    resp = create_havip(tea, World.VSW_EXPLICIT, IpAddress=ip)

    assert resp["IpAddress"] == ip


def test_deleted_havip_should_release_its_address(tea):
    ip = explicit_ip("tea-v3", 1)
    first = create_havip(tea, World.VSW_EXPLICIT, IpAddress=ip)["HaVipId"]
    tea.call("DeleteHaVip", HaVipId=first)
    wait_until_gone(tea, first)

    second = create_havip(tea, World.VSW_EXPLICIT, IpAddress=ip)

    assert second["IpAddress"] == ip


@pytest.mark.parametrize("ip", ["10.9.9.9", "10.0.3.2", "192.168.1.5"])
def test_create_with_address_outside_vswitch_cidr_should_fail_out_of_range(client, ip):
    with api_error(400, "InvalidIPAddress.OutOfRange"):
        client.call("CreateHaVip", VSwitchId=World.VSW_EXPLICIT, IpAddress=ip)


@pytest.mark.parametrize("ip", sorted(reserved_addresses(World.CIDR[World.VSW_EXPLICIT])))
def test_create_with_system_reserved_address_should_fail_not_available(tea, ip):
    with api_error(400, "InvalidIPAddress.NotAvailable"):
        tea.call("CreateHaVip", VSwitchId=World.VSW_EXPLICIT, IpAddress=ip)


@pytest.mark.parametrize("holder", ["instance", "eni", "havip"])
def test_create_with_address_held_by_another_resource_should_fail_already_used(client, holder):
    if holder == "instance":
        ip = World.INSTANCE_IPS[World.I_EXPLICIT]
    elif holder == "eni":
        ip = World.ENI_IPS[World.ENI_EXPLICIT]
    else:
        ip = explicit_ip(client.kind, 2)
        create_havip(client, World.VSW_EXPLICIT, IpAddress=ip)
    with api_error(400, "InvalidIPAddress.AlreadyUsed"):
        client.call("CreateHaVip", VSwitchId=World.VSW_EXPLICIT, IpAddress=ip)


@pytest.mark.parametrize("ip", ["not-an-ip", "10.0.4.256", "10.0.4", "10.0.04.5", "10.0.4.5.6", "fe80::1", " 10.0.4.5"])
def test_create_with_malformed_address_should_fail_malformed(tea, ip):
    with api_error(400, "InvalidIPAddress.Malformed"):
        tea.call("CreateHaVip", VSwitchId=World.VSW_EXPLICIT, IpAddress=ip)


def test_failed_create_should_not_leave_a_havip_behind(tea):
    before = describe(tea, Filter=[{"Key": "VSwitchId", "Value": [World.VSW_EXPLICIT]}])["TotalCount"]
    with api_error(400, "InvalidIPAddress.AlreadyUsed"):
        tea.call("CreateHaVip", VSwitchId=World.VSW_EXPLICIT, IpAddress=World.INSTANCE_IPS[World.I_EXPLICIT])
    after = describe(tea, Filter=[{"Key": "VSwitchId", "Value": [World.VSW_EXPLICIT]}])["TotalCount"]
    assert after == before


# -- automatic allocation -------------------------------------------------------------------------


def test_automatic_addresses_should_avoid_reserved_held_and_duplicate_addresses_until_exhausted(make_server):
    """In a /28 with one instance and one ENI: every free usable address is handed out exactly
    once, never a reserved one (first, last three), never the instance's or the ENI's; then the
    vSwitch reports exhaustion with a client error and creates nothing."""
    srv = make_server(name="alloc")
    tea = srv.client()
    cidr = World.CIDR[World.VSW_SMALL]
    free = usable_addresses(cidr) - {World.INSTANCE_IPS[World.I_SMALL], World.ENI_IPS[World.ENI_SMALL]}

    got = [tea.call("CreateHaVip", VSwitchId=World.VSW_SMALL)["IpAddress"] for _ in free]

    assert len(set(got)) == len(got), f"duplicate addresses handed out: {got}"
    assert set(got) == free
    with pytest.raises(Exception) as raised:
        tea.call("CreateHaVip", VSwitchId=World.VSW_SMALL)
    err = raised.value
    assert 400 <= getattr(err, "status", 0) < 500, f"exhaustion must be a client error, got {err!r}"
    assert getattr(err, "code", ""), err
    assert describe(tea, Filter=[{"Key": "VSwitchId", "Value": [World.VSW_SMALL]}])["TotalCount"] == len(free)


def test_tiny_vswitch_should_be_exhausted_after_its_free_addresses(make_server):
    """A /29 has 8 addresses: 4 reserved, 1 held by an instance, 3 left for HAVIPs."""
    srv = make_server(name="tiny")
    tea = srv.client()
    created = [tea.call("CreateHaVip", VSwitchId=World.VSW_TINY)["IpAddress"] for _ in range(3)]
    assert sorted(created) == ["10.0.3.2", "10.0.3.3", "10.0.3.4"]

    with pytest.raises(Exception) as raised:
        tea.call("CreateHaVip", VSwitchId=World.VSW_TINY)
    assert 400 <= getattr(raised.value, "status", 0) < 500, f"exhaustion must be a client error, got {raised.value!r}"


def test_automatic_address_should_never_collide_with_explicit_ones(tea):
    """Auto-allocated addresses in VSW_MAIN are never an instance or ENI address."""
    held = set(World.INSTANCE_IPS.values()) | set(World.ENI_IPS.values())
    reserved = reserved_addresses(World.CIDR[World.VSW_MAIN])
    for _ in range(5):
        ip = tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN)["IpAddress"]
        assert ip not in held and ip not in reserved, ip


# -- where the HAVIP goes -------------------------------------------------------------------------


def test_create_in_unknown_vswitch_should_fail_vswitch_not_found(client):
    with api_error(404, "InvalidVSwitchId.NotFound"):
        client.call("CreateHaVip", VSwitchId="vsw-bp1doesnotexist000")


def test_create_in_vswitch_of_another_region_should_fail_vswitch_not_found(tea):
    with api_error(404, "InvalidVSwitchId.NotFound"):
        tea.call("CreateHaVip", VSwitchId=World.VSW_SH)  # RegionId is cn-hangzhou


def test_create_in_other_region_should_work_with_that_region_id(server):
    sh = server.client("tea-v3", region=OTHER_REGION)

    resp = create_havip(sh, World.VSW_SH)

    assert resp["Item"]["RegionId"] == OTHER_REGION
    assert resp["Item"]["VpcId"] == World.VPC_A_SH


def test_havips_should_be_scoped_to_their_region(server, client):
    havip = create_havip(client)["HaVipId"]
    shanghai = server.client(client.kind, region=OTHER_REGION)

    listed = shanghai.call("DescribeHaVips", Filter=[{"Key": "HaVipId", "Value": [havip]}])
    assert listed["HaVips"]["HaVip"] == [] and listed["TotalCount"] == 0
    with api_error(404, "InvalidHaVipId.NotFound"):
        shanghai.call("DeleteHaVip", HaVipId=havip)
    with api_error(404, "InvalidHaVipId.NotFound"):
        shanghai.call("AssociateHaVip", HaVipId=havip, InstanceId=World.I_RUN1)


@pytest.mark.parametrize("action", ["CreateHaVip", "DescribeHaVips"])
def test_unknown_region_should_fail_region_not_found(server, action):
    nowhere = server.client("tea-v3", region="cn-nowhere")
    params = {"VSwitchId": World.VSW_MAIN} if action == "CreateHaVip" else {}
    with api_error(404, "InvalidRegionId.NotFound"):
        nowhere.call(action, **params)


@pytest.mark.parametrize("rg", ["rg-acfmdoesnotexist01", World.RG_B1])
def test_create_with_unknown_or_foreign_resource_group_should_fail_illegal_param(client, rg):
    with api_error(404, "IllegalParam.ResourceGroupId"):
        client.call("CreateHaVip", VSwitchId=World.VSW_MAIN, ResourceGroupId=rg)


# -- name and description -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["http://example.com", "https://example.com", "n" * 129])
def test_create_with_invalid_name_should_fail_name_malformed(tea, name):
    with api_error(400, "Abs.Vpc.InvalidName.Malformed"):
        tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN, Name=name)


def test_create_with_longest_name_should_succeed(tea):
    name = "n" * 128
    assert create_havip(tea, Name=name)["Item"]["Name"] == name


@pytest.mark.parametrize("description", ["http://example.com", "https://example.com", "d" * 257])
def test_create_with_invalid_description_should_fail_description_malformed(tea, description):
    with api_error(400, "InvalidDescription.Malformed"):
        tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN, Description=description)


@pytest.mark.parametrize("description", ["http://example.com", "d" * 257])
def test_modify_with_invalid_description_should_fail_description_malformed(tea, description):
    havip = create_havip(tea)["HaVipId"]
    with api_error(400, "InvalidDescription.Malformed"):
        tea.call("ModifyHaVipAttribute", HaVipId=havip, Description=description)


def test_missing_vswitch_id_should_fail_missing_parameter(server):
    from helpers import v2_request, assert_error_body

    resp = v2_request(server.aliyun_endpoint, "CreateHaVip", {"Name": unique("x")})
    assert_error_body(resp, 400, "MissingVSwitchId")


# -- quotas ---------------------------------------------------------------------------------------


def test_havips_per_vpc_quota_should_fail_count_limit_exceed(make_server):
    srv = make_server(quotas={"havips_per_vpc": 3, "havips_per_account": 100}, name="vpcquota")
    tea = srv.client()
    for _ in range(3):
        tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN)

    with api_error(400, "CountLimitExceed.HaVipInVpc"):
        tea.call("CreateHaVip", VSwitchId=World.VSW_OTHER)  # same VPC, other vSwitch

    # another VPC of the same account still has room
    create_havip(tea, World.VSW_A2)


def test_havips_per_account_quota_should_fail_quota_exceeded(make_server):
    srv = make_server(quotas={"havips_per_vpc": 100, "havips_per_account": 3}, name="acctquota")
    tea = srv.client()
    tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN)
    tea.call("CreateHaVip", VSwitchId=World.VSW_OTHER)
    tea.call("CreateHaVip", VSwitchId=World.VSW_A2)

    with api_error(403, "QuotaExceeded.HaVip"):
        tea.call("CreateHaVip", VSwitchId=World.VSW_A2)

    # the quota is per account: account B is unaffected
    create_havip(srv.client(account="B"), World.VSW_B)


def test_deleting_a_havip_should_free_account_quota(make_server):
    srv = make_server(quotas={"havips_per_account": 1}, name="quotafree")
    tea = srv.client()
    first = create_havip(tea)["HaVipId"]
    with api_error(403, "QuotaExceeded.HaVip"):
        tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN)

    tea.call("DeleteHaVip", HaVipId=first)
    wait_until_gone(tea, first)

    create_havip(tea)


def test_failed_creates_should_not_consume_quota(make_server):
    srv = make_server(quotas={"havips_per_account": 1}, name="quotafail")
    tea = srv.client()
    for _ in range(3):
        with api_error(400, "InvalidIPAddress.OutOfRange"):
            tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN, IpAddress="10.0.9.9")

    wait_for_status(tea, create_havip(tea, wait=False)["HaVipId"], "Available")
