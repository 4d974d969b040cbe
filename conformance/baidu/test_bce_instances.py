"""Attach and detach: up to five servers or ENIs of the HAVIP's VPC, all or nothing, and
``bindedInstances[]`` with ``master``."""

from __future__ import annotations

import pytest

from bce_harness import ApiError, BaiduWorld as W, create, wait_for, wait_status


def binded(bce, havip_id: str) -> list[dict]:
    return bce.get(havip_id).body["bindedInstances"]


def test_attach_two_servers_in_one_request_should_bind_both(bce):
    havip_id = create(bce)
    assert bce.attach(havip_id, [W.I_RUN[0], W.I_RUN[1]]).body == {}
    h = wait_status(bce, havip_id, "binded")
    assert h["bindedInstances"] == [
        {"instanceId": W.I_RUN[0], "instanceType": "SERVER", "master": False},
        {"instanceId": W.I_RUN[1], "instanceType": "SERVER", "master": False},
    ]
    sdk = bce.get(havip_id).sdk
    assert [b.instance_id for b in sdk.binded_instances] == [W.I_RUN[0], W.I_RUN[1]]


def test_attach_an_eni_should_bind_it_with_type_eni(bce):
    havip_id = create(bce)
    bce.attach(havip_id, [W.ENI_1, W.ENI_2], "ENI")
    h = wait_status(bce, havip_id, "binded")
    assert [(b["instanceId"], b["instanceType"]) for b in h["bindedInstances"]] == [(W.ENI_1, "ENI"), (W.ENI_2, "ENI")]


def test_attach_should_accept_servers_of_another_subnet_of_the_same_vpc_and_stopped_ones(bce):
    havip_id = create(bce)
    bce.attach(havip_id, [W.I_OTHER_SBN, W.I_STOPPED])
    wait_status(bce, havip_id, "binded")


def test_attach_a_server_of_another_vpc_should_fail_and_bind_nothing(bce):
    havip_id = create(bce)
    with pytest.raises(ApiError) as e:
        bce.attach(havip_id, [W.I_RUN[0], W.I_A2])
    assert (e.value.status, e.value.code) == (400, "InstanceNotInVpc")
    h = bce.get(havip_id).body
    assert (h["status"], h["bindedInstances"]) == ("available", [])


def test_attach_should_be_all_or_nothing(bce):
    havip_id = create(bce)
    with pytest.raises(ApiError) as e:
        bce.attach(havip_id, [W.I_RUN[0], "i-DoesNotExist"])
    assert (e.value.status, e.value.code) == (404, "NoSuchObject")
    assert binded(bce, havip_id) == []


def test_attach_a_sixth_instance_should_fail_quota(bce):
    havip_id = create(bce)
    bce.attach(havip_id, W.I_RUN[:5])
    wait_status(bce, havip_id, "binded")
    assert len(binded(bce, havip_id)) == 5
    with pytest.raises(ApiError) as e:
        bce.attach(havip_id, [W.I_RUN[5]])
    assert (e.value.status, e.value.code) == (409, "HaVipInstanceQuotaExceeded")


def test_attach_more_than_five_ids_in_one_request_should_fail_invalid_parameter(bce):
    havip_id = create(bce)
    with pytest.raises(ApiError) as e:
        bce.attach(havip_id, W.I_RUN[:6])
    assert (e.value.status, e.value.code) == (400, "InvalidParameter")
    with pytest.raises(ApiError) as e:
        bce.attach(havip_id, [])
    assert (e.value.status, e.value.code) == (400, "InvalidParameter")
    with pytest.raises(ApiError) as e:
        bce.attach(havip_id, [W.I_RUN[0], W.I_RUN[0]])
    assert (e.value.status, e.value.code) == (400, "InvalidParameter")


def test_attach_with_an_unknown_instance_type_should_fail_invalid_parameter(bce):
    havip_id = create(bce)
    with pytest.raises(ApiError) as e:
        bce.attach(havip_id, [W.I_RUN[0]], "BCC")
    assert (e.value.status, e.value.code) == (400, "InvalidParameter")


@pytest.mark.parametrize("target, kind, status, code", [
    (W.I_STARTING, "SERVER", 409, "InstanceStatusConflict"),
    (W.ENI_FREE, "ENI", 409, "EniNotAttached"),
    (W.I_B, "SERVER", 404, "NoSuchObject"),
    ("eni-doesnotexist", "ENI", 404, "NoSuchObject"),
    (W.I_RUN[0], "ENI", 404, "NoSuchObject"),
])
def test_attach_an_unusable_target_should_fail(bce, target, kind, status, code):
    havip_id = create(bce)
    with pytest.raises(ApiError) as e:
        bce.attach(havip_id, [target], kind)
    assert (e.value.status, e.value.code) == (status, code)


def test_attach_conflicts_should_fail(bce):
    havip_id = create(bce)
    bce.attach(havip_id, [W.I_RUN[0]])
    wait_status(bce, havip_id, "binded")
    with pytest.raises(ApiError) as e:
        bce.attach(havip_id, [W.I_RUN[0]])
    assert (e.value.status, e.value.code) == (409, "InstanceAlreadyBinded")
    with pytest.raises(ApiError) as e:
        bce.attach(havip_id, [W.ENI_2], "ENI")
    assert (e.value.status, e.value.code) == (409, "InstanceTypeConflict")
    eni_havip = create(bce)
    bce.attach(eni_havip, [W.ENI_1], "ENI")
    wait_status(bce, eni_havip, "binded")
    with pytest.raises(ApiError) as e:
        bce.attach(eni_havip, [W.ENI_1B], "ENI")
    assert (e.value.status, e.value.code) == (409, "EniSameServer")


def test_attach_to_an_unknown_havip_should_fail_no_such_object(bce):
    with pytest.raises(ApiError) as e:
        bce.attach("havip-000000000000", [W.I_RUN[0]])
    assert (e.value.status, e.value.code) == (404, "NoSuchObject")


def test_detach_should_remove_instances_and_settle_the_status(bce):
    havip_id = create(bce)
    bce.attach(havip_id, [W.I_RUN[0], W.I_RUN[1], W.I_RUN[2]])
    wait_status(bce, havip_id, "binded")
    assert bce.detach(havip_id, [W.I_RUN[0], W.I_RUN[2]]).body == {}
    wait_for(lambda: [b["instanceId"] for b in binded(bce, havip_id)] == [W.I_RUN[1]], "one instance left")
    assert wait_status(bce, havip_id, "binded")
    bce.detach(havip_id, [W.I_RUN[1]])
    h = wait_status(bce, havip_id, "available")
    assert h["bindedInstances"] == []


def test_detach_an_instance_that_is_not_bound_should_fail_and_detach_nothing(bce):
    havip_id = create(bce)
    with pytest.raises(ApiError) as e:
        bce.detach(havip_id, [W.I_RUN[0]])
    assert (e.value.status, e.value.code) == (400, "InstanceNotBinded")
    bce.attach(havip_id, [W.I_RUN[0]])
    wait_status(bce, havip_id, "binded")
    with pytest.raises(ApiError) as e:
        bce.detach(havip_id, [W.I_RUN[0], W.I_RUN[1]])
    assert (e.value.status, e.value.code) == (400, "InstanceNotBinded")
    assert [b["instanceId"] for b in binded(bce, havip_id)] == [W.I_RUN[0]]


def test_master_should_follow_the_announcing_instance_and_detach_anyway(bce, bce_admin):
    havip_id = create(bce)
    bce.attach(havip_id, [W.I_RUN[3], W.I_RUN[4]])
    wait_status(bce, havip_id, "binded")
    assert bce_admin.announce(havip_id, W.I_RUN[4]).status_code == 200
    masters = {b["instanceId"]: b["master"] for b in binded(bce, havip_id)}
    assert masters == {W.I_RUN[3]: False, W.I_RUN[4]: True}
    bce.detach(havip_id, [W.I_RUN[4]])
    wait_for(lambda: [b["instanceId"] for b in binded(bce, havip_id)] == [W.I_RUN[3]], "the master detached")
    assert binded(bce, havip_id)[0]["master"] is False
