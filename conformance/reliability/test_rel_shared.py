"""What nodes on one PostgreSQL database share besides the HAVIPs (RELIABILITY.md §3): the
nonces they accepted (a request replayed to another node is refused), and the access keys
and regions changed through one node's admin API (in force on the others without a restart).
"""

from __future__ import annotations

import time
import uuid

from helpers import REGION, utc_stamp
from rel_harness import World, describe_all, figure, v2_request, v3_request

# A key of account A that the topology does not have; the tests add, change and remove it.
AK_NEW = "LTAI5tRelSharedKey000009"
SECRET_NEW = "RelSharedSecret000000000000009"
SECRET_NEW_2 = "RelSharedSecretReplaced00000009"

# How long a change may take to reach another node (README: within about a second, the
# generation poll; a notification usually brings it within milliseconds).
REACH_LIMIT_S = 3.0


def _code(resp) -> str:
    return resp.json().get("Code", "") if resp.status != 200 else ""


def test_a_request_replayed_to_another_node_should_be_refused_with_signature_nonce_used(nodes, pg_db):
    a, b, c = nodes(3, store=pg_db.url, mode="immediate")
    sent = refused = 0
    for gen, send in (("V3", v3_request), ("V2", v2_request)):
        # A read: the very same bytes (same nonce, same timestamp, same signature) to each node.
        stamp, nonce = utc_stamp(), uuid.uuid4().hex
        kw = {"date": stamp} if gen == "V3" else {"timestamp": stamp}
        first = send(a.aliyun_endpoint, "DescribeHaVips", {}, nonce=nonce, **kw)
        assert first.status == 200, first.body[:300]
        for other in (b, c, a):
            again = send(other.aliyun_endpoint, "DescribeHaVips", {}, nonce=nonce, **kw)
            assert again.status == 400 and _code(again) == "SignatureNonceUsed", (gen, other.name, again.body[:300])
            refused += 1
        sent += 4
        # A write without ClientToken: the replay on another node must not create a twin.
        mark = f"replay-{gen}-{uuid.uuid4().hex[:8]}"
        params = {"VSwitchId": World.VSW_MAIN, "Tag.1.Key": "rel", "Tag.1.Value": mark}
        stamp, nonce = utc_stamp(), uuid.uuid4().hex
        kw = {"date": stamp} if gen == "V3" else {"timestamp": stamp}
        made = send(b.aliyun_endpoint, "CreateHaVip", params, nonce=nonce, **kw)
        assert made.status == 200, made.body[:300]
        for other in (c, a):
            twin = send(other.aliyun_endpoint, "CreateHaVip", params, nonce=nonce, **kw)
            assert twin.status == 400 and _code(twin) == "SignatureNonceUsed", (gen, other.name, twin.body[:300])
            refused += 1
        sent += 3
        for srv in (a, b, c):
            listed = describe_all(srv, Tags=[{"Key": "rel", "Value": mark}])
            assert [h["HaVipId"] for h in listed] == [made.json()["HaVipId"]], (srv.name, listed)
    # A fresh nonce is still accepted everywhere (the ledger refuses replays, not requests).
    for srv in (a, b, c):
        assert v3_request(srv.aliyun_endpoint, "DescribeHaVips", {}).status == 200
        sent += 1
    rows = pg_db.query("SELECT COUNT(*) FROM nonces")[0][0]
    figure(f"[shared/nonce] PostgreSQL, 3 nodes: requests sent {sent}, replays to another node {refused}, "
           f"refused with SignatureNonceUsed {refused}, twins created 0, nonce rows {rows}")


def _until(srv, want, *, key=AK_NEW, secret=SECRET_NEW, region=REGION) -> tuple[float, int]:
    """Sends fresh signed DescribeHaVips to ``srv`` until ``want(resp)``; returns (seconds, tries)."""
    t0 = time.monotonic()
    tries = 0
    while True:
        tries += 1
        resp = v3_request(srv.aliyun_endpoint, "DescribeHaVips", {"RegionId": region},
                          access_key_id=key, secret=secret)
        if want(resp):
            return time.monotonic() - t0, tries
        elapsed = time.monotonic() - t0
        assert elapsed < REACH_LIMIT_S, (
            f"{srv.name} still answers {resp.status} {resp.body[:200]!r} {elapsed:.2f}s after the change")
        time.sleep(0.01)


def _account_a(keys: list[dict]) -> dict:
    return {"id": World.ACCOUNT_A, "cloud": "aliyun", "name": "conformance-a", "access_keys": keys}


def test_keys_and_regions_changed_through_one_node_should_reach_the_others_without_a_restart(nodes, pg_db):
    a, b = nodes(2, store=pg_db.url, mode="immediate")
    original = {"id": World.AK_A, "secret": World.SECRET_A}
    ok = lambda r: r.status == 200  # noqa: E731
    unknown = lambda r: r.status == 404 and _code(r) == "InvalidAccessKeyId.NotFound"  # noqa: E731
    mismatch = lambda r: r.status == 400 and _code(r) == "SignatureDoesNotMatch"  # noqa: E731

    assert unknown(v3_request(b.aliyun_endpoint, "DescribeHaVips", {}, access_key_id=AK_NEW, secret=SECRET_NEW))
    times = {}
    # Added on A, used on B.
    a.admin.upsert(account=[_account_a([original, {"id": AK_NEW, "secret": SECRET_NEW}])])
    times["key added"] = _until(b, ok)
    # Its secret replaced on A: B refuses the old one, accepts the new one.
    a.admin.upsert(account=[_account_a([original, {"id": AK_NEW, "secret": SECRET_NEW_2}])])
    times["secret replaced (old refused)"] = _until(b, mismatch)
    assert ok(v3_request(b.aliyun_endpoint, "DescribeHaVips", {}, access_key_id=AK_NEW, secret=SECRET_NEW_2))
    # Revoked on B this time: A refuses it.
    b.admin.upsert(account=[_account_a([original])])
    times["key revoked"] = _until(a, unknown, secret=SECRET_NEW_2)
    # The original key was never out of service on either node.
    for srv in (a, b):
        assert ok(v3_request(srv.aliyun_endpoint, "DescribeHaVips", {})), srv.name
    # A region added on A is served by B.
    new_region = "cn-zhangjiakou"
    before = v3_request(b.aliyun_endpoint, "DescribeHaVips", {"RegionId": new_region})
    assert before.status != 200, before.body[:200]
    a.admin.upsert(region=[{"cloud": "aliyun", "id": new_region}])
    times["region added"] = _until(b, ok, key=World.AK_A, secret=World.SECRET_A, region=new_region)
    assert describe_all(b) == describe_all(a)
    worst = max(t for t, _ in times.values())
    detail = ", ".join(f"{k} {t * 1000:.0f} ms ({n} tries)" for k, (t, n) in times.items())
    figure(f"[shared/keys] PostgreSQL, 2 nodes, change on one node until the other obeys: {detail}; "
           f"worst {worst * 1000:.0f} ms (limit {REACH_LIMIT_S:.0f} s)")
