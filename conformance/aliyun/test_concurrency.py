"""Concurrent requests: allocation and idempotency must hold when requests race."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from helpers import (
    ApiError,
    World,
    associated_instances,
    describe,
    get_havip,
    unique,
    usable_addresses,
    wait_for_status,
)

THREADS = 8


def race(fn, n: int = THREADS) -> list:
    """Runs ``fn(i)`` n times at once; returns each result or the ApiError it raised."""

    def attempt(i):
        try:
            return fn(i)
        except ApiError as e:
            return e

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(attempt, range(n)))


def test_racing_creates_for_one_explicit_address_should_let_exactly_one_win(server):
    ip = "10.0.4.222"
    clients = [server.client() for _ in range(THREADS)]

    results = race(lambda i: clients[i].call("CreateHaVip", VSwitchId=World.VSW_EXPLICIT, IpAddress=ip))

    winners = [r for r in results if isinstance(r, dict)]
    losers = [r for r in results if isinstance(r, ApiError)]
    assert len(winners) == 1, results
    assert {(e.status, e.code) for e in losers} == {(400, "InvalidIPAddress.AlreadyUsed")}, results


def test_racing_automatic_creates_should_never_hand_out_an_address_twice(make_server):
    srv = make_server(name="race-alloc")
    clients = [srv.client() for _ in range(THREADS)]
    free = usable_addresses(World.CIDR[World.VSW_TINY]) - {World.INSTANCE_IPS[World.I_TINY]}

    results = race(lambda i: clients[i].call("CreateHaVip", VSwitchId=World.VSW_TINY))

    ips = [r["IpAddress"] for r in results if isinstance(r, dict)]
    errors = [r for r in results if isinstance(r, ApiError)]
    assert sorted(ips) == sorted(free), results
    assert len(errors) == THREADS - len(free)
    assert all(400 <= e.status < 500 for e in errors), errors
    assert describe(clients[0], Filter=[{"Key": "VSwitchId", "Value": [World.VSW_TINY]}])["TotalCount"] == len(free)


def test_racing_retries_with_one_client_token_should_create_one_havip(server):
    token, mark = unique("tok-"), unique("race")
    clients = [server.client() for _ in range(THREADS)]
    params = dict(VSwitchId=World.VSW_MAIN, ClientToken=token, Tag=[{"Key": "race", "Value": mark}])

    results = race(lambda i: clients[i].call("CreateHaVip", **params))

    ids = {r["HaVipId"] for r in results if isinstance(r, dict)}
    errors = [r for r in results if isinstance(r, ApiError)]
    assert len(ids) == 1, results
    # a request that finds its twin still running may say so (Terraform retries it)
    assert all(e.code == "LastTokenProcessing" for e in errors), errors
    assert describe(clients[0], Tags=[{"Key": "race", "Value": mark}])["TotalCount"] == 1


def test_racing_associations_should_respect_the_instance_limit(server):
    tea = server.client()
    havip = tea.call("CreateHaVip", VSwitchId=World.VSW_MAIN)["HaVipId"]
    wait_for_status(tea, havip, "Available")
    instances = [World.I_RUN1, World.I_RUN2, World.I_RUN3, World.I_STOPPED]
    clients = [server.client() for _ in instances]

    results = race(lambda i: clients[i].call("AssociateHaVip", HaVipId=havip, InstanceId=instances[i]),
                   n=len(instances))

    accepted = [instances[i] for i, r in enumerate(results) if isinstance(r, dict)]
    assert 1 <= len(accepted) <= 2, results
    refused = {r.code for r in results if isinstance(r, ApiError)}
    assert refused <= {"CountLimitExceeded.HaVipOnECSInstance", "IncorrectHaVipStatus"}, results
    wait_for_status(tea, havip, "InUse")
    assert sorted(associated_instances(get_havip(tea, havip))) == sorted(accepted)
