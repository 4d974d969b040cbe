"""Rate limit (20 requests a second per API), ClientToken idempotency, tenancy, injected faults."""

import concurrent.futures as cf

from tc_harness import SDKError, TcWorld, create, describe_one, expect_error, wait_task

W = TcWorld


def test_default_rate_limit_should_be_twenty_per_second_per_api(tc_fresh):
    srv = tc_fresh(rate=20)
    c = srv.client("vpc")
    codes = []
    for _ in range(40):
        try:
            c.call("DescribeHaVips", Limit=1)
            codes.append("ok")
        except SDKError as e:
            codes.append(e.code)
    assert codes.count("ok") >= 20, codes
    assert "RequestLimitExceeded" in codes, codes
    assert set(codes) <= {"ok", "RequestLimitExceeded"}
    # Another API has its own budget, and so has another account.
    assert create(c)["HaVipId"]
    assert srv.client("vpc", account="B").call("DescribeHaVips")["TotalCount"] == 0


def test_client_token_should_make_create_idempotent(vpc):
    token = "c1f4a5f1-2e0c-4c3c-9a4e-4f1c2d8f7a10-idem"
    params = dict(VpcId=W.VPC_A, SubnetId=W.SUBNET_MAIN, HaVipName="idem", ClientToken=token,
                  Tags=[{"Key": "env", "Value": "prod"}])
    first = vpc.call("CreateHaVip", **params)["HaVip"]
    again = vpc.call("CreateHaVip", **params)["HaVip"]
    assert again["HaVipId"] == first["HaVipId"]
    # The same request through the flattened GET form is the same request.
    from tc_harness import Client
    get = Client(vpc.sdk.profile.httpProfile.endpoint, "vpc", W.AK_A, W.SECRET_A, "ap-guangzhou", method="GET")
    assert get.call("CreateHaVip", **params)["HaVip"]["HaVipId"] == first["HaVipId"]
    expect_error("InvalidParameterValue", lambda: vpc.call("CreateHaVip", **{**params, "HaVipName": "other"}))
    expect_error("InvalidParameterValue.TooLong", lambda: vpc.call("CreateHaVip", **{**params, "ClientToken": "t" * 65}))
    # Without a token there is no idempotency.
    p2 = {k: v for k, v in params.items() if k != "ClientToken"}
    assert vpc.call("CreateHaVip", **p2)["HaVip"]["HaVipId"] != vpc.call("CreateHaVip", **p2)["HaVip"]["HaVipId"]


def test_concurrent_identical_tokens_should_create_one_havip(vpc):
    params = dict(VpcId=W.VPC_A, SubnetId=W.SUBNET_MAIN, HaVipName="race", ClientToken="race-token-1")
    with cf.ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: vpc.call("CreateHaVip", **params)["HaVip"]["HaVipId"], range(8)))
    assert len(set(got)) == 1


def test_accounts_should_not_see_each_other(tc_server, vpc):
    b = tc_server.client("vpc", account="B")
    h = create(vpc)
    hid = h["HaVipId"]
    assert b.call("DescribeHaVips", HaVipIds=[hid])["HaVipSet"] == []
    assert hid not in [x["HaVipId"] for x in b.call("DescribeHaVips", Limit=100)["HaVipSet"]]
    expect_error("ResourceNotFound", lambda: b.call("ModifyHaVipAttribute", HaVipId=hid, HaVipName="x"))
    expect_error("ResourceNotFound", lambda: b.call("DeleteHaVip", HaVipId=hid))
    expect_error("ResourceNotFound", lambda: b.call("HaVipAssociateAddressIp", HaVipId=hid, AddressIp=W.EIP_B[1]))
    expect_error("ResourceNotFound", lambda: b.call("AssociateHaVipInstance", HaVipAssociationSet=[
        {"HaVipId": hid, "InstanceId": W.INS_B, "InstanceType": "CVM"}]))
    # B cannot use A's network either.
    expect_error("ResourceNotFound", lambda: create(b))
    mine = create(b, W.SUBNET_B, W.VPC_B)
    assert mine["VpcId"] == W.VPC_B
    # Another region of the same account is another scope.
    sh = tc_server.client("vpc", region="ap-shanghai")
    assert sh.call("DescribeHaVips", HaVipIds=[hid])["HaVipSet"] == []
    ecm_b = tc_server.client("ecm", account="B")
    expect_error("ResourceNotFound", lambda: ecm_b.call("DeleteHaVip", HaVipId=hid))
    assert describe_one(vpc, hid) is not None


def test_injected_faults_should_use_tencent_codes(vpc, tc_admin):
    tc_admin.inject_fault("DescribeHaVips", "Throttling.User")
    expect_error("RequestLimitExceeded", lambda: vpc.call("DescribeHaVips"))
    tc_admin.inject_fault("CreateHaVip", "SystemBusy")
    expect_error("InternalError", lambda: create(vpc))
    tc_admin.inject_fault("DeleteHaVip", "OperationConflict")
    h = create(vpc)
    expect_error("UnsupportedOperation.MutexOperationTaskRunning", lambda: vpc.call("DeleteHaVip",
                                                                                   HaVipId=h["HaVipId"]))
    wait_task(vpc, vpc.call("DeleteHaVip", HaVipId=h["HaVipId"])["RequestId"])
