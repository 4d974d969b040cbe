"""clientToken idempotency (same token + same request = the first answer; same token + other
request = 403 IdempotentParameterMismatch) and tenancy (accounts see only their own)."""

from __future__ import annotations

import uuid

import pytest

from bce_harness import ApiError, BaiduWorld as W, create, fresh_name, new_eip, wait_status


def test_create_repeated_with_the_same_token_should_return_the_same_havip(bce):
    token = uuid.uuid4().hex
    name = fresh_name()
    first = bce.create(name, W.SBN_LIST, "", token=token).body["haVipId"]
    second = bce.create(name, W.SBN_LIST, "", token=token).body["haVipId"]
    assert first == second
    listed = [h["haVipId"] for h in bce.list(vpc_id=W.VPC_LIST).body["haVips"] if h["name"] == name]
    assert listed == [first]


def test_the_same_token_with_other_parameters_should_fail_mismatch(bce):
    token = uuid.uuid4().hex
    bce.create(fresh_name(), W.SBN_MAIN, "", token=token)
    with pytest.raises(ApiError) as e:
        bce.create(fresh_name(), W.SBN_MAIN, "", token=token)
    assert (e.value.status, e.value.code) == (403, "IdempotentParameterMismatch")


def test_mutations_repeated_with_their_token_should_succeed_once(bce, bce_admin):
    havip_id = create(bce)
    token = uuid.uuid4().hex
    bce.attach(havip_id, [W.I_RUN[0]], token=token)
    wait_status(bce, havip_id, "binded")
    bce.attach(havip_id, [W.I_RUN[0]], token=token)  # not InstanceAlreadyBinded
    token = uuid.uuid4().hex
    bce.detach(havip_id, [W.I_RUN[0]], token=token)
    wait_status(bce, havip_id, "available")
    bce.detach(havip_id, [W.I_RUN[0]], token=token)
    address = new_eip(bce_admin)
    token = uuid.uuid4().hex
    bce.bind(havip_id, address, token=token)
    bce.bind(havip_id, address, token=token)
    token = uuid.uuid4().hex
    bce.unbind(havip_id, token=token)
    bce.unbind(havip_id, token=token)
    token = uuid.uuid4().hex
    bce.update(havip_id, "same_token_name", token=token)
    bce.update(havip_id, "same_token_name", token=token)
    with pytest.raises(ApiError) as e:
        bce.update(havip_id, "other_name", token=token)
    assert (e.value.status, e.value.code) == (403, "IdempotentParameterMismatch")
    token = uuid.uuid4().hex
    bce.delete(havip_id, token=token)
    bce.delete(havip_id, token=token)  # not NoSuchObject


def test_a_token_reused_on_another_havip_should_fail_mismatch(bce):
    token = uuid.uuid4().hex
    a, b = create(bce), create(bce)
    bce.update(a, "token_a", token=token)
    with pytest.raises(ApiError) as e:
        bce.update(b, "token_a", token=token)
    assert (e.value.status, e.value.code) == (403, "IdempotentParameterMismatch")


def test_tokens_longer_than_64_characters_should_fail_invalid_parameter(bce):
    with pytest.raises(ApiError) as e:
        bce.create(fresh_name(), W.SBN_MAIN, "", token="t" * 65)
    assert (e.value.status, e.value.code) == (400, "InvalidParameter")
    assert bce.create(fresh_name(), W.SBN_MAIN, "", token="t" * 63 + uuid.uuid4().hex[:1]).body["haVipId"]


def test_another_account_should_neither_see_nor_touch_the_havip(bce, bce_b, bce_admin):
    havip_id = create(bce)
    for call in (lambda: bce_b.get(havip_id), lambda: bce_b.update(havip_id, "stolen"),
                 lambda: bce_b.delete(havip_id), lambda: bce_b.attach(havip_id, [W.I_B]),
                 lambda: bce_b.detach(havip_id, [W.I_B]), lambda: bce_b.bind(havip_id, W.EIP_B),
                 lambda: bce_b.unbind(havip_id)):
        with pytest.raises(ApiError) as e:
            call()
        assert (e.value.status, e.value.code) == (404, "NoSuchObject")
    assert havip_id not in [h["haVipId"] for h in bce_b.list().body["haVips"]]
    with pytest.raises(ApiError) as e:
        bce_b.list(marker=havip_id)
    assert (e.value.status, e.value.code) == (400, "InvalidParameter")
    assert bce.get(havip_id).body["name"] != "stolen"
    # B's own world works.
    mine = bce_b.create(fresh_name(), W.SBN_B, "").body["haVipId"]
    assert [h["haVipId"] for h in bce_b.list().body["haVips"]] == [mine]


def test_an_account_cannot_use_another_accounts_servers(bce):
    with pytest.raises(ApiError) as e:
        bce.attach(create(bce), [W.I_B])
    assert (e.value.status, e.value.code) == (404, "NoSuchObject")


def test_a_key_of_another_cloud_should_fail_invalid_access_key(bce_server):
    with pytest.raises(ApiError) as e:
        bce_server.client("ALI").list()
    assert (e.value.status, e.value.code) == (403, "InvalidAccessKeyId")
