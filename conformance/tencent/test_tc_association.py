"""AssociateHaVipInstance / DisassociateHaVipInstance (the drift range) and the holder fields."""

from tc_harness import TcWorld, create, describe_one, expect_error, wait_task

W = TcWorld


def assoc(*pairs):
    return [{"HaVipId": h, "InstanceId": i, "InstanceType": t} for h, i, t in pairs]


def members(vpc, hid):
    return sorted(a["InstanceId"] for a in describe_one(vpc, hid)["HaVipAssociationSet"])


def test_associate_two_cvms_then_failover_should_show_the_holder(vpc, tc_admin):
    hid = create(vpc)["HaVipId"]
    r = vpc.call("AssociateHaVipInstance",
                 HaVipAssociationSet=assoc((hid, W.INS_1, "CVM"), (hid, W.INS_2, "CVM")))
    task = wait_task(vpc, r["RequestId"])
    assert task["Status"] == "SUCCESS" and len(task["Result"]) == 2
    assert members(vpc, hid) == [W.INS_1, W.INS_2]
    h = describe_one(vpc, hid)
    assert (h["State"], h["InstanceId"], h["NetworkInterfaceId"]) == ("UNBIND", "", "")
    # keepalived on INS_1 announces the VIP (gratuitous ARP): INS_1 holds it.
    assert tc_admin.announce(hid, W.INS_1).status_code == 200
    h = describe_one(vpc, hid)
    assert (h["State"], h["InstanceId"], h["NetworkInterfaceId"]) == ("AVAILABLE", W.INS_1, "")
    # Failover to INS_2.
    assert tc_admin.announce(hid, W.INS_2).status_code == 200
    assert describe_one(vpc, hid)["InstanceId"] == W.INS_2
    # Outside the drift range: refused.
    assert tc_admin.announce(hid, W.INS_3).status_code == 409
    # Removing the holder from the drift range unbinds it.
    r = vpc.call("DisassociateHaVipInstance", HaVipAssociationSet=assoc((hid, W.INS_2, "CVM")))
    wait_task(vpc, r["RequestId"])
    h = describe_one(vpc, hid)
    assert (h["State"], h["InstanceId"]) == ("UNBIND", "")
    assert members(vpc, hid) == [W.INS_1]


def test_eni_holder_should_report_eni_and_its_cvm(vpc, tc_admin):
    hid = create(vpc)["HaVipId"]
    r = vpc.call("AssociateHaVipInstance", HaVipAssociationSet=assoc((hid, W.ENI_1, "ENI"), (hid, W.ENI_2, "ENI")))
    wait_task(vpc, r["RequestId"])
    assert tc_admin.announce(hid, W.ENI_2).status_code == 200
    h = describe_one(vpc, hid)
    assert (h["State"], h["NetworkInterfaceId"], h["InstanceId"]) == ("AVAILABLE", W.ENI_2, W.INS_2)
    assert {a["InstanceType"] for a in h["HaVipAssociationSet"]} == {"ENI"}


def test_one_call_may_cover_several_havips(vpc):
    a, b = create(vpc)["HaVipId"], create(vpc)["HaVipId"]
    r = vpc.call("AssociateHaVipInstance", HaVipAssociationSet=assoc((a, W.INS_1, "CVM"), (b, W.INS_1, "CVM")))
    wait_task(vpc, r["RequestId"])
    assert members(vpc, a) == members(vpc, b) == [W.INS_1]
    r = vpc.call("DisassociateHaVipInstance", HaVipAssociationSet=assoc((a, W.INS_1, "CVM"), (b, W.INS_1, "CVM")))
    wait_task(vpc, r["RequestId"])
    assert members(vpc, a) == members(vpc, b) == []


def test_association_errors_should_leave_nothing_behind(vpc):
    hid = create(vpc)["HaVipId"]
    wait_task(vpc, vpc.call("AssociateHaVipInstance", HaVipAssociationSet=assoc((hid, W.INS_1, "CVM")))["RequestId"])
    expect_error("InvalidParameterValue.DuplicatedHaVipAssociations",
                 lambda: vpc.call("AssociateHaVipInstance", HaVipAssociationSet=assoc((hid, W.INS_1, "CVM"))))
    # All or nothing: INS_2 is valid, INS_OTHER is in another subnet.
    expect_error("InvalidParameterValue.ObjectNotCurrentSubnet", lambda: vpc.call(
        "AssociateHaVipInstance", HaVipAssociationSet=assoc((hid, W.INS_2, "CVM"), (hid, W.INS_OTHER, "CVM"))))
    assert members(vpc, hid) == [W.INS_1]
    expect_error("UnsupportedOperation", lambda: vpc.call(
        "AssociateHaVipInstance", HaVipAssociationSet=assoc((hid, W.ENI_2, "ENI"))))  # mixed kinds
    expect_error("UnsupportedOperation", lambda: vpc.call(
        "AssociateHaVipInstance", HaVipAssociationSet=assoc((create(vpc)["HaVipId"], W.ENI_FREE, "ENI"))))
    expect_error("ResourceNotFound", lambda: vpc.call(
        "AssociateHaVipInstance", HaVipAssociationSet=assoc((hid, "ins-zzzzzzzz", "CVM"))))
    expect_error("ResourceNotFound", lambda: vpc.call(
        "AssociateHaVipInstance", HaVipAssociationSet=assoc(("havip-zzzzzzzz", W.INS_2, "CVM"))))
    expect_error("ResourceNotFound", lambda: vpc.call(
        "DisassociateHaVipInstance", HaVipAssociationSet=assoc((hid, W.INS_2, "CVM"))))
    expect_error("InvalidParameterValue", lambda: vpc.call(
        "AssociateHaVipInstance", HaVipAssociationSet=assoc((hid, W.INS_2, "VM"))))
    expect_error("InvalidParameterValue.Malformed", lambda: vpc.call(
        "AssociateHaVipInstance", HaVipAssociationSet=assoc((hid, W.INS_2, "ENI"))))  # ins- as an ENI
    expect_error("MissingParameter", lambda: vpc.call("AssociateHaVipInstance", HaVipAssociationSet=[]))
    expect_error("InvalidParameterValue.LimitExceeded", lambda: vpc.call(
        "AssociateHaVipInstance", HaVipAssociationSet=assoc(*[(hid, W.INS_2, "CVM")] * 11)))
    assert members(vpc, hid) == [W.INS_1]


def test_busy_havip_should_refuse_changes(tc_manual):
    c, adm = tc_manual.client("vpc"), tc_manual.admin
    hid = create(c)["HaVipId"]
    r = c.call("AssociateHaVipInstance", HaVipAssociationSet=assoc((hid, W.INS_1, "CVM")))
    assert c.call("DescribeVpcTaskResult", TaskId=r["RequestId"])["Status"] == "RUNNING"
    expect_error("UnsupportedOperation", lambda: c.call(
        "AssociateHaVipInstance", HaVipAssociationSet=assoc((hid, W.INS_2, "CVM"))))
    adm.advance()
    assert wait_task(c, r["RequestId"])["Status"] == "SUCCESS"
