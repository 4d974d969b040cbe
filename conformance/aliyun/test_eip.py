"""AssociateEipAddress / UnassociateEipAddress with InstanceType=HaVip, and DeleteHaVip's EIP rule."""

from __future__ import annotations

import pytest

from helpers import (
    World,
    api_error,
    associated_eips,
    create_havip,
    get_havip,
    new_eip,
    wait_for,
    wait_until_gone,
)


def bind(client, havip: str, eip: str, address: str) -> None:
    client.call("AssociateEipAddress", AllocationId=eip, InstanceId=havip, InstanceType="HaVip")
    wait_for(lambda: associated_eips(get_havip(client, havip)) == [address], what=f"{address} bound to {havip}")


def test_delete_with_an_eip_bound_should_fail_dependency_violation(client, admin):
    havip = create_havip(client)["HaVipId"]
    eip, address = new_eip(admin)
    bind(client, havip, eip, address)

    with api_error(400, "DependencyViolation.HaVipAssociatedWithEIP"):
        client.call("DeleteHaVip", HaVipId=havip)
    assert get_havip(client, havip)["Status"] == "Available"


def test_second_eip_on_one_havip_should_fail_duplicated(client, admin):
    havip = create_havip(client)["HaVipId"]
    first, address = new_eip(admin)
    second, _ = new_eip(admin)
    bind(client, havip, first, address)

    with api_error(400, "InvalidAssociation.Duplicated"):
        client.call("AssociateEipAddress", AllocationId=second, InstanceId=havip, InstanceType="HaVip")
    assert associated_eips(get_havip(client, havip)) == [address]


def test_one_eip_on_two_havips_should_be_refused(tea, admin):
    h1, h2 = create_havip(tea)["HaVipId"], create_havip(tea)["HaVipId"]
    eip, address = new_eip(admin)
    bind(tea, h1, eip, address)

    with api_error(400, {"IncorrectEipStatus", "InvalidAssociation.Duplicated"}):
        tea.call("AssociateEipAddress", AllocationId=eip, InstanceId=h2, InstanceType="HaVip")
    assert associated_eips(get_havip(tea, h2)) == []


def test_unknown_eip_should_fail_allocation_not_found(client):
    havip = create_havip(client)["HaVipId"]
    with api_error(404, "InvalidAllocationId.NotFound"):
        client.call("AssociateEipAddress", AllocationId="eip-bp1doesnotexist000", InstanceId=havip,
                    InstanceType="HaVip")


def test_eip_of_another_region_should_be_refused(tea, admin):
    """The EIP page lists InvalidParameter.Mismatch for a region mismatch; an EIP looked up only in
    the request's region is simply not found."""
    havip = create_havip(tea)["HaVipId"]
    eip, _ = new_eip(admin, region="cn-shanghai")
    with api_error({400, 404}, {"InvalidParameter.Mismatch", "InvalidAllocationId.NotFound"}):
        tea.call("AssociateEipAddress", AllocationId=eip, InstanceId=havip, InstanceType="HaVip")
    assert associated_eips(get_havip(tea, havip)) == []


def test_eip_of_another_account_should_fail_allocation_not_found(tea):
    havip = create_havip(tea)["HaVipId"]
    with api_error(404, "InvalidAllocationId.NotFound"):
        tea.call("AssociateEipAddress", AllocationId=World.EIP_B1, InstanceId=havip, InstanceType="HaVip")


@pytest.mark.parametrize("instance_type", ["EcsInstance", "Nat", "NetworkInterface", "SlbInstance"])
def test_instance_types_other_than_havip_should_fail_value_not_supported(tea, admin, instance_type):
    havip = create_havip(tea)["HaVipId"]
    eip, _ = new_eip(admin)
    with api_error(400, "InvalidInstanceType.ValueNotSupported"):
        tea.call("AssociateEipAddress", AllocationId=eip, InstanceId=havip, InstanceType=instance_type)


def test_unassociate_eip_with_other_instance_type_should_fail_value_not_supported(tea, admin):
    havip = create_havip(tea)["HaVipId"]
    eip, address = new_eip(admin)
    bind(tea, havip, eip, address)
    with api_error(400, "InvalidInstanceType.ValueNotSupported"):
        tea.call("UnassociateEipAddress", AllocationId=eip, InstanceId=havip, InstanceType="EcsInstance")


def test_eip_on_unknown_havip_should_fail_not_found(tea, admin):
    """The reference lists InvalidInstanceId.NotFound (400) and InvalidInstanId.NotFound (404) for
    AssociateEipAddress; the contract's code for a missing HAVIP is InvalidHaVipId.NotFound."""
    eip, _ = new_eip(admin)
    with api_error({400, 404}, {"InvalidHaVipId.NotFound", "InvalidInstanceId.NotFound", "InvalidInstanId.NotFound"}):
        tea.call("AssociateEipAddress", AllocationId=eip, InstanceId="havip-bp1doesnotexist00", InstanceType="HaVip")


def test_eip_can_be_moved_after_unbinding(tea, admin):
    h1, h2 = create_havip(tea)["HaVipId"], create_havip(tea)["HaVipId"]
    eip, address = new_eip(admin)
    bind(tea, h1, eip, address)
    tea.call("UnassociateEipAddress", AllocationId=eip, InstanceId=h1, InstanceType="HaVip")
    wait_for(lambda: associated_eips(get_havip(tea, h1)) == [], what="EIP unbound")

    bind(tea, h2, eip, address)

    tea.call("UnassociateEipAddress", AllocationId=eip, InstanceId=h2, InstanceType="HaVip")
    wait_for(lambda: associated_eips(get_havip(tea, h2)) == [], what="EIP unbound")
    tea.call("DeleteHaVip", HaVipId=h2)
    wait_until_gone(tea, h2)
