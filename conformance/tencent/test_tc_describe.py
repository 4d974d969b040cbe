"""DescribeHaVips: HaVipIds, every filter, paging, and the selection errors of both products."""

import pytest

from tc_harness import ECM_REGION, TcWorld, assert_havip_shape, create, expect_error, explicit_vip, name

W = TcWorld


def ids(resp):
    return [h["HaVipId"] for h in resp["HaVipSet"]]


def test_by_ids_should_return_known_ids_and_ignore_unknown_well_formed_ones(vpc):
    a, b = create(vpc), create(vpc)
    got = vpc.call("DescribeHaVips", HaVipIds=[a["HaVipId"], "havip-zzzzzzzz", b["HaVipId"]])
    assert sorted(ids(got)) == sorted([a["HaVipId"], b["HaVipId"]]) and got["TotalCount"] == 2
    for h in got["HaVipSet"]:
        assert_havip_shape(h)
    # Terraform's read: an empty set means gone.
    gone = vpc.call("DescribeHaVips", HaVipIds=["havip-zzzzzzzz"])
    assert (gone["TotalCount"], gone["HaVipSet"]) == (0, []) and gone["RequestId"]


def test_every_vpc_filter_should_select(vpc, tc_admin):
    n = name("flt")
    vip = explicit_vip()
    h = create(vpc, W.SUBNET_EXPL, HaVipName=n, Vip=vip)
    other = create(vpc, HaVipName=n)
    hid = h["HaVipId"]
    f = lambda name_, *values: vpc.call("DescribeHaVips", Filters=[{"Name": name_, "Values": list(values)}],
                                        Limit=100)
    assert ids(f("havip-id", hid)) == [hid]
    assert sorted(ids(f("havip-name", n))) == sorted([hid, other["HaVipId"]])
    assert hid in ids(f("vpc-id", W.VPC_A))
    assert hid in ids(f("subnet-id", W.SUBNET_EXPL)) and other["HaVipId"] not in ids(f("subnet-id", W.SUBNET_EXPL))
    assert ids(f("vip", vip)) == [hid]
    # Filters AND, values OR.
    both = vpc.call("DescribeHaVips", Filters=[{"Name": "havip-name", "Values": [n]},
                                               {"Name": "subnet-id", "Values": [W.SUBNET_EXPL, W.SUBNET_OTHER]}])
    assert ids(both) == [hid]
    # Association and EIP filters.
    a = create(vpc, HaVipAssociationSet=[{"InstanceId": W.INS_3, "InstanceType": "CVM"}])
    assert a["HaVipId"] in ids(f("havip-association.instance-id", W.INS_3))
    assert a["HaVipId"] in ids(f("havip-association.instance-type", "CVM"))
    assert a["HaVipId"] not in ids(f("havip-association.instance-type", "ENI"))
    r = vpc.call("HaVipAssociateAddressIp", HaVipId=hid, AddressIp=W.EIP_A3[1])
    from tc_harness import wait_task
    wait_task(vpc, r["RequestId"])
    assert ids(f("address-ip", W.EIP_A3[1])) == [hid]
    # Every HAVIP checks drift, none is in a CDC, every one is NORMAL.
    assert hid in ids(f("check-associate", "TRUE")) and ids(f("check-associate", "FALSE")) == []
    assert ids(f("cdc-id", "cluster-xxxxxxxx")) == []
    assert hid in ids(f("type", "NORMAL")) and ids(f("type", "GWLB")) == []
    vpc.call("HaVipDisassociateAddressIp", HaVipId=hid)


def test_paging_should_use_offset_and_limit(vpc):
    n = name("page")
    made = [create(vpc, HaVipName=n)["HaVipId"] for _ in range(5)]
    sel = [{"Name": "havip-name", "Values": [n]}]
    first = vpc.call("DescribeHaVips", Filters=sel, Offset=0, Limit=2)
    second = vpc.call("DescribeHaVips", Filters=sel, Offset=2, Limit=2)
    last = vpc.call("DescribeHaVips", Filters=sel, Offset=4, Limit=2)
    assert first["TotalCount"] == second["TotalCount"] == last["TotalCount"] == 5
    assert ids(first) + ids(second) + ids(last) == made
    assert vpc.call("DescribeHaVips", Filters=sel, Offset=10)["HaVipSet"] == []
    # Default limit is 20.
    assert len(vpc.call("DescribeHaVips")["HaVipSet"]) <= 20


def test_vpc_selection_errors(vpc):
    expect_error("InvalidParameter.Coexist", lambda: vpc.call(
        "DescribeHaVips", HaVipIds=["havip-zzzzzzzz"], Filters=[{"Name": "vpc-id", "Values": [W.VPC_A]}]))
    expect_error("InvalidParameter.FilterInvalidKey", lambda: vpc.call(
        "DescribeHaVips", Filters=[{"Name": "color", "Values": ["red"]}]))
    expect_error("InvalidParameterValue.Malformed", lambda: vpc.call("DescribeHaVips", HaVipIds=["havip_x"]))
    expect_error("InvalidParameterValue.Range", lambda: vpc.call("DescribeHaVips", Limit=101))
    expect_error("InvalidParameterValue.Range", lambda: vpc.call("DescribeHaVips", Offset=-1))
    expect_error("InvalidParameterValue.LimitExceeded", lambda: vpc.call(
        "DescribeHaVips", Filters=[{"Name": "vpc-id", "Values": [W.VPC_A]}] * 11))
    expect_error("InvalidParameterValue.LimitExceeded", lambda: vpc.call(
        "DescribeHaVips", Filters=[{"Name": "havip-name", "Values": ["a", "b", "c", "d", "e", "f"]}]))
    expect_error("InvalidParameterValue.Malformed", lambda: vpc.call(
        "DescribeHaVips", Filters=[{"Name": "vip", "Values": ["not-an-ip"]}]))


def test_ecm_describe_should_span_regions_and_honour_ecm_region(ecm, vpc):
    e = ecm.call("CreateHaVip", VpcId=W.VPC_ECM, SubnetId=W.SUBNET_ECM, HaVipName=name("ecm"))["HaVip"]
    v = create(vpc)
    everywhere = ids(ecm.call("DescribeHaVips", Limit=100, HaVipIds=[e["HaVipId"], v["HaVipId"]]))
    assert sorted(everywhere) == sorted([e["HaVipId"], v["HaVipId"]])
    only_ecm = ecm.call("DescribeHaVips", EcmRegion=ECM_REGION, HaVipIds=[e["HaVipId"], v["HaVipId"]])
    assert ids(only_ecm) == [e["HaVipId"]]
    for h in only_ecm["HaVipSet"]:
        assert_havip_shape(h, "ecm")
        assert "TagSet" not in h or h["TagSet"] is None
    got = ecm.call("DescribeHaVips", Filters=[{"Name": "subnet-id", "Values": [W.SUBNET_ECM]}], Limit=100)
    assert e["HaVipId"] in ids(got)


def test_ecm_selection_errors(ecm):
    expect_error("InvalidParameter.Coexist", lambda: ecm.call(
        "DescribeHaVips", HaVipIds=["havip-zzzzzzzz"], Filters=[{"Name": "vpc-id", "Values": [W.VPC_ECM]}]))
    expect_error("InvalidParameterValue.InvalidFilter", lambda: ecm.call(
        "DescribeHaVips", Filters=[{"Name": "vip", "Values": ["1.2.3.4"]}]))
    expect_error("InvalidParameterValue.InvaildPageParam", lambda: ecm.call("DescribeHaVips", Limit=0))
    expect_error("InvalidParameterValue.InvaildPageParam", lambda: ecm.call("DescribeHaVips", Limit=1000))
    expect_error("InvalidParameterValue.InvalidRegion", lambda: ecm.call("DescribeHaVips", EcmRegion="ap-moon-ecm"))
    expect_error("InvalidParameterValue.Malformed", lambda: ecm.call("DescribeHaVips", HaVipIds=["x"]))
