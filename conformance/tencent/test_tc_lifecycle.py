"""ModifyHaVipAttribute, DeleteHaVip and DescribeVpcTaskResult polling (VPC and ECM)."""

from tc_harness import TcWorld, create, describe_one, expect_error, wait_for, wait_task

W = TcWorld


def test_modify_should_rename(vpc, ecm):
    h = create(vpc)
    resp = vpc.call("ModifyHaVipAttribute", HaVipId=h["HaVipId"], HaVipName="new name")
    assert resp["RequestId"]
    assert describe_one(vpc, h["HaVipId"])["HaVipName"] == "new name"
    e = ecm.call("CreateHaVip", VpcId=W.VPC_ECM, SubnetId=W.SUBNET_ECM, HaVipName="before")["HaVip"]
    ecm.call("ModifyHaVipAttribute", HaVipId=e["HaVipId"], HaVipName="renamed-havip")
    got = ecm.call("DescribeHaVips", HaVipIds=[e["HaVipId"]])["HaVipSet"][0]
    assert got["HaVipName"] == "renamed-havip"


def test_modify_errors(vpc, ecm):
    h = create(vpc)
    expect_error("ResourceNotFound", lambda: vpc.call("ModifyHaVipAttribute", HaVipId="havip-zzzzzzzz",
                                                      HaVipName="x"))
    expect_error("InvalidParameterValue.Malformed", lambda: vpc.call("ModifyHaVipAttribute", HaVipId="bad",
                                                                     HaVipName="x"))
    expect_error("InvalidParameterValue.TooLong", lambda: vpc.call("ModifyHaVipAttribute", HaVipId=h["HaVipId"],
                                                                   HaVipName="x" * 61))
    expect_error("MissingParameter", lambda: vpc.call("ModifyHaVipAttribute", HaVipId=h["HaVipId"]))
    expect_error("ResourceNotFound", lambda: ecm.call("ModifyHaVipAttribute", HaVipId="havip-zzzzzzzz",
                                                      HaVipName="x"))
    expect_error("InvalidParameterValue.TooLong", lambda: ecm.call("ModifyHaVipAttribute", HaVipId=h["HaVipId"],
                                                                   HaVipName="x" * 61))


def test_delete_should_be_async_and_pollable(vpc):
    h = create(vpc)
    resp = vpc.call("DeleteHaVip", HaVipId=h["HaVipId"])
    task = wait_task(vpc, resp["RequestId"])
    assert task["Status"] == "SUCCESS"
    assert task["Result"] == [{"ResourceId": h["HaVipId"], "Status": "SUCCESS"}]
    assert describe_one(vpc, h["HaVipId"]) is None
    expect_error("ResourceNotFound", lambda: vpc.call("DeleteHaVip", HaVipId=h["HaVipId"]))
    # Its address is free again.
    again = create(vpc, Vip=h["Vip"])
    assert again["Vip"] == h["Vip"]


def test_task_should_stay_running_until_the_work_is_done(tc_manual):
    c, adm = tc_manual.client("vpc"), tc_manual.admin
    h = create(c)
    resp = c.call("DeleteHaVip", HaVipId=h["HaVipId"])
    running = c.call("DescribeVpcTaskResult", TaskId=resp["RequestId"])
    assert running["Status"] == "RUNNING" and running["Result"][0]["Status"] == "RUNNING"
    # While deleting, the HAVIP refuses other changes.
    expect_error("UnsupportedOperation", lambda: c.call("ModifyHaVipAttribute", HaVipId=h["HaVipId"],
                                                        HaVipName="x"))
    adm.advance()
    assert wait_task(c, resp["RequestId"])["Status"] == "SUCCESS"
    assert describe_one(c, h["HaVipId"]) is None


def test_task_ids_should_be_request_ids_of_async_calls_only(vpc, tc_server):
    h = create(vpc)
    sync = vpc.call("ModifyHaVipAttribute", HaVipId=h["HaVipId"], HaVipName="x")
    expect_error("ResourceNotFound", lambda: vpc.call("DescribeVpcTaskResult", TaskId=sync["RequestId"]))
    expect_error("ResourceNotFound", lambda: vpc.call("DescribeVpcTaskResult", TaskId="no-such-task"))
    expect_error("MissingParameter", lambda: vpc.call("DescribeVpcTaskResult"))
    # Tasks belong to the account that started them.
    resp = vpc.call("DeleteHaVip", HaVipId=h["HaVipId"])
    b = tc_server.client("vpc", account="B")
    expect_error("ResourceNotFound", lambda: b.call("DescribeVpcTaskResult", TaskId=resp["RequestId"]))


def test_ecm_delete(ecm):
    e = ecm.call("CreateHaVip", VpcId=W.VPC_ECM, SubnetId=W.SUBNET_ECM, HaVipName="del")["HaVip"]
    ecm.call("DeleteHaVip", HaVipId=e["HaVipId"])
    wait_for(lambda: ecm.call("DescribeHaVips", HaVipIds=[e["HaVipId"]])["HaVipSet"] == [], what="ECM delete")
    expect_error("ResourceNotFound", lambda: ecm.call("DeleteHaVip", HaVipId=e["HaVipId"]))
    expect_error("InvalidParameterValue.Malformed", lambda: ecm.call("DeleteHaVip", HaVipId="havip-"))


def test_delete_should_refuse_while_an_eip_is_bound(vpc):
    h = create(vpc)
    r = vpc.call("HaVipAssociateAddressIp", HaVipId=h["HaVipId"], AddressIp=W.EIP_A2[1])
    wait_task(vpc, r["RequestId"])
    expect_error("UnsupportedOperation", lambda: vpc.call("DeleteHaVip", HaVipId=h["HaVipId"]))
    r = vpc.call("HaVipDisassociateAddressIp", HaVipId=h["HaVipId"])
    wait_task(vpc, r["RequestId"])
    wait_task(vpc, vpc.call("DeleteHaVip", HaVipId=h["HaVipId"])["RequestId"])
