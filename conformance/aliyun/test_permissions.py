"""Per-key policies through the official SDKs: a key limited to some actions and resources is
refused anything else with 403 ``Forbidden.RAM`` and an ``AccessDeniedDetail`` the Tea SDK
reads, and the refused call changes nothing."""

from __future__ import annotations

import pytest

from helpers import World, api_error, create_havip, find_havip, make_client

AK_LIMITED = "LTAI5tConfLimitedKey0001"
SECRET_LIMITED = "ConfSecretLimitedKey000000000001"


@pytest.fixture
def limited(make_server):
    srv = make_server(name="permissions")
    srv.admin.upsert(account=[{
        "id": World.ACCOUNT_A, "cloud": "aliyun", "name": "conformance-a",
        "access_keys": [
            {"id": World.AK_A, "secret": World.SECRET_A},
            {"id": AK_LIMITED, "secret": SECRET_LIMITED,
             "policy": {"allow": ["vpc:DescribeHaVips", "vpc:CreateHaVip"],
                        "resources": ["acs:vpc:*:*:havip/*"]}},
        ],
    }])
    return srv


@pytest.mark.parametrize("kind", ["tea-v3", "tea-v2", "old-sdk"])
def test_a_limited_key_should_be_refused_what_its_policy_does_not_allow(limited, kind):
    key = make_client(kind, limited.aliyun_endpoint, AK_LIMITED, SECRET_LIMITED)
    full = limited.client("tea-v3")
    havip = create_havip(key, Name="limited")["HaVipId"]
    assert find_havip(key, havip) is not None
    with api_error(403, "Forbidden.RAM") as raised:
        key.call("DeleteHaVip", HaVipId=havip)
    if kind.startswith("tea"):
        detail = raised.error.data["AccessDeniedDetail"]
        assert detail["AuthAction"] == "vpc:DeleteHaVip"
        assert detail["NoPermissionType"] == "ImplicitDeny"
    with api_error(403, "Forbidden.RAM"):
        key.call("ModifyHaVipAttribute", HaVipId=havip, Name="changed")
    after = find_havip(full, havip)
    assert after is not None and after["Name"] == "limited"


def test_the_account_keys_without_a_policy_keep_full_access(limited):
    full = limited.client("tea-v3")
    havip = create_havip(full, Name="full")["HaVipId"]
    full.call("ModifyHaVipAttribute", HaVipId=havip, Name="renamed")
    assert find_havip(full, havip)["Name"] == "renamed"
