#!/usr/bin/env bash
# Every test the project has, in order: the Rust workspace tests, then the black-box
# conformance suite (the clouds' official Python SDKs against the real havipd binary).
# Exits non-zero as soon as either fails.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

# A throwaway PostgreSQL cluster for the PostgreSQL backend's tests (scripts/postgres.sh:
# installed from Debian's packages if missing, stopped and removed on exit). If it cannot be
# brought up, this script fails: those tests are never skipped.
source "$ROOT/scripts/postgres.sh"
trap havip_pg_down EXIT
havip_pg_up

echo "==> cargo test --workspace (PostgreSQL tests included)"
cargo test --workspace --features havip-store-postgres/postgres-tests

echo "==> cargo build -p havipd"
cargo build -p havipd

# The data plane end to end (crates/havip-lab/tests/e2e.rs): havipd with the Linux backend and
# with the OVN backend (OVS userspace datapath, OVN daemons started by the test itself),
# keepalived in network namespaces, failover, a rogue claimant, drift repair, the EIP path.
# Needs root; installs the Debian packages it uses when missing (there is no systemd here,
# so their postinst cannot start services; the test starts its own daemons). It never
# skips: without root or the tools, it fails.
echo "==> data plane end to end (root, network namespaces; Linux and OVN)"
if [ "$(id -u)" != 0 ]; then
    echo "the data-plane end-to-end test needs root" >&2
    exit 1
fi
DP_PACKAGES="keepalived nftables iputils-ping iputils-arping ethtool openvswitch-switch ovn-central ovn-host"
dp_missing=0
for tool in keepalived nft ping arping ethtool ovs-vswitchd ovsdb-server ovn-northd ovn-controller ovn-nbctl; do
    command -v "$tool" >/dev/null || dp_missing=1
done
if [ "$dp_missing" = 1 ]; then
    echo "==> apt-get install $DP_PACKAGES"
    # No service may start at install time (the test runs its own daemons): a policy-rc.d
    # that refuses, unless the machine already has one.
    policy_added=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy_added=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $DP_PACKAGES >/dev/null
    if [ "$policy_added" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
HAVIPD_BIN="$ROOT/target/debug/havipd" timeout 600 \
    cargo test -p havip-lab --features privileged-tests --test e2e -- --nocapture --test-threads=1

VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    python3 -m venv "$VENV"
fi
echo "==> pip install -r conformance/requirements.txt"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r conformance/requirements.txt

export HAVIPD_BIN="${HAVIPD_BIN:-$ROOT/target/debug/havipd}"
# First pass: every suite, the SDK suites on SQLite (HAVIP_STORE_URL unset), the reliability
# suite on both backends as each test chooses.
echo "==> pytest conformance (havipd: $HAVIPD_BIN; SDK suites on SQLite)"
env -u HAVIP_STORE_URL "$VENV/bin/python" -m pytest conformance -q --timeout=120 -p no:cacheprovider
# Second pass: the three SDK suites again, every havipd on a database of its own on this
# script's PostgreSQL cluster (conformance/havip_store.py). No SDK test is SQLite-only.
echo "==> pytest conformance/{aliyun,tencent,baidu} on PostgreSQL (HAVIP_STORE_URL)"
HAVIP_STORE_URL="$HAVIP_TEST_POSTGRES_URL" "$VENV/bin/python" -m pytest \
    conformance/aliyun conformance/tencent conformance/baidu -q --timeout=120 -p no:cacheprovider
