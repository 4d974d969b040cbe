"""Fault injection through the admin API: the armed code is returned, nothing changes, then it clears."""

from __future__ import annotations

import pytest

from helpers import World, ApiError, associated_instances, create_havip, describe, get_havip, unique

FAULT_CODES = ["OperationConflict", "IncorrectStatus", "LastTokenProcessing", "SystemBusy", "Throttling.User"]


def tagged_count(client, mark: str) -> int:
    return describe(client, Tags=[{"Key": "fault", "Value": mark}])["TotalCount"]


@pytest.mark.parametrize("code", FAULT_CODES)
def test_injected_fault_should_fail_create_with_that_code_and_create_nothing(server, admin, code):
    tea = server.client()
    mark = unique("f")
    admin.inject_fault("CreateHaVip", code, count=1)

    with pytest.raises(ApiError) as raised:
        tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN, Tag=[{"Key": "fault", "Value": mark}])

    assert raised.value.code == code
    assert 400 <= raised.value.status < 600
    assert raised.value.request_id
    assert tagged_count(tea, mark) == 0
    tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN, Tag=[{"Key": "fault", "Value": mark}])
    assert tagged_count(tea, mark) == 1


@pytest.mark.parametrize("kind", ["tea-v3", "tea-v2", "old-sdk"])
def test_fault_count_should_be_consumed_one_call_at_a_time(server, admin, kind):
    client = server.client(kind)
    mark = unique("f")
    admin.inject_fault("CreateHaVip", "SystemBusy", count=2)

    codes = []
    for _ in range(3):
        try:
            client.call("CreateHaVip", VSwitchId=World.VSW_MAIN, Tag=[{"Key": "fault", "Value": mark}])
            codes.append("ok")
        except ApiError as e:
            codes.append(e.code)

    assert codes == ["SystemBusy", "SystemBusy", "ok"]
    assert tagged_count(client, mark) == 1


def test_fault_should_apply_only_to_its_action(server, admin):
    tea = server.client()
    admin.inject_fault("AssociateHaVip", "OperationConflict", count=1)

    havip = create_havip(tea)["HaVipId"]  # CreateHaVip is not affected
    with pytest.raises(ApiError) as raised:
        tea.call("AssociateHaVip", HaVipId=havip, InstanceId=World.I_RUN1)
    assert raised.value.code == "OperationConflict"
    assert associated_instances(get_havip(tea, havip)) == []

    tea.call("AssociateHaVip", HaVipId=havip, InstanceId=World.I_RUN1)


def test_cleared_faults_should_not_fire(server, admin):
    tea = server.client()
    admin.inject_fault("CreateHaVip", "SystemBusy", count=5)
    admin.clear_faults()

    create_havip(tea)
