"""HaVipAssociateAddressIp / HaVipDisassociateAddressIp: EIPs by address, async, AddressIp."""

from tc_harness import TcWorld, create, describe_one, expect_error, wait_task

W = TcWorld


def test_bind_and_unbind_should_show_in_address_ip(vpc):
    h = create(vpc)
    hid = h["HaVipId"]
    r = vpc.call("HaVipAssociateAddressIp", HaVipId=hid, AddressIp=W.EIP_A1[1])
    assert wait_task(vpc, r["RequestId"])["Result"] == [{"ResourceId": hid, "Status": "SUCCESS"}]
    assert describe_one(vpc, hid)["AddressIp"] == W.EIP_A1[1]
    r = vpc.call("HaVipDisassociateAddressIp", HaVipId=hid)
    wait_task(vpc, r["RequestId"])
    assert describe_one(vpc, hid)["AddressIp"] == ""


def test_address_ip_should_appear_only_once_bound(tc_manual):
    c, adm = tc_manual.client("vpc"), tc_manual.admin
    h = create(c)
    r = c.call("HaVipAssociateAddressIp", HaVipId=h["HaVipId"], AddressIp=W.EIP_A1[1])
    assert describe_one(c, h["HaVipId"])["AddressIp"] == ""  # Terraform polls until it is set
    expect_error("UnsupportedOperation.BindEIP",
                 lambda: c.call("HaVipAssociateAddressIp", HaVipId=create(c)["HaVipId"], AddressIp=W.EIP_A1[1]))
    adm.advance()
    wait_task(c, r["RequestId"])
    assert describe_one(c, h["HaVipId"])["AddressIp"] == W.EIP_A1[1]
    r = c.call("HaVipDisassociateAddressIp", HaVipId=h["HaVipId"])
    assert describe_one(c, h["HaVipId"])["AddressIp"] == W.EIP_A1[1]  # until the unbind completes
    expect_error("UnsupportedOperation.MutexOperationTaskRunning",
                 lambda: c.call("HaVipDisassociateAddressIp", HaVipId=h["HaVipId"]))
    adm.advance()
    wait_task(c, r["RequestId"])
    assert describe_one(c, h["HaVipId"])["AddressIp"] == ""


def test_bind_errors(vpc):
    a, b = create(vpc), create(vpc)
    r = vpc.call("HaVipAssociateAddressIp", HaVipId=a["HaVipId"], AddressIp=W.EIP_A3[1])
    wait_task(vpc, r["RequestId"])
    # The EIP is bound already; the HAVIP has an EIP already.
    expect_error("UnsupportedOperation.BindEIP",
                 lambda: vpc.call("HaVipAssociateAddressIp", HaVipId=b["HaVipId"], AddressIp=W.EIP_A3[1]))
    expect_error("UnsupportedOperation.BindEIP",
                 lambda: vpc.call("HaVipAssociateAddressIp", HaVipId=a["HaVipId"], AddressIp=W.EIP_A2[1]))
    expect_error("ResourceNotFound",
                 lambda: vpc.call("HaVipAssociateAddressIp", HaVipId=b["HaVipId"], AddressIp="8.8.8.8"))
    expect_error("ResourceNotFound",
                 lambda: vpc.call("HaVipAssociateAddressIp", HaVipId="havip-zzzzzzzz", AddressIp=W.EIP_A2[1]))
    expect_error("InvalidParameterValue.Malformed",
                 lambda: vpc.call("HaVipAssociateAddressIp", HaVipId=b["HaVipId"], AddressIp="eip-tca00002"))
    expect_error("InvalidParameterValue",
                 lambda: vpc.call("HaVipAssociateAddressIp", HaVipId=b["HaVipId"], AddressIp=W.EIP_A_SH[1]))
    # Another account's EIP does not exist for this one.
    expect_error("ResourceNotFound",
                 lambda: vpc.call("HaVipAssociateAddressIp", HaVipId=b["HaVipId"], AddressIp=W.EIP_B[1]))
    expect_error("MissingParameter", lambda: vpc.call("HaVipAssociateAddressIp", HaVipId=b["HaVipId"]))
    wait_task(vpc, vpc.call("HaVipDisassociateAddressIp", HaVipId=a["HaVipId"])["RequestId"])


def test_unbind_errors(vpc):
    h = create(vpc)
    expect_error("UnsupportedOperation.UnbindEIP", lambda: vpc.call("HaVipDisassociateAddressIp",
                                                                    HaVipId=h["HaVipId"]))
    expect_error("ResourceNotFound", lambda: vpc.call("HaVipDisassociateAddressIp", HaVipId="havip-zzzzzzzz"))
    expect_error("InvalidParameterValue.Malformed", lambda: vpc.call("HaVipDisassociateAddressIp",
                                                                     HaVipId="havip-ZZ"))


def test_ecm_offers_no_eip_actions(ecm):
    expect_error("InvalidAction", lambda: ecm.call_json("HaVipAssociateAddressIp",
                                                        {"HaVipId": "havip-zzzzzzzz", "AddressIp": "1.2.3.4"}))
