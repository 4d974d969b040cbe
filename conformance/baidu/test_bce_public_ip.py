"""bindPublicIp / unbindPublicIp: one EIP per HAVIP, named by its address."""

from __future__ import annotations

import pytest

from bce_harness import ApiError, BaiduWorld as W, create, new_eip, wait_for


def public_ip(bce, havip_id: str) -> str:
    return bce.get(havip_id).body["publicIpAddress"]


def test_bind_and_unbind_should_show_and_clear_the_public_address(bce, bce_admin):
    address = new_eip(bce_admin)
    havip_id = create(bce)
    assert bce.bind(havip_id, address).body == {}
    wait_for(lambda: public_ip(bce, havip_id) == address, "the EIP to show")
    assert bce.get(havip_id).sdk.public_ip_address == address
    assert bce.unbind(havip_id).body == {}
    wait_for(lambda: public_ip(bce, havip_id) == "", "the EIP to go")
    # The EIP is free again: another HAVIP can take it, once its unbinding has completed
    # (the HAVIP stops showing it first; until the EIP itself is free a bind is refused with
    # a 409 that says "retry later"). Seen once on the PostgreSQL run.
    other = create(bce)

    def bound():
        try:
            bce.bind(other, address)
            return True
        except ApiError as e:
            if (e.status, e.code) in ((409, "PublicIpStatusConflict"), (409, "PublicIpInUse")):
                return False
            raise

    wait_for(bound, "the EIP to be free again")
    wait_for(lambda: public_ip(bce, other) == address, "the EIP to move")


def test_bind_a_second_eip_should_fail_already_binded(bce, bce_admin):
    havip_id = create(bce)
    bce.bind(havip_id, new_eip(bce_admin))
    with pytest.raises(ApiError) as e:
        bce.bind(havip_id, new_eip(bce_admin))
    assert (e.value.status, e.value.code) == (409, "HaVipPublicIpAlreadyBinded")


def test_bind_an_eip_bound_elsewhere_should_fail_in_use(bce, bce_admin):
    address = new_eip(bce_admin)
    bce.bind(create(bce), address)
    with pytest.raises(ApiError) as e:
        bce.bind(create(bce), address)
    assert (e.value.status, e.value.code) == (409, "PublicIpInUse")


@pytest.mark.parametrize("address, status, code", [
    ("192.0.2.77", 404, "NoSuchObject"),
    (W.EIP_B, 404, "NoSuchObject"),
    (W.EIP_A_GZ, 400, "PublicIpNotInRegion"),
    ("not-an-ip", 400, "InvalidParameter"),
])
def test_bind_an_unusable_address_should_fail(bce, address, status, code):
    havip_id = create(bce)
    with pytest.raises(ApiError) as e:
        bce.bind(havip_id, address)
    assert (e.value.status, e.value.code) == (status, code)
    assert public_ip(bce, havip_id) == ""


def test_unbind_without_an_eip_should_fail_not_binded(bce):
    with pytest.raises(ApiError) as e:
        bce.unbind(create(bce))
    assert (e.value.status, e.value.code) == (400, "HaVipPublicIpNotBinded")


def test_delete_with_an_eip_bound_should_fail(bce, bce_admin):
    havip_id = create(bce)
    bce.bind(havip_id, new_eip(bce_admin))
    with pytest.raises(ApiError) as e:
        bce.delete(havip_id)
    assert (e.value.status, e.value.code) == (409, "HaVipPublicIpBinded")


def test_bind_on_an_unknown_havip_should_fail_no_such_object(bce, bce_admin):
    with pytest.raises(ApiError) as e:
        bce.bind("havip-000000000000", new_eip(bce_admin))
    assert (e.value.status, e.value.code) == (404, "NoSuchObject")
    with pytest.raises(ApiError) as e:
        bce.unbind("havip-000000000000")
    assert (e.value.status, e.value.code) == (404, "NoSuchObject")
