"""Concurrency across nodes: three havipd processes on one PostgreSQL database, hammered by
client threads spread over all three (RELIABILITY.md §1).

Every test gets a fresh database; every loop is bounded (attempts per thread), so a server
that never answers the expected error fails the test instead of hanging it.
"""

from __future__ import annotations

import collections
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from rel_harness import (
    CIDR_27,
    GENEROUS_QUOTAS,
    VSW_27,
    ApiError,
    World,
    call,
    check_allocator,
    db_state,
    describe_all,
    figure,
    usable_addresses,
)

NODES = 3
THREADS_PER_NODE = 4


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = 0
        self.ok: list[dict] = []
        self.errors: collections.Counter = collections.Counter()

    def send(self, srv, action, **params):
        with self.lock:
            self.sent += 1
        try:
            body = call(srv, action, **params)
        except ApiError as e:
            with self.lock:
                self.errors[(e.status, e.code)] += 1
            raise
        with self.lock:
            self.ok.append(body)
        return body


def hammer(servers, worker, threads_per_node=THREADS_PER_NODE):
    """Runs ``worker(srv, k)`` on threads_per_node threads per node at once."""
    jobs = [(srv, k) for k in range(threads_per_node) for srv in servers]
    start = threading.Barrier(len(jobs))

    def run(job):
        start.wait(timeout=30)
        return worker(*job)

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))


def test_racing_creates_on_three_nodes_should_fill_a_vswitch_with_every_address_handed_out_once(nodes, pg_db):
    servers = nodes(NODES, store=pg_db.url, mode="immediate", quotas=GENEROUS_QUOTAS)
    free = usable_addresses(CIDR_27)
    tally = Tally()
    rounds = 3  # fill the block, empty it through every node, fill it again
    max_attempts = len(free) + 10  # per thread and round: enough to see the end of the block, then stop
    handed_total = dups_total = 0
    t0 = time.monotonic()
    for r in range(rounds):
        first = len(tally.ok)

        def worker(srv, _k):
            exhausted = 0
            for _ in range(max_attempts):
                try:
                    tally.send(srv, "CreateHaVip", VSwitchId=VSW_27)
                except ApiError as e:
                    if e.code == "InvalidVSwitchId.IpNotEnough":
                        exhausted += 1
                        if exhausted >= 2:  # the answer holds: it is not a one-off
                            return True
            return False

        saw_end = hammer(servers, worker)
        created = tally.ok[first:]
        handed = [b["IpAddress"] for b in created]
        ids = [b["HaVipId"] for b in created]
        dups = len(handed) - len(set(handed))
        handed_total += len(handed)
        dups_total += dups
        assert dups == 0, (f"round {r}: addresses handed out twice: "
                           f"{[ip for ip, n in collections.Counter(handed).items() if n > 1]}")
        assert len(set(ids)) == len(ids), f"round {r}: one HaVipId answered twice"
        assert set(handed) == free, (f"round {r}: not handed out: {sorted(free - set(handed))}; "
                                     f"outside the block: {sorted(set(handed) - free)}")
        assert all(saw_end), f"round {r}: a thread never got InvalidVSwitchId.IpNotEnough"
        assert set(tally.errors) == {(400, "InvalidVSwitchId.IpNotEnough")}, dict(tally.errors)

        expected = {(h, ip) for h, ip in zip(ids, handed)}
        for srv in servers:  # every node sees the same, complete picture
            items = describe_all(srv, VSwitchId=VSW_27)
            assert {(i["HaVipId"], i["IpAddress"]) for i in items} == expected, (r, srv.name)
        check_allocator(db_state(servers[0], pg_db), describe_all(servers[0]))
        if r == rounds - 1:
            break
        # Empty the block, the deletes spread over the three nodes at once.
        with ThreadPoolExecutor(max_workers=len(ids)) as pool:
            list(pool.map(lambda j: tally.send(servers[j % NODES], "DeleteHaVip", HaVipId=ids[j]), range(len(ids))))
        deadline = time.monotonic() + 10
        while describe_all(servers[r % NODES], VSwitchId=VSW_27):
            assert time.monotonic() < deadline, f"round {r}: deleted HAVIPs never went away"
            time.sleep(0.05)
    elapsed = time.monotonic() - t0
    checked = check_allocator(db_state(servers[0], pg_db), describe_all(servers[0]))
    figure(f"[nodes/exhaustion] PostgreSQL, {NODES} nodes x {THREADS_PER_NODE} threads, /27 ({len(free)} usable), "
           f"{rounds} fills (emptied in between): requests sent {tally.sent}, addresses handed out {handed_total}, "
           f"IpNotEnough answers {tally.errors[(400, 'InvalidVSwitchId.IpNotEnough')]}, addresses checked "
           f"{handed_total} + allocator {checked}, duplicates found: {dups_total}, {elapsed:.1f}s")


def test_quota_should_never_be_exceeded_when_three_nodes_create_at_once(nodes, pg_db):
    quota = 12
    servers = nodes(NODES, store=pg_db.url, mode="immediate",
                    quotas={**GENEROUS_QUOTAS, "havips_per_account": quota})
    tally = Tally()

    def worker(srv, _k, attempts):
        for _ in range(attempts):
            try:
                tally.send(srv, "CreateHaVip", VSwitchId=World.VSW_MAIN)
            except ApiError:
                pass

    hammer(servers, lambda s, k: worker(s, k, 5))
    first_round = len(tally.ok)
    assert first_round == quota, f"{first_round} HAVIPs created with havips_per_account = {quota}"
    assert set(tally.errors) == {(403, "QuotaExceeded.HaVip")}, dict(tally.errors)
    living = describe_all(servers[1])
    assert len(living) == quota, [i["HaVipId"] for i in living]

    # Free three places through three different nodes, then race again: exactly three more.
    freed = [i["HaVipId"] for i in living[:3]]
    for srv, hid in zip(servers, freed):
        call(srv, "DeleteHaVip", HaVipId=hid)
    deadline = time.monotonic() + 10
    while {i["HaVipId"] for i in describe_all(servers[2])} & set(freed):
        assert time.monotonic() < deadline, "deleted HAVIPs never went away"
        time.sleep(0.05)
    hammer(servers, lambda s, k: worker(s, k, 3))
    assert len(tally.ok) - first_round == 3, f"{len(tally.ok) - first_round} created into 3 free places"
    assert set(tally.errors) == {(403, "QuotaExceeded.HaVip")}, dict(tally.errors)
    for srv in servers:
        assert len(describe_all(srv)) == quota, srv.name
    checked = check_allocator(db_state(servers[0], pg_db), describe_all(servers[0]))
    figure(f"[nodes/quota] PostgreSQL, {NODES} nodes x {THREADS_PER_NODE} threads, havips_per_account={quota}: "
           f"requests sent {tally.sent}, created {len(tally.ok)} (quota {quota}, then 3 deleted and 3 re-created), "
           f"QuotaExceeded answers {tally.errors[(403, 'QuotaExceeded.HaVip')]}, living after each round {quota}, "
           f"addresses checked {checked}, duplicates found: 0")


def test_one_client_token_sent_to_three_nodes_at_once_should_create_one_havip(nodes, pg_db):
    servers = nodes(NODES, store=pg_db.url, mode="immediate", quotas=GENEROUS_QUOTAS)
    rounds = 6
    tally = Tally()
    extra_ids = 0
    for r in range(rounds):
        token = f"rel-{uuid.uuid4().hex}"
        mark = f"tok{r}-{uuid.uuid4().hex[:8]}"
        params = dict(VSwitchId=World.VSW_MAIN, ClientToken=token, Tag=[{"Key": "rel", "Value": mark}])

        def worker(srv, _k):
            try:
                return tally.send(srv, "CreateHaVip", **params)["HaVipId"]
            except ApiError as e:
                return e

        results = hammer(servers, worker)
        ids = {x for x in results if isinstance(x, str)}
        errors = [x for x in results if not isinstance(x, str)]
        assert len(ids) == 1, f"round {r}: one token gave {ids}"
        # a twin still in flight may be told so (Terraform retries LastTokenProcessing)
        assert all(e.code == "LastTokenProcessing" for e in errors), errors
        havip = ids.pop()
        for srv in servers:  # the answer is remembered on every node
            assert call(srv, "CreateHaVip", **params)["HaVipId"] == havip, srv.name
            tally.sent += 1
            listed = describe_all(srv, Tags=[{"Key": "rel", "Value": mark}])
            assert [i["HaVipId"] for i in listed] == [havip], (srv.name, listed)
        extra_ids += len(listed) - 1
    everything = describe_all(servers[0])
    assert len(everything) == rounds, [i["HaVipId"] for i in everything]
    checked = check_allocator(db_state(servers[0], pg_db), everything)
    figure(f"[nodes/token] PostgreSQL, {NODES} nodes x {THREADS_PER_NODE} threads, {rounds} tokens: requests sent "
           f"{tally.sent}, HAVIPs created {len(everything)} (one per token), LastTokenProcessing answers "
           f"{tally.errors[(400, 'LastTokenProcessing')]}, addresses checked {checked}, duplicates found: {extra_ids}")

