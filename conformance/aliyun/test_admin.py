"""The admin API itself: health without a token, everything else only with the bearer token."""

from __future__ import annotations

import pytest

from helpers import associate, create_havip, dyn_havip, fresh_attached_eni, fresh_instance


def test_health_should_answer_ok_without_a_token(server):
    r = server.admin.health()

    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/admin/v1/operations", None),
    ("POST", "/admin/v1/operations/advance", None),
    ("POST", "/admin/v1/faults", {"cloud": "aliyun", "action": "CreateHaVip", "code": "SystemBusy", "count": 1}),
    ("DELETE", "/admin/v1/faults", None),
    ("POST", "/admin/v1/topology", {"instance": []}),
])
def test_admin_calls_without_the_token_should_fail_401(server, method, path, body):
    r = server.admin.request(method, path, body, auth=False)

    assert r.status_code == 401, r.text
    assert isinstance(r.json(), dict), "the 401 answer must be a JSON object"


def test_admin_calls_with_a_wrong_token_should_fail_401(server):
    admin = server.admin
    admin.token = "wrong-token"

    r = admin.request("GET", "/admin/v1/operations")

    assert r.status_code == 401, r.text


def test_refused_fault_injection_should_not_arm_a_fault(server, tea):
    body = {"cloud": "aliyun", "action": "CreateHaVip", "code": "SystemBusy", "count": 1}
    assert server.admin.request("POST", "/admin/v1/faults", body, auth=False).status_code == 401

    create_havip(tea)


def test_refused_topology_changes_should_change_nothing(server, tea):
    admin = server.admin
    instance = fresh_instance(admin)
    eni, _ = fresh_attached_eni(admin)

    assert admin.request("PATCH", f"/admin/v1/instances/{instance}", {"state": "Starting"}, auth=False).status_code == 401
    assert admin.request("DELETE", f"/admin/v1/enis/{eni}", auth=False).status_code == 401
    assert admin.request("DELETE", f"/admin/v1/instances/{instance}", auth=False).status_code == 401

    associate(tea, dyn_havip(tea), instance)  # still there and still Running
    associate(tea, dyn_havip(tea), eni, "NetworkInterface")  # still there
