"""Asynchronous transitions (manual mode), transient states as locks, and crash recovery."""

from __future__ import annotations

import json

import pytest

from helpers import (
    World,
    api_error,
    associate,
    create_havip,
    associated_eips,
    associated_instances,
    describe,
    get_havip,
    find_havip,
    new_eip,
    unique,
    usable_addresses,
    wait_for,
    wait_for_status,
    wait_until_gone,
)


def status(client, havip: str) -> str:
    return get_havip(client, havip)["Status"]


def pending_for(admin, havip: str) -> list[dict]:
    """The pending operations that mention ``havip`` anywhere."""
    return [op for op in admin.operations() if havip in json.dumps(op)]


@pytest.fixture
def manual(manual_server):
    """The manual-mode server, with nothing pending before or after the test."""
    admin = manual_server.admin
    admin.advance()
    yield manual_server.client(), admin
    admin.advance()


def test_manual_mode_should_show_every_transient_state_until_advanced(manual):
    tea, admin = manual

    havip = tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN)["HaVipId"]
    assert status(tea, havip) == "Creating"
    assert pending_for(admin, havip), "CreateHaVip left no pending operation"
    admin.advance(havip)
    assert status(tea, havip) == "Available"
    assert not pending_for(admin, havip)

    tea.call("AssociateHaVip", HaVipId=havip, InstanceId=World.I_RUN1)
    assert status(tea, havip) == "Associating"
    admin.advance(havip)
    item = get_havip(tea, havip)
    assert item["Status"] == "InUse" and associated_instances(item) == [World.I_RUN1]

    tea.call("UnassociateHaVip", HaVipId=havip, InstanceId=World.I_RUN1, Force="True")
    assert status(tea, havip) == "Unassociating"
    admin.advance(havip)
    item = get_havip(tea, havip)
    assert item["Status"] == "Available" and associated_instances(item) == []

    tea.call("DeleteHaVip", HaVipId=havip)
    assert status(tea, havip) == "Deleting"
    admin.advance(havip)
    assert find_havip(tea, havip) is None


def test_unassociating_one_of_two_should_return_to_in_use(manual):
    tea, admin = manual
    havip = tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN)["HaVipId"]
    admin.advance(havip)
    for instance in (World.I_RUN1, World.I_RUN2):
        tea.call("AssociateHaVip", HaVipId=havip, InstanceId=instance)
        admin.advance(havip)

    tea.call("UnassociateHaVip", HaVipId=havip, InstanceId=World.I_RUN2, Force="True")
    assert status(tea, havip) == "Unassociating"
    admin.advance(havip)

    item = get_havip(tea, havip)
    assert item["Status"] == "InUse" and associated_instances(item) == [World.I_RUN1]


def test_advance_without_havip_id_should_complete_everything_pending(manual):
    tea, admin = manual
    h1 = tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN)["HaVipId"]
    h2 = tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN)["HaVipId"]

    admin.advance()

    assert status(tea, h1) == status(tea, h2) == "Available"
    assert admin.operations() == []


def test_advance_with_havip_id_should_complete_only_that_havip(manual):
    tea, admin = manual
    h1 = tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN)["HaVipId"]
    h2 = tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN)["HaVipId"]

    admin.advance(h1)

    assert (status(tea, h1), status(tea, h2)) == ("Available", "Creating")
    admin.advance(h2)


def test_eip_binding_should_show_only_after_advance(manual):
    tea, admin = manual
    havip = tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN)["HaVipId"]
    admin.advance(havip)
    eip, address = new_eip(admin)

    tea.call("AssociateEipAddress", AllocationId=eip, InstanceId=havip, InstanceType="HaVip")
    admin.advance()

    item = get_havip(tea, havip)
    assert associated_eips(item) == [address]
    assert item["Status"] == "Available"


@pytest.mark.parametrize("op", ["AssociateHaVip", "DeleteHaVip", "ModifyHaVipAttribute", "AssociateEipAddress"])
def test_mutations_while_creating_should_fail_with_a_status_error(manual, op):
    """The transient state is a lock. SEED-001 names IncorrectHaVipStatus for AssociateHaVip; the
    DeleteHaVip/Modify/EIP pages list both IncorrectStatus and IncorrectHaVipStatus."""
    tea, admin = manual
    havip = tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN)["HaVipId"]
    params = {
        "AssociateHaVip": {"HaVipId": havip, "InstanceId": World.I_RUN1},
        "DeleteHaVip": {"HaVipId": havip},
        "ModifyHaVipAttribute": {"HaVipId": havip, "Name": "x"},
        "AssociateEipAddress": {"AllocationId": new_eip(admin)[0], "InstanceId": havip, "InstanceType": "HaVip"},
    }[op]
    codes = {"IncorrectHaVipStatus"} if op == "AssociateHaVip" else {"IncorrectHaVipStatus", "IncorrectStatus"}

    with api_error(400, codes):
        tea.call(op, **params)

    assert status(tea, havip) == "Creating"
    admin.advance(havip)
    assert status(tea, havip) == "Available"


def test_associating_while_associating_should_fail_incorrect_havip_status(manual):
    tea, admin = manual
    havip = tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN)["HaVipId"]
    admin.advance(havip)
    tea.call("AssociateHaVip", HaVipId=havip, InstanceId=World.I_RUN1)

    with api_error(400, "IncorrectHaVipStatus"):
        tea.call("AssociateHaVip", HaVipId=havip, InstanceId=World.I_RUN2)
    admin.advance(havip)
    assert associated_instances(get_havip(tea, havip)) == [World.I_RUN1]


def test_associating_while_deleting_should_fail_incorrect_havip_status(manual):
    tea, admin = manual
    havip = tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN)["HaVipId"]
    admin.advance(havip)
    tea.call("DeleteHaVip", HaVipId=havip)

    with api_error(400, "IncorrectHaVipStatus"):
        tea.call("AssociateHaVip", HaVipId=havip, InstanceId=World.I_RUN1)
    admin.advance(havip)
    assert find_havip(tea, havip) is None


def test_delete_while_in_use_should_fail_incorrect_status(client):
    """DeleteHaVip requires Available: the doc's IncorrectStatus message is exactly this case
    ("HaVip can be deleted only when it is status is Available")."""
    havip = create_havip(client)["HaVipId"]
    associate(client, havip, World.I_RUN1)

    with api_error(400, "IncorrectStatus"):
        client.call("DeleteHaVip", HaVipId=havip)
    assert get_havip(client, havip)["Status"] == "InUse"


# -- crash recovery -------------------------------------------------------------------------------


def test_create_interrupted_by_sigkill_should_complete_after_restart_without_duplicates(make_server):
    srv = make_server(mode="manual", name="restart-create")
    tea, admin = srv.client(), srv.admin
    token = unique("tok-")
    created = tea.call("CreateHaVip", VSwitchId=World.VSW_TINY, ClientToken=token)
    havip, ip = created["HaVipId"], created["IpAddress"]
    assert status(tea, havip) == "Creating"

    srv.restart()
    tea, admin = srv.client(), srv.admin

    assert status(tea, havip) == "Creating", "the transient state must survive a crash"
    assert pending_for(admin, havip), "the pending operation must survive a crash"
    admin.advance(havip)
    item = get_havip(tea, havip)
    assert item["Status"] == "Available" and item["IpAddress"] == ip
    # a retry of the interrupted request is the same request
    assert tea.call("CreateHaVip", VSwitchId=World.VSW_TINY, ClientToken=token)["HaVipId"] == havip
    listed = describe(tea, Filter=[{"Key": "VSwitchId", "Value": [World.VSW_TINY]}])
    assert [h["HaVipId"] for h in listed["HaVips"]["HaVip"]] == [havip]
    # the address is still held: the other free addresses are handed out, then none is left
    free = usable_addresses(World.CIDR[World.VSW_TINY]) - {World.INSTANCE_IPS[World.I_TINY], ip}
    others = {tea.call("CreateHaVip", VSwitchId=World.VSW_TINY)["IpAddress"] for _ in free}
    assert others == free
    with pytest.raises(Exception) as raised:
        tea.call("CreateHaVip", VSwitchId=World.VSW_TINY)
    assert 400 <= getattr(raised.value, "status", 0) < 500, raised.value


def test_delete_interrupted_by_sigkill_should_complete_and_release_the_address(make_server):
    srv = make_server(mode="manual", name="restart-delete")
    tea, admin = srv.client(), srv.admin
    created = tea.call("CreateHaVip", VSwitchId=World.VSW_TINY)
    havip, ip = created["HaVipId"], created["IpAddress"]
    admin.advance(havip)
    tea.call("DeleteHaVip", HaVipId=havip)
    assert status(tea, havip) == "Deleting"

    srv.restart()
    tea, admin = srv.client(), srv.admin

    assert status(tea, havip) == "Deleting"
    admin.advance(havip)
    assert find_havip(tea, havip) is None
    again = tea.call("CreateHaVip", VSwitchId=World.VSW_TINY, IpAddress=ip)
    admin.advance(again["HaVipId"])
    assert status(tea, again["HaVipId"]) == "Available"


def test_association_interrupted_by_sigkill_should_complete_after_restart(make_server):
    srv = make_server(mode="manual", name="restart-assoc")
    tea, admin = srv.client(), srv.admin
    havip = tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN)["HaVipId"]
    admin.advance(havip)
    tea.call("AssociateHaVip", HaVipId=havip, InstanceId=World.I_RUN1)

    srv.restart()
    tea, admin = srv.client(), srv.admin

    assert status(tea, havip) == "Associating"
    admin.advance(havip)
    item = get_havip(tea, havip)
    assert item["Status"] == "InUse" and associated_instances(item) == [World.I_RUN1]


def test_state_should_survive_a_restart_in_immediate_mode(make_server):
    srv = make_server(name="restart-immediate")
    tea = srv.client()
    created = create_havip(tea, Name="durable", Tag=[{"Key": "k", "Value": "v"}], ResourceGroupId=World.RG_A2)
    associate(tea, created["HaVipId"], World.I_RUN1)
    before = get_havip(tea, created["HaVipId"])

    srv.restart()

    after = get_havip(srv.client(), created["HaVipId"])
    assert after == before


def test_delay_mode_should_complete_operations_by_itself(make_server):
    srv = make_server(mode="delay", name="delay")
    tea = srv.client()

    havip = tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN)["HaVipId"]

    assert status(tea, havip) == "Creating"
    wait_for_status(tea, havip, "Available", timeout=5)
    tea.call("DeleteHaVip", HaVipId=havip)
    wait_until_gone(tea, havip, timeout=5)
    wait_for(lambda: srv.admin.operations() == [], timeout=5, what="no pending operations")
