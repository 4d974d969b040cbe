"""CreateHaVip through both SDKs: shapes, allocation, every documented error that can arise."""

import ipaddress

import pytest

from tc_harness import (ECM_REGION, TcWorld, assert_havip_shape, create, describe_one, expect_error,
                        explicit_vip, name)

W = TcWorld


def test_vpc_create_should_return_the_havip_object_unbound(vpc):
    h = create(vpc, HaVipName="test havip")
    assert_havip_shape(h)
    assert h["State"] == "UNBIND"
    assert (h["AddressIp"], h["InstanceId"], h["NetworkInterfaceId"]) == ("", "", "")
    assert h["VpcId"] == W.VPC_A and h["SubnetId"] == W.SUBNET_MAIN and h["HaVipName"] == "test havip"
    assert ipaddress.IPv4Address(h["Vip"]) in ipaddress.IPv4Network("10.10.1.0/24")
    # Synchronous: usable at once (Terraform reads it straight after creating it).
    assert describe_one(vpc, h["HaVipId"]) == h


def test_auto_allocation_should_skip_reserved_and_held_addresses(vpc):
    held = {"10.10.1.11", "10.10.1.12", "10.10.1.13", "10.10.1.21", "10.10.1.22", "10.10.1.23"}
    for _ in range(10):
        vip = create(vpc)["Vip"]
        host = int(vip.split(".")[-1])
        assert 2 <= host <= 254, f"{vip} is a reserved address (network, gateway or broadcast)"
        assert vip not in held


def test_explicit_vip_tags_and_association_set_should_be_kept(vpc):
    vip = explicit_vip()
    h = create(vpc, W.SUBNET_EXPL, Vip=vip, CheckAssociate=True,
               Tags=[{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": ""}])
    assert h["Vip"] == vip
    assert {t["Key"]: t["Value"] for t in h["TagSet"]} == {"env": "prod", "team": ""}
    assert h["CheckAssociate"] is True


def test_create_with_association_set_should_define_the_drift_range(vpc):
    h = create(vpc, HaVipAssociationSet=[{"InstanceId": W.INS_1, "InstanceType": "CVM"},
                                         {"InstanceId": W.INS_2, "InstanceType": "CVM"}])
    got = describe_one(vpc, h["HaVipId"])
    assert sorted(a["InstanceId"] for a in got["HaVipAssociationSet"]) == [W.INS_1, W.INS_2]
    assert {a["InstanceType"] for a in got["HaVipAssociationSet"]} == {"CVM"}
    assert {a["HaVipId"] for a in got["HaVipAssociationSet"]} == {h["HaVipId"]}


def test_ecm_create_without_region_should_find_the_subnet(ecm):
    h = ecm.call("CreateHaVip", VpcId=W.VPC_ECM, SubnetId=W.SUBNET_ECM, HaVipName="irang_testHaVip")["HaVip"]
    assert_havip_shape(h, "ecm")
    assert h["State"] == "UNBIND" and h["VpcId"] == W.VPC_ECM
    assert "HaVipAssociationSet" not in h or h.get("HaVipAssociationSet") is None
    assert ipaddress.IPv4Address(h["Vip"]) in ipaddress.IPv4Network("172.16.0.0/24")


def test_ecm_create_with_a_region_should_scope_to_it(tc_server):
    c = tc_server.client("ecm", region=ECM_REGION)
    h = c.call("CreateHaVip", VpcId=W.VPC_ECM, SubnetId=W.SUBNET_ECM, HaVipName="ecm-region", Vip="172.16.0.17")
    assert h["HaVip"]["Vip"] == "172.16.0.17"
    # Region given: a subnet in another region is not found there.
    expect_error("ResourceNotFound", lambda: c.call("CreateHaVip", VpcId=W.VPC_A, SubnetId=W.SUBNET_MAIN,
                                                    HaVipName="x"))


@pytest.mark.parametrize("product", ["vpc", "ecm"])
def test_missing_and_malformed_parameters_should_be_refused(tc_server, product):
    c = tc_server.client(product)
    vpc_id, subnet = (W.VPC_A, W.SUBNET_MAIN) if product == "vpc" else (W.VPC_ECM, W.SUBNET_ECM)
    expect_error("MissingParameter", lambda: c.call("CreateHaVip", VpcId=vpc_id, SubnetId=subnet))
    expect_error("MissingParameter", lambda: c.call("CreateHaVip", SubnetId=subnet, HaVipName="x"))
    expect_error("InvalidParameterValue.Malformed",
                 lambda: c.call("CreateHaVip", VpcId="vpc_bad", SubnetId=subnet, HaVipName="x"))
    expect_error("InvalidParameterValue.Malformed",
                 lambda: c.call("CreateHaVip", VpcId=vpc_id, SubnetId="subnet-BAD", HaVipName="x"))
    expect_error("InvalidParameterValue.Malformed",
                 lambda: c.call("CreateHaVip", VpcId=vpc_id, SubnetId=subnet, HaVipName="x", Vip="10.1.1"))
    expect_error("InvalidParameterValue.TooLong",
                 lambda: c.call("CreateHaVip", VpcId=vpc_id, SubnetId=subnet, HaVipName="n" * 61))
    expect_error("InvalidParameterValue",
                 lambda: c.call("CreateHaVip", VpcId=vpc_id, SubnetId=subnet, HaVipName=""))
    # Exactly 60 characters is fine.
    assert c.call("CreateHaVip", VpcId=vpc_id, SubnetId=subnet, HaVipName="n" * 60)["HaVip"]["HaVipName"] == "n" * 60


def test_unknown_parameters_should_be_refused(vpc, ecm):
    expect_error("UnknownParameter", lambda: vpc.call_json(
        "CreateHaVip", {"VpcId": W.VPC_A, "SubnetId": W.SUBNET_MAIN, "HaVipName": "x", "Bogus": 1}))
    # ECM has no Tags.
    expect_error("UnknownParameter", lambda: ecm.call_json(
        "CreateHaVip", {"VpcId": W.VPC_ECM, "SubnetId": W.SUBNET_ECM, "HaVipName": "x",
                        "Tags": [{"Key": "a", "Value": "b"}]}))


def test_unknown_resources_should_be_resource_not_found(vpc, ecm):
    expect_error("ResourceNotFound", lambda: create(vpc, subnet="subnet-zzzzzzzz"))
    expect_error("ResourceNotFound", lambda: create(vpc, vpc="vpc-zzzzzzzz"))
    expect_error("ResourceNotFound", lambda: ecm.call("CreateHaVip", VpcId=W.VPC_ECM, SubnetId="subnet-zzzzzzzz",
                                                      HaVipName="x"))
    # Another region's subnet is invisible from ap-guangzhou.
    expect_error("ResourceNotFound", lambda: create(vpc, subnet=W.SUBNET_SH, vpc=W.VPC_A_SH))
    # A subnet of another VPC.
    expect_error("InvalidParameterValue", lambda: create(vpc, subnet=W.SUBNET_A2, vpc=W.VPC_A))


def test_vip_errors_should_use_each_products_codes(vpc, ecm):
    expect_error("InvalidParameterValue.Range", lambda: create(vpc, W.SUBNET_EXPL, Vip="10.10.9.9"))
    expect_error("InvalidParameterValue.Reserved", lambda: create(vpc, W.SUBNET_EXPL, Vip="10.10.4.1"))
    expect_error("InvalidParameterValue.Reserved", lambda: create(vpc, W.SUBNET_EXPL, Vip="10.10.4.255"))
    taken = create(vpc, W.SUBNET_EXPL, Vip=explicit_vip())["Vip"]
    expect_error("ResourceInUse", lambda: create(vpc, W.SUBNET_EXPL, Vip=taken))
    expect_error("ResourceInUse", lambda: create(vpc, Vip="10.10.1.11"))  # a CVM's address
    # ECM: the seed's codes.
    mk = lambda vip: ecm.call("CreateHaVip", VpcId=W.VPC_ECM, SubnetId=W.SUBNET_ECM, HaVipName="e", Vip=vip)
    expect_error("InvalidParameterValue.ObjectNotCurrentSubnet", lambda: mk("172.16.9.9"))
    mk("172.16.0.200")
    expect_error("InvalidParameterValue.Duplicate", lambda: mk("172.16.0.200"))


def test_network_interface_id_should_be_refused_explicitly(vpc):
    expect_error("UnsupportedOperation", lambda: create(vpc, NetworkInterfaceId=W.ENI_1))


def test_exhausted_subnet_should_be_resource_insufficient(tc_fresh):
    c = tc_fresh().client("vpc")
    # 10.10.3.0/29: .0 and .1 and .7 are reserved, so five addresses can be handed out.
    vips = {create(c, W.SUBNET_TINY)["Vip"] for _ in range(5)}
    assert vips == {f"10.10.3.{i}" for i in range(2, 7)}
    expect_error("ResourceInsufficient", lambda: create(c, W.SUBNET_TINY))


def test_vpc_quota_should_be_limit_exceeded(tc_fresh):
    srv = tc_fresh(quotas={"havips_per_vpc": 2})
    c = srv.client("vpc")
    create(c)
    create(c)
    expect_error("LimitExceeded", lambda: create(c))
    e = srv.client("ecm")
    e.call("CreateHaVip", VpcId=W.VPC_ECM, SubnetId=W.SUBNET_ECM, HaVipName="a")
    e.call("CreateHaVip", VpcId=W.VPC_ECM, SubnetId=W.SUBNET_ECM, HaVipName="b")
    expect_error("LimitExceeded", lambda: e.call("CreateHaVip", VpcId=W.VPC_ECM, SubnetId=W.SUBNET_ECM,
                                                 HaVipName="c"))


def test_default_vpc_quota_should_be_tencents(tc_fresh):
    c = tc_fresh(quotas={}).client("vpc")
    for _ in range(10):
        create(c, W.SUBNET_EXPL)
    expect_error("LimitExceeded", lambda: create(c, W.SUBNET_EXPL))


def test_tag_errors_should_be_refused(vpc):
    expect_error("InvalidParameterValue.Duplicate",
                 lambda: create(vpc, Tags=[{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]))
    expect_error("InvalidParameterValue.TooLong", lambda: create(vpc, Tags=[{"Key": "k" * 128, "Value": "1"}]))
    expect_error("MissingParameter", lambda: create(vpc, Tags=[{"Value": "1"}]))
    expect_error("LimitExceeded", lambda: create(vpc, Tags=[{"Key": f"k{i}", "Value": ""} for i in range(51)]))


def test_names_need_not_be_unique(vpc):
    n = name()
    a, b = create(vpc, HaVipName=n), create(vpc, HaVipName=n)
    assert a["HaVipId"] != b["HaVipId"]
