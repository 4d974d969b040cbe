#!/usr/bin/env bash
# The whole benchmark table of BENCHMARKS.md, in one bounded run (about 7 minutes once the
# release build is warm; a cold build adds ~3 minutes). Everything runs on 127.0.0.1; every
# step has a time bound; every process this script starts is stopped by its PID on exit.
#
#   bash bench/run.sh                 # writes bench/results/latest.json, prints the table
#   BENCH_DURATION=5s bash bench/run.sh   # shorter windows (default 10s per scenario)
#
# Steps: release build; the disk's single-commit ceiling (raw 4 KiB fdatasync, SQLite WAL
# FULL); claim_any in a /8 holding 1M addresses; seed 100,000 HAVIPs; havipd (release,
# operations.mode = immediate, port 0) under Describe (V3 and V2), Create (+ convergence
# probes), Associate/Unassociate cycles and the 90/10 mix, 64 connections each; the bare
# hyper ceiling with Describe's answer size; the same Describe with server and generator
# pinned to one core each; PostgreSQL (a throwaway cluster as scripts/postgres.sh brings
# for the tests, in the work directory): the same 100k world seeded into a database, then
# Describe (V3), Create (+ probes) and the 90/10 mix against one havipd on it and against
# two havipd on one database with the connections split between them; moto (in
# bench/.venv) under DescribeNetworkInterfaces and CreateNetworkInterface; 1,000,000 HAVIPs
# seeded, then havipd restarted on them twice (the second time after dropping the page
# cache, when allowed): time to first answer and RSS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
DUR="${BENCH_DURATION:-10s}"
CONNS="${BENCH_CONNECTIONS:-64}"
WARM="${BENCH_WARMUP:-1s}"
WORK="${BENCH_WORK:-$ROOT/target/bench-work}"
RES="$ROOT/bench/results"
START=$SECONDS
PIDS=()

cleanup() {
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && timeout 15 tail --pid="$p" -f /dev/null 2>/dev/null || true
    done
    # The PostgreSQL cluster (if this run started one), once its clients are gone.
    if declare -F havip_pg_down >/dev/null; then
        havip_pg_down
    fi
}
trap cleanup EXIT

step() { echo "==> [$((SECONDS - START))s] $*" >&2; }

wait_file() { # path, seconds
    local i
    for ((i = 0; i < $2 * 100; i++)); do
        [ -s "$1" ] && return 0
        sleep 0.01
    done
    echo "timed out waiting for $1" >&2
    return 1
}

step "cargo build --release -p havipd -p havip-loadgen"
cargo build --release -p havipd -p havip-loadgen >&2
L="$ROOT/target/release/havip-loadgen"
HAVIPD="$ROOT/target/release/havipd"

rm -rf "$WORK"
mkdir -p "$WORK" "$RES"
OUT="$WORK/out"
mkdir -p "$OUT"

step "disk single-commit ceiling (3 s raw fdatasync, 3 s SQLite)"
timeout 60 "$L" fsync --dir "$WORK/fsync" --each 3s --json "$OUT/fsync.json"

step "claim_any in a /8 holding 1,000,000 addresses"
timeout 180 "$L" alloc --dir "$WORK/alloc" --held 1000000 --samples 20000 --json "$OUT/alloc.json"
rm -rf "$WORK/alloc"

step "seed 100,000 HAVIPs (1,000 per VPC) + 64 associate couples"
timeout 120 "$L" seed --data-dir "$WORK/d100k" --havips 100000 --per-vpc 1000 --pairs "$CONNS" \
    --manifest "$WORK/m100k.json"

cat > "$WORK/havipd.toml" <<TOML
[listen]
admin = "127.0.0.1:0"
aliyun = "127.0.0.1:0"
tencent = "127.0.0.1:0"
baidu = "127.0.0.1:0"
[admin]
token = "bench-admin-token"
[operations]
mode = "immediate"
[quotas.aliyun]
havips_per_vpc = 100000000
havips_per_account = 100000000
TOML

start_havipd() { # data dir, extra prefix (e.g. taskset -c 0), config (default havipd.toml)
    rm -f "$1/ports.json"
    # shellcheck disable=SC2086
    $2 "$HAVIPD" --config "${3:-$WORK/havipd.toml}" --data-dir "$1" 2>>"$WORK/havipd.log" &
    HPID=$!
    PIDS+=("$HPID")
    wait_file "$1/ports.json" 20
}
stop() { kill -TERM "$1" 2>/dev/null || true; timeout 20 tail --pid="$1" -f /dev/null || true; }

run() { # label, scenario, extra args...
    local label=$1 scenario=$2
    shift 2
    step "run $label"
    timeout 150 "$L" run --scenario "$scenario" --connections "$CONNS" --duration "$DUR" \
        --warmup "$WARM" --label "$label" --json "$OUT/$label.json" "$@"
}

step "havipd on 100k HAVIPs (release, immediate operations)"
start_havipd "$WORK/d100k" ""
P="--ports-file $WORK/d100k/ports.json --manifest $WORK/m100k.json"
# shellcheck disable=SC2086
{
    run describe describe $P
    run describe-v2 describe $P --sig v2
    run create create $P --probes 4
    run associate associate $P
    run mix mix $P
}
stop "$HPID"

step "ceiling: bare hyper with Describe's answer size"
BYTES=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["response_bytes"])' "$OUT/describe.json")
"$L" ceiling --bytes "$BYTES" --port-file "$WORK/ceiling.port" 2>/dev/null &
CPID=$!
PIDS+=("$CPID")
wait_file "$WORK/ceiling.port" 10
run ceiling describe --target "$(cat "$WORK/ceiling.port")" --manifest "$WORK/m100k.json"
stop "$CPID"

step "pinned variant: server on CPU 0, generator on CPU 1"
rm -f "$WORK/ceiling.port"
taskset -c 0 "$L" ceiling --bytes "$BYTES" --port-file "$WORK/ceiling.port" 2>/dev/null &
CPID=$!
PIDS+=("$CPID")
wait_file "$WORK/ceiling.port" 10
run ceiling-pinned describe --target "$(cat "$WORK/ceiling.port")" --manifest "$WORK/m100k.json"
stop "$CPID"
start_havipd "$WORK/d100k" "taskset -c 0"
L_SAVED=$L
L="taskset -c 1 $L_SAVED"
run() { # the same, through taskset
    local label=$1 scenario=$2
    shift 2
    step "run $label"
    # shellcheck disable=SC2086
    timeout 150 $L run --scenario "$scenario" --connections "$CONNS" --duration "$DUR" \
        --warmup "$WARM" --label "$label" --json "$OUT/$label.json" "$@"
}
# shellcheck disable=SC2086
run describe-pinned describe $P
stop "$HPID"
L=$L_SAVED
run() { # back to the unpinned generator
    local label=$1 scenario=$2
    shift 2
    step "run $label"
    timeout 150 "$L" run --scenario "$scenario" --connections "$CONNS" --duration "$DUR" \
        --warmup "$WARM" --label "$label" --json "$OUT/$label.json" "$@"
}

step "havipd on 100k HAVIPs with one connection thread (the ceiling's runtime shape)"
# The ceiling serves on one current-thread runtime; havipd by default runs one per core
# (listen.threads = 0), which on this 2-core machine compete with the generator for both
# cores. One connection thread gives havipd the ceiling's shape: the same comparison, with
# the thread-count difference taken out.
sed 's/^\[listen\]$/[listen]\nthreads = 1/' "$WORK/havipd.toml" >"$WORK/havipd-1t.toml"
start_havipd "$WORK/d100k" "" "$WORK/havipd-1t.toml"
# shellcheck disable=SC2086
run describe-1t describe $P
stop "$HPID"

# PostgreSQL: the cluster scripts/postgres.sh brings for the tests (the Debian package is
# installed when initdb is missing; default settings but max_connections; fsync and
# synchronous_commit on), here in the work directory on the repository's disk, as SQLite.
# Its own cluster even when HAVIP_TEST_POSTGRES_URL is set. Stopped and removed by the EXIT
# trap, or at the end of this section.
step "PostgreSQL: throwaway cluster on 127.0.0.1 (scripts/postgres.sh)"
# shellcheck source=../scripts/postgres.sh
source "$ROOT/scripts/postgres.sh"
unset HAVIP_TEST_POSTGRES_URL
TMPDIR="$WORK" havip_pg_up >&2
PG_ADMIN="$HAVIP_TEST_POSTGRES_URL"
PG_BASE="${PG_ADMIN%/*}"
"$HAVIP_PG_BIN/pg_ctl" --version | awk '{print $3}' >"$OUT/pg-version.txt"
psql_admin() { timeout 120 "$HAVIP_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_admin "$PG_ADMIN" -c "CREATE DATABASE havip_seed"
# Seeding is one round trip per statement, ~7 per HAVIP, in transactions that PostgreSQL
# serialises (one account): it goes through the cluster's Unix socket, a quarter faster than
# TCP here. havipd itself talks TCP to 127.0.0.1.
PG_SOCK="postgres://postgres@$(python3 -c 'import sys, urllib.parse as u; print(u.quote(sys.argv[1], safe=""))' "$HAVIP_PG_DIR"):${PG_BASE##*:}"
step "PostgreSQL: seed 100,000 HAVIPs (1,000 per VPC) + $CONNS couples, as for SQLite"
timeout 300 "$L" seed --store "$PG_SOCK/havip_seed" --havips 100000 --per-vpc 1000 \
    --pairs "$CONNS" --manifest "$WORK/mpg.json"
cp "$WORK/mpg.json" "$OUT/seed-pg.json"
# Statistics and a checkpoint now, so no autovacuum or checkpoint of the seeding lands in a
# window; every configuration starts from a copy of this database.
psql_admin "$PG_BASE/havip_seed" -c "VACUUM (ANALYZE)" -c "CHECKPOINT"
pg_config() { # database -> $WORK/havipd-<database>.toml
    psql_admin "$PG_ADMIN" -c "CREATE DATABASE $1 TEMPLATE havip_seed"
    { echo "store = \"$PG_BASE/$1\""; cat "$WORK/havipd.toml"; } >"$WORK/havipd-$1.toml"
}
pg_runs() { # suffix, ports files...
    local sfx=$1
    shift
    local P=(--manifest "$WORK/mpg.json")
    for f in "$@"; do P+=(--ports-file "$f"); done
    run "describe-$sfx" describe "${P[@]}"
    run "create-$sfx" create "${P[@]}" --probes 4
    run "mix-$sfx" mix "${P[@]}"
}

step "havipd on PostgreSQL, one node"
pg_config havip_pg1
start_havipd "$WORK/pg1-a" "" "$WORK/havipd-havip_pg1.toml"
PG_A=$HPID
pg_runs pg1 "$WORK/pg1-a/ports.json"
stop "$PG_A"

step "havipd on PostgreSQL, two nodes on one database (connections split evenly)"
pg_config havip_pg2
start_havipd "$WORK/pg2-a" "" "$WORK/havipd-havip_pg2.toml"
PG_A=$HPID
start_havipd "$WORK/pg2-b" "" "$WORK/havipd-havip_pg2.toml"
PG_B=$HPID
pg_runs pg2 "$WORK/pg2-a/ports.json" "$WORK/pg2-b/ports.json"
stop "$PG_A"
stop "$PG_B"
havip_pg_down

step "moto (bench/.venv, moto[server]==5.2.5)"
VENV="$ROOT/bench/.venv"
if [ ! -x "$VENV/bin/moto_server" ]; then
    python3 -m venv "$VENV"
    timeout 300 "$VENV/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.5'
fi
MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$MPORT" >"$WORK/moto.log" 2>&1 &
MPID=$!
PIDS+=("$MPID")
for i in $(seq 1 300); do
    curl -fs -o /dev/null "http://127.0.0.1:$MPORT/moto-api/" && break
    sleep 0.05
done
step "moto: seed 100 VPCs x 10 ENIs"
timeout 180 "$L" moto-seed --target "127.0.0.1:$MPORT" --vpcs 100 --enis-per 10 --out "$WORK/moto.json"
cp "$WORK/moto.json" "$OUT/moto-world.json"
run moto-describe moto-describe --target "127.0.0.1:$MPORT" --moto-world "$WORK/moto.json"
run moto-create moto-create --target "127.0.0.1:$MPORT" --moto-world "$WORK/moto.json"
stop "$MPID"

step "seed 1,000,000 HAVIPs (1,000 per VPC)"
rm -rf "$WORK/d100k"
timeout 300 "$L" seed --data-dir "$WORK/d1m" --havips 1000000 --per-vpc 1000 --pairs 0 \
    --manifest "$WORK/m1m.json"
du -sb "$WORK/d1m" | cut -f1 > "$OUT/d1m-bytes.txt"
step "restart havipd on 1M HAVIPs (warm page cache)"
timeout 120 "$L" restart --havipd "$HAVIPD" --config "$WORK/havipd.toml" --data-dir "$WORK/d1m" \
    --manifest "$WORK/m1m.json" --load 5s --connections "$CONNS" --json "$OUT/restart-warm.json"
if sync && echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then
    step "restart havipd on 1M HAVIPs (page cache dropped)"
    timeout 120 "$L" restart --havipd "$HAVIPD" --config "$WORK/havipd.toml" --data-dir "$WORK/d1m" \
        --manifest "$WORK/m1m.json" --load 5s --connections "$CONNS" --json "$OUT/restart-cold.json"
fi
rm -rf "$WORK/d1m"

step "table"
python3 "$ROOT/bench/table.py" "$OUT" "$RES/latest.json" "$((SECONDS - START))"
