"""AssociateHaVip / UnassociateHaVip rules (SEED-001), the master, and topology changes."""

from __future__ import annotations

import pytest

from helpers import (
    World,
    api_error,
    associate,
    associated_instances,
    create_havip,
    dyn_havip,
    fresh_attached_eni,
    fresh_instance,
    get_havip,
    wait_for,
    wait_for_status,
)


# -- association rules ----------------------------------------------------------------------------


def test_associating_the_same_pair_twice_should_fail_already_bound(client):
    havip = create_havip(client)["HaVipId"]
    associate(client, havip, World.I_RUN1)

    with api_error(404, "InvalidHaVip.Exist"):
        client.call("AssociateHaVip", HaVipId=havip, InstanceId=World.I_RUN1)


def test_associating_an_instance_of_another_vswitch_should_fail_bind_on_multiple_vswitch(client):
    havip = create_havip(client)["HaVipId"]
    with api_error(400, "OperationUnsupported.BindOnMultipleVswitch"):
        client.call("AssociateHaVip", HaVipId=havip, InstanceId=World.I_OTHER)


def test_mixing_instances_and_network_interfaces_should_fail_bind_multiple_type(client):
    havip = create_havip(client)["HaVipId"]
    associate(client, havip, World.I_RUN1, "EcsInstance")

    with api_error(400, "OperationUnsupported.BindMultipleType"):
        client.call("AssociateHaVip", HaVipId=havip, InstanceId=World.ENI_RUN2, InstanceType="NetworkInterface")


def test_mixing_network_interfaces_then_instances_should_fail_bind_multiple_type(tea):
    havip = create_havip(tea)["HaVipId"]
    associate(tea, havip, World.ENI_RUN2, "NetworkInterface")

    with api_error(400, "OperationUnsupported.BindMultipleType"):
        tea.call("AssociateHaVip", HaVipId=havip, InstanceId=World.I_RUN1, InstanceType="EcsInstance")


def test_two_network_interfaces_of_one_instance_should_fail_bind_on_same_ecs(client):
    havip = create_havip(client)["HaVipId"]
    associate(client, havip, World.ENI_RUN1, "NetworkInterface")

    with api_error(400, "OperationUnsupported.BindOnSameEcs"):
        client.call("AssociateHaVip", HaVipId=havip, InstanceId=World.ENI_RUN1_B, InstanceType="NetworkInterface")


def test_free_network_interface_should_fail_bind_on_free_network_interface(client):
    havip = create_havip(client)["HaVipId"]
    with api_error(400, "OperationUnsupported.BindOnFreeNetworkInterface"):
        client.call("AssociateHaVip", HaVipId=havip, InstanceId=World.ENI_FREE, InstanceType="NetworkInterface")


def test_third_instance_should_fail_count_limit_exceeded_on_ecs_instance(client):
    havip = create_havip(client)["HaVipId"]
    associate(client, havip, World.I_RUN1)
    associate(client, havip, World.I_RUN2)

    with api_error(400, "CountLimitExceeded.HaVipOnECSInstance"):
        client.call("AssociateHaVip", HaVipId=havip, InstanceId=World.I_RUN3)
    assert sorted(associated_instances(get_havip(client, havip))) == sorted([World.I_RUN1, World.I_RUN2])


def test_instance_holding_too_many_havips_should_fail_count_limit_exceed_on_instance(make_server):
    srv = make_server(quotas={"havips_per_instance": 2, "instances_per_havip": 2}, name="perinstance")
    tea = srv.client()
    h1, h2, h3 = (create_havip(tea)["HaVipId"] for _ in range(3))
    associate(tea, h1, World.I_RUN1)
    associate(tea, h2, World.I_RUN1)

    with api_error(400, "CountLimitExceed.HaVipOnInstance"):
        tea.call("AssociateHaVip", HaVipId=h3, InstanceId=World.I_RUN1)
    # another instance is not affected
    associate(tea, h3, World.I_RUN2)


@pytest.mark.parametrize("instance", [World.I_STARTING, World.I_STOPPING])
def test_instance_in_transition_should_fail_incorrect_instance_status(client, instance):
    havip = create_havip(client)["HaVipId"]
    with api_error(400, "IncorrectInstanceStatus"):
        client.call("AssociateHaVip", HaVipId=havip, InstanceId=instance)


def test_unknown_instance_should_fail_instance_not_found(client):
    havip = create_havip(client)["HaVipId"]
    with api_error(400, "InvalidInstanceId.NotFound"):
        client.call("AssociateHaVip", HaVipId=havip, InstanceId="i-bp1doesnotexist0000")


def test_unknown_network_interface_should_fail_network_interface_not_found(client):
    havip = create_havip(client)["HaVipId"]
    with api_error(400, "InvalidNetworkInterfaceId.NotFound"):
        client.call("AssociateHaVip", HaVipId=havip, InstanceId="eni-bp1doesnotexist000",
                    InstanceType="NetworkInterface")


@pytest.mark.parametrize("instance_type", ["HaVip", "Foo", "ecsinstance_"])
def test_unsupported_instance_type_should_fail_illegal_param_instance_type(client, instance_type):
    havip = create_havip(client)["HaVipId"]
    with api_error(400, "IllegalParam.InstanceType"):
        client.call("AssociateHaVip", HaVipId=havip, InstanceId=World.I_RUN1, InstanceType=instance_type)


def test_unknown_havip_should_fail_havip_not_found(client):
    with api_error(404, "InvalidHaVipId.NotFound"):
        client.call("AssociateHaVip", HaVipId="havip-bp1doesnotexist00", InstanceId=World.I_RUN1)


def test_failed_association_should_change_nothing(tea):
    havip = create_havip(tea)["HaVipId"]
    with api_error(400, "OperationUnsupported.BindOnMultipleVswitch"):
        tea.call("AssociateHaVip", HaVipId=havip, InstanceId=World.I_OTHER)

    item = get_havip(tea, havip)
    assert item["Status"] == "Available"
    assert associated_instances(item) == []


# -- unassociation --------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["UnassociateHaVip", "DeleteHaVip", "ModifyHaVipAttribute"])
def test_unknown_havip_should_fail_havip_not_found_for_every_havip_operation(client, op):
    params = {"InstanceId": World.I_RUN1} if op == "UnassociateHaVip" else {}
    with api_error(404, "InvalidHaVipId.NotFound"):
        client.call(op, HaVipId="havip-bp1doesnotexist00", **params)


def test_unassociating_an_instance_that_is_not_associated_should_fail_resource_not_associated(tea):
    havip = create_havip(tea)["HaVipId"]
    associate(tea, havip, World.I_RUN1)

    with api_error(400, "ResourceNotAssociated"):
        tea.call("UnassociateHaVip", HaVipId=havip, InstanceId=World.I_RUN2)


def test_unassociating_from_an_instance_in_transition_should_fail_incorrect_instance_status(tea, admin):
    instance = fresh_instance(admin)
    havip = dyn_havip(tea)
    associate(tea, havip, instance)
    admin.set_instance_state(instance, "Stopping")

    with api_error(400, "IncorrectInstanceStatus"):
        tea.call("UnassociateHaVip", HaVipId=havip, InstanceId=instance)


# -- the master -----------------------------------------------------------------------------------


def test_announce_by_an_associated_instance_should_make_it_master(client, admin):
    havip = create_havip(client)["HaVipId"]
    associate(client, havip, World.I_RUN1)
    associate(client, havip, World.I_RUN2)

    r = admin.announce(havip, World.I_RUN2)

    assert r.status_code == 200, r.text
    assert get_havip(client, havip)["MasterInstanceId"] == World.I_RUN2
    assert admin.announce(havip, World.I_RUN1).status_code == 200
    assert get_havip(client, havip)["MasterInstanceId"] == World.I_RUN1


def test_announce_by_a_network_interface_should_make_it_master(tea, admin):
    havip = create_havip(tea)["HaVipId"]
    associate(tea, havip, World.ENI_RUN1, "NetworkInterface")

    assert admin.announce(havip, World.ENI_RUN1).status_code == 200

    assert get_havip(tea, havip)["MasterInstanceId"] == World.ENI_RUN1


def test_announce_by_a_non_associated_instance_should_be_refused_and_change_nothing(tea, admin):
    havip = create_havip(tea)["HaVipId"]
    associate(tea, havip, World.I_RUN1)
    assert admin.announce(havip, World.I_RUN1).status_code == 200

    r = admin.announce(havip, World.I_RUN2)

    assert r.status_code == 409, r.text
    assert get_havip(tea, havip)["MasterInstanceId"] == World.I_RUN1


def test_unassociating_the_master_without_force_should_fail_forbidden(client, admin):
    havip = create_havip(client)["HaVipId"]
    associate(client, havip, World.I_RUN1)
    associate(client, havip, World.I_RUN2)
    assert admin.announce(havip, World.I_RUN1).status_code == 200

    with api_error(400, "Forbidden.UnassociateMaster"):
        client.call("UnassociateHaVip", HaVipId=havip, InstanceId=World.I_RUN1)
    with api_error(400, "Forbidden.UnassociateMaster"):
        client.call("UnassociateHaVip", HaVipId=havip, InstanceId=World.I_RUN1, Force="False")
    assert sorted(associated_instances(get_havip(client, havip))) == sorted([World.I_RUN1, World.I_RUN2])


def test_unassociating_the_master_with_force_should_succeed(client, admin):
    havip = create_havip(client)["HaVipId"]
    associate(client, havip, World.I_RUN1)
    associate(client, havip, World.I_RUN2)
    assert admin.announce(havip, World.I_RUN1).status_code == 200

    client.call("UnassociateHaVip", HaVipId=havip, InstanceId=World.I_RUN1, Force="True")

    item = wait_for(lambda: (i := get_havip(client, havip)) and associated_instances(i) == [World.I_RUN2] and i,
                    what="the master to be removed")
    assert item.get("MasterInstanceId", "") != World.I_RUN1


def test_unassociating_a_standby_without_force_should_succeed(tea, admin):
    havip = create_havip(tea)["HaVipId"]
    associate(tea, havip, World.I_RUN1)
    associate(tea, havip, World.I_RUN2)
    assert admin.announce(havip, World.I_RUN1).status_code == 200

    tea.call("UnassociateHaVip", HaVipId=havip, InstanceId=World.I_RUN2)

    wait_for(lambda: associated_instances(get_havip(tea, havip)) == [World.I_RUN1], what="the standby to go")
    assert get_havip(tea, havip)["MasterInstanceId"] == World.I_RUN1


# -- topology changes through the admin API -------------------------------------------------------


@pytest.mark.parametrize("state", ["Starting", "Stopping"])
def test_instance_set_to_transition_state_should_fail_incorrect_instance_status(tea, admin, state):
    instance = fresh_instance(admin)
    havip = dyn_havip(tea)
    admin.set_instance_state(instance, state)

    with api_error(400, "IncorrectInstanceStatus"):
        tea.call("AssociateHaVip", HaVipId=havip, InstanceId=instance)

    admin.set_instance_state(instance, "Stopped")
    associate(tea, havip, instance)


def test_deleting_a_network_interface_should_disassociate_it(tea, admin):
    eni, _ = fresh_attached_eni(admin)
    havip = dyn_havip(tea)
    associate(tea, havip, eni, "NetworkInterface")

    admin.delete("enis", eni)

    item = wait_for_status(tea, havip, "Available")
    assert associated_instances(item) == []


def test_deleting_an_instance_should_disassociate_it_and_keep_the_others(tea, admin):
    doomed, survivor = fresh_instance(admin), fresh_instance(admin)
    havip = dyn_havip(tea)
    associate(tea, havip, doomed)
    associate(tea, havip, survivor)
    assert admin.announce(havip, doomed).status_code == 200

    admin.delete("instances", doomed)

    wait_for(lambda: associated_instances(get_havip(tea, havip)) == [survivor], what="the instance to go")
    item = get_havip(tea, havip)
    assert item["Status"] == "InUse"
    assert item.get("MasterInstanceId", "") != doomed, "a deleted instance cannot stay master"
