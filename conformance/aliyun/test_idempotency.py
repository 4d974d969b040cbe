"""ClientToken: retries are safe, conflicting reuse is refused, tokens belong to one account."""

from __future__ import annotations

from helpers import (
    CLIENT_KINDS,
    World,
    api_error,
    associate,
    associated_instances,
    create_havip,
    describe,
    get_havip,
    unique,
    wait_until_gone,
)


def count_named(client, name: str) -> int:
    return sum(1 for h in describe(client, PageSize=50, Filter=[{"Key": "VSwitchId", "Value": [World.VSW_MAIN]}],
                                   Tags=[{"Key": "idem", "Value": name}])["HaVips"]["HaVip"])


def test_create_with_same_token_and_same_params_should_return_the_same_havip(client):
    token, name = unique("tok-"), unique("idem-")
    params = dict(VSwitchId=World.VSW_MAIN, Name=name, ClientToken=token, Tag=[{"Key": "idem", "Value": name}])

    first = client.call("CreateHaVip", **params)
    second = client.call("CreateHaVip", **params)

    assert second["HaVipId"] == first["HaVipId"]
    assert second["IpAddress"] == first["IpAddress"]
    assert count_named(client, name) == 1


def test_create_with_same_token_and_different_params_should_fail_parameter_mismatch(client):
    token = unique("tok-")
    first = client.call("CreateHaVip", VSwitchId=World.VSW_MAIN, Name="one", ClientToken=token)

    with api_error(400, "IdempotentParameterMismatch"):
        client.call("CreateHaVip", VSwitchId=World.VSW_MAIN, Name="two", ClientToken=token)
    assert get_havip(client, first["HaVipId"])["Name"] == "one"


def test_create_retry_should_be_recognised_across_sdk_generations(server):
    """The same business parameters sent by another SDK generation are the same request."""
    token, name = unique("tok-"), unique("idem-")
    params = dict(VSwitchId=World.VSW_MAIN, Name=name, ClientToken=token, Tag=[{"Key": "idem", "Value": name}])

    ids = {server.client(kind).call("CreateHaVip", **params)["HaVipId"] for kind in CLIENT_KINDS}

    assert len(ids) == 1
    assert count_named(server.client(), name) == 1


def test_client_tokens_should_be_scoped_to_the_account(tea, tea_b):
    token = unique("tok-")

    a = tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN, ClientToken=token)["HaVipId"]
    b = tea_b.call("CreateHaVip", VSwitchId=World.VSW_B, ClientToken=token)["HaVipId"]

    assert a != b
    assert get_havip(tea_b, b)["VSwitchId"] == World.VSW_B


def test_create_with_same_token_after_delete_should_not_create_a_second_havip(tea):
    """A replay of a finished request returns the original answer; it does not resurrect."""
    token, name = unique("tok-"), unique("idem-")
    params = dict(VSwitchId=World.VSW_MAIN, ClientToken=token, Tag=[{"Key": "idem", "Value": name}])
    first = tea.call("CreateHaVip", **params)["HaVipId"]
    tea.call("DeleteHaVip", HaVipId=first)
    wait_until_gone(tea, first)

    again = tea.call("CreateHaVip", **params)["HaVipId"]

    assert again == first
    assert count_named(tea, name) == 0


def test_associate_retry_with_same_token_should_succeed(client):
    havip = create_havip(client)["HaVipId"]
    token = unique("tok-")
    associate(client, havip, World.I_RUN1, ClientToken=token)

    client.call("AssociateHaVip", HaVipId=havip, InstanceId=World.I_RUN1, ClientToken=token)

    assert associated_instances(get_havip(client, havip)) == [World.I_RUN1]


def test_associate_with_same_token_and_other_instance_should_fail_parameter_mismatch(tea):
    havip = create_havip(tea)["HaVipId"]
    token = unique("tok-")
    associate(tea, havip, World.I_RUN1, ClientToken=token)

    with api_error(400, "IdempotentParameterMismatch"):
        tea.call("AssociateHaVip", HaVipId=havip, InstanceId=World.I_RUN2, ClientToken=token)
    assert associated_instances(get_havip(tea, havip)) == [World.I_RUN1]


def test_delete_retry_with_same_token_should_succeed(tea):
    havip = create_havip(tea)["HaVipId"]
    token = unique("tok-")
    tea.call("DeleteHaVip", HaVipId=havip, ClientToken=token)
    wait_until_gone(tea, havip)

    tea.call("DeleteHaVip", HaVipId=havip, ClientToken=token)
