#!/usr/bin/env bash
# Cluster benchmarks of docs/benchmarks.md ("Cluster"): QoS 0 throughput on one node against the same
# load across nodes of a 3-node cluster, and cross-node session takeover latency, with tidemq_bench.
#
#   tools/bench/run_cluster_benchmarks.sh                 # 3 repetitions, 15 s per throughput run
#   tools/bench/run_cluster_benchmarks.sh --repeat 1 --duration 5 --only single,cross12
# Options:
#   --duration S      measurement time of each throughput run (default 15)
#   --repeat N        repetitions of every scenario (default 3); the summary gives median and min–max
#   --rounds N        takeovers per takeover run (default 1000)
#   --only LIST       comma-separated scenarios (default all, in this order):
#                       single        pub and sub on one standalone node            (a)
#                       takeover1     live takeover on the standalone node (A = B)  (reference for c)
#                       cross12       pubs on node 1, subs on node 2 of the cluster (b)
#                       cross123      pubs on node 1, subs alternately on nodes 2 and 3 (b)
#                       takeover      live cross-node takeover, node 1 ↔ node 2     (c)
#                       takeover-off  offline cross-node takeover, node 1 ↔ node 2  (c)
#   --out DIR         logs, JSON and summary.md (default build/bench-results/cluster-<date>)
#   --port N          node i (1..3) listens on 127.0.0.i: MQTT N, admin N+1, cluster N+2 (default 18860)
#   --unpinned        do not pin (default: every node on core 1 — together, one core for the brokers
#                     as in run_benchmarks.sh — and the tool on core 0)
#   --report DIR      only print the summary of an earlier run (its --out directory)
#   --quiet-wait S    before each run, wait up to S seconds (default 60, 0 = not at all) until the
#                     machine is idle (under 25 % of one core busy over 1 s); the summary marks runs
#                     in which other processes used more than 25 % of a core with ⚠
#
# Each node runs with node.io_threads=1 and log.level=warning; the single node is the same binary
# without cluster settings. Every node is started fresh for every run and stopped afterwards (TERM,
# then KILL after 5 s); the EXIT/INT/TERM trap stops whatever is still running. The tidemq binary is
# copied into the output directory first, so a rebuild during the run does not change what is measured.
# Every wait has a condition and a bound: ports (10 s), cluster membership (30 s, polled on
# /api/v4/cluster of every node), routes (the tool's --wait-routes), tool runs (timeout).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=${TIDEMQ_BENCH:-$ROOT/build/tools/bench/tidemq_bench}
TIDEMQ_SRC=${TIDEMQ_BIN:-$ROOT/build/src/tidemq}
DURATION=15
REPEAT=3
ROUNDS=1000
ONLY=single,takeover1,cross12,cross123,takeover,takeover-off
OUT=
PORT=18860
PIN=1
QUIET_WAIT=60
REPORT=
COOKIE=benchcookie
AUTH=admin:public

while (($#)); do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --unpinned) PIN=0; shift ;;
    --quiet-wait) QUIET_WAIT=$2; shift 2 ;;
    --report) REPORT=$2; shift 2 ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
OUT=${OUT:-$ROOT/build/bench-results/cluster-$(date +%Y%m%d-%H%M%S)}
if [[ -n $REPORT ]]; then
  OUT=$REPORT
  REPEAT=$(find "$OUT" -maxdepth 1 -name 'rep*.json' -printf '%f\n' | sed 's/^rep\([0-9]*\)\..*/\1/' | sort -n | tail -1)
  [[ -n $REPEAT ]] || { echo "no results in $OUT" >&2; exit 2; }
fi
if [[ -z $REPORT ]]; then
mkdir -p "$OUT"
[[ -x $BENCH ]] || { echo "no $BENCH: ninja -C build tidemq_bench" >&2; exit 2; }
[[ -x $TIDEMQ_SRC ]] || { echo "no $TIDEMQ_SRC: ninja -C build tidemq" >&2; exit 2; }
for c in curl python3 taskset ss; do command -v $c >/dev/null || { echo "needs $c" >&2; exit 2; }; done
TIDEMQ=$OUT/tidemq
cp "$TIDEMQ_SRC" "$TIDEMQ"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

MQTT_PORT=$PORT ADMIN_PORT=$((PORT + 1)) CLUSTER_PORT=$((PORT + 2))
BROKER_PIN=()
TOOL=("$BENCH")
if ((PIN)); then BROKER_PIN=(taskset -c 1); TOOL=(taskset -c 0 "$BENCH"); fi

declare -A NODE_PID=()   # node number → pid of every node this script started and has not stopped

stop_node() {  # $1 = node number
  local pid=${NODE_PID[$1]:-}
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "NODE_PID[$1]"
}
stop_all() {
  local n
  for n in "${!NODE_PID[@]}"; do kill -TERM "${NODE_PID[$n]}" 2>/dev/null || true; done
  for n in "${!NODE_PID[@]}"; do stop_node "$n"; done
  rm -rf "$OUT/data"
}
trap stop_all EXIT
trap 'stop_all; exit 130' INT TERM

port_free() { ! ss -Hltn "src $1:$2" | grep -q .; }

# start_node N CLUSTERED(0|1): node N on 127.0.0.N; waits until its MQTT and admin ports answer.
start_node() {
  local n=$1 clustered=$2 host=127.0.0.$1 log=$OUT/$TAG.node$1.log
  local p ok=0
  for p in $MQTT_PORT $ADMIN_PORT $CLUSTER_PORT; do
    for _ in $(seq 50); do port_free "$host" "$p" && break; sleep 0.1; done
    port_free "$host" "$p" || { echo "$host:$p is in use" >&2; return 1; }
  done
  rm -rf "$OUT/data/n$n"; mkdir -p "$OUT/data/n$n"
  local args=(--config "$ROOT/conf/tidemq.conf" --set node.data_dir="$OUT/data/n$n"
    --set "listeners.tcp.default.bind=$host:$MQTT_PORT" --set "management.listener.http.bind=$host:$ADMIN_PORT"
    --set node.io_threads=1 --set log.level=warning)
  if ((clustered)); then
    local seeds=() j
    for j in 1 2 3; do ((j == n)) || seeds+=("\"tidemq$j@127.0.0.$j:$CLUSTER_PORT\""); done
    args+=(--set "node.name=tidemq$n@$host" --set "cluster.bind=$host:$CLUSTER_PORT" --set "cluster.cookie=$COOKIE"
      --set "cluster.static.seeds=[$(IFS=,; echo "${seeds[*]}")]")
  else
    args+=(--set "node.name=tidemq@$host")
  fi
  echo "${BROKER_PIN[*]} tidemq ${args[*]}" >> "$OUT/commands.txt"
  "${BROKER_PIN[@]}" "$TIDEMQ" "${args[@]}" > "$log" 2>&1 &
  NODE_PID[$n]=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/$host/$MQTT_PORT") 2>/dev/null &&
       curl -sf -o /dev/null -u $AUTH "http://$host:$ADMIN_PORT/api/v4/cluster"; then ok=1; break; fi
    kill -0 "${NODE_PID[$n]}" 2>/dev/null || { echo "node $n exited: $(tail -3 "$log")" >&2; return 1; }
    sleep 0.1
  done
  ((ok)) || { echo "node $n did not answer on $host:$MQTT_PORT/$ADMIN_PORT within 10 s" >&2; return 1; }
}

# Waits until every node lists all three as running (30 s at most).
wait_cluster() {
  local n body
  for _ in $(seq 300); do
    local all=1
    for n in 1 2 3; do
      body=$(curl -sf -u $AUTH "http://127.0.0.$n:$ADMIN_PORT/api/v4/cluster" || true)
      python3 -c 'import json,sys; d=json.loads(sys.argv[1])["data"]; sys.exit(0 if len(d["running_nodes"])==3 and not d["stopped_nodes"] else 1)' \
        "$body" 2>/dev/null || { all=0; break; }
    done
    ((all)) && return 0
    for n in 1 2 3; do
      kill -0 "${NODE_PID[$n]}" 2>/dev/null || { echo "node $n exited: $(tail -2 "$OUT/$TAG.node$n.log")" >&2; return 1; }
    done
    sleep 0.1
  done
  echo "cluster did not form within 30 s: $body" >&2
  return 1
}

start_cluster() { start_node 1 1 && start_node 2 1 && start_node 3 1 && wait_cluster; }

# Busy and total jiffies of the whole machine, from /proc/stat.
machine_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat; }

# Waits (at most QUIET_WAIT s) until the machine was less than 25 % of one core busy over one second;
# returns how busy it was at the last look, in % of one core.
wait_quiet() {
  local b0 t0 b1 t1 busy=0 cores deadline=$((SECONDS + QUIET_WAIT))
  cores=$(nproc)
  ((QUIET_WAIT > 0)) || { echo "-"; return 0; }
  while :; do
    read -r b0 t0 < <(machine_jiffies)
    sleep 1  # the sampling interval of the measurement, not a wait for a condition
    read -r b1 t1 < <(machine_jiffies)
    busy=$(( (b1 - b0) * 100 * cores / (t1 - t0 > 0 ? t1 - t0 : 1) ))
    ((busy < 25 || SECONDS >= deadline)) && break
  done
  echo "$busy"
}

# CPU seconds (user + system) of a process, from /proc/<pid>/stat.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# run_tool TAG ARGS...: the tool with a time bound; records every node's CPU over the run in TAG.nodes.
run_tool() {
  local tag=$1; shift
  local n before=() t0 t1 rc
  for n in 1 2 3; do before[$n]=$( [[ -n ${NODE_PID[$n]:-} ]] && cpu_s "${NODE_PID[$n]}" || echo -); done
  t0=$(date +%s.%N)
  echo "$tag: ${TOOL[*]/$BENCH/tidemq_bench} $*" >> "$OUT/commands.txt"
  timeout --signal=INT --kill-after=10 $((DURATION + 120)) "${TOOL[@]}" "$@" --json "$OUT/$tag.json" \
    > "$OUT/$tag.log" 2>&1 && rc=0 || rc=$?
  t1=$(date +%s.%N)
  : > "$OUT/$tag.nodes"
  for n in 1 2 3; do
    [[ ${before[$n]} != - && -n ${NODE_PID[$n]:-} ]] || continue
    echo "$n $(python3 -c "import sys; print(round(100 * ($(cpu_s "${NODE_PID[$n]}") - ${before[$n]}) / ($t1 - $t0), 1))")" >> "$OUT/$tag.nodes"
  done
  echo "$rc" > "$OUT/$tag.rc"
  grep -v '^\[t=' "$OUT/$tag.log" | sed 's/^/   /'
  for n in "${!NODE_PID[@]}"; do
    kill -0 "${NODE_PID[$n]}" 2>/dev/null || echo "   node $n died during the run: $(tail -3 "$OUT/$TAG.node$n.log")"
  done
}

PUBSUB=(pubsub --layout pairwise --pubs 100 --subs 100 -q 0 -s 64 -R 2000 --duration "$DURATION" --quiet)
ROUTES="http://$AUTH@127.0.0.1:$ADMIN_PORT/api/v4/routes"

{
  echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "# tidemq: $TIDEMQ_SRC, built $(stat -c %y "$TIDEMQ_SRC" | cut -d. -f1), sha256 $(sha256sum "$TIDEMQ" | cut -c1-16)"
  echo "# tidemq_bench: $BENCH, sha256 $(sha256sum "$BENCH" | cut -c1-16)"
  echo "# pinning: $( ((PIN)) && echo 'nodes on core 1, tool on core 0' || echo none)"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$OUT/machine.txt"
: > "$OUT/commands.txt"

IFS=, read -r -a SCEN <<< "$ONLY"
for r in $(seq "$REPEAT"); do
  for sc in "${SCEN[@]}"; do
    TAG="rep$r.$sc"
    idle=$(wait_quiet)
    echo "$idle" > "$OUT/$TAG.busy_before"
    echo "== $TAG (load $(cut -d' ' -f1 /proc/loadavg), machine busy before: $idle% of a core)"
    case $sc in
      single|takeover1) start_node 1 0 ;;
      cross12|cross123|takeover|takeover-off) start_cluster ;;
      *) echo "unknown scenario $sc" >&2; exit 2 ;;
    esac || { echo "   could not start the node(s), skipped" | tee "$OUT/$TAG.skipped"; stop_all; continue; }
    case $sc in
      single) run_tool "$TAG" "${PUBSUB[@]}" -h 127.0.0.1 -p "$MQTT_PORT" --wait-routes "$ROUTES" \
                --watch-pid "${NODE_PID[1]}" ;;
      cross12) run_tool "$TAG" "${PUBSUB[@]}" -h 127.0.0.1 -p "$MQTT_PORT" --sub-host 127.0.0.2 \
                 --sub-port "$MQTT_PORT" --wait-routes "$ROUTES" --watch-pid "${NODE_PID[1]}" ;;
      cross123) run_tool "$TAG" "${PUBSUB[@]}" -h 127.0.0.1 -p "$MQTT_PORT" --sub-host 127.0.0.2,127.0.0.3 \
                  --sub-port "$MQTT_PORT" --wait-routes "$ROUTES" --watch-pid "${NODE_PID[1]}" ;;
      takeover1) run_tool "$TAG" takeover -c "$ROUNDS" -h 127.0.0.1 -p "$MQTT_PORT" --quiet ;;
      takeover) run_tool "$TAG" takeover -c "$ROUNDS" -h 127.0.0.1 -p "$MQTT_PORT" --sub-host 127.0.0.2 \
                  --sub-port "$MQTT_PORT" --quiet ;;
      takeover-off) run_tool "$TAG" takeover -c "$ROUNDS" -h 127.0.0.1 -p "$MQTT_PORT" --sub-host 127.0.0.2 \
                      --sub-port "$MQTT_PORT" --takeover-offline --quiet ;;
    esac
    stop_all
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/machine.txt"
fi  # [[ -z $REPORT ]]

# ---- the summary: median and min–max over the repetitions
python3 - "$OUT" "$REPEAT" "$ONLY" <<'PY' | tee "$OUT/summary.md"
import json, os, statistics, sys
out, repeat, only = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")

def load(r, sc):
    p = os.path.join(out, f"rep{r}.{sc}.json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        j = json.load(f)
    nodes = {}
    np_ = os.path.join(out, f"rep{r}.{sc}.nodes")
    if os.path.exists(np_):
        for line in open(np_):
            n, c = line.split()
            nodes[int(n)] = float(c)
    j["_nodes"] = nodes
    return j

runs = {sc: [j for j in (load(r, sc) for r in range(1, repeat + 1)) if j] for sc in only}

def med(xs, fmt="{:,.0f}"):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "—"
    m = statistics.median(xs)
    if len(xs) == 1:
        return fmt.format(m)
    return f"{fmt.format(m)} ({fmt.format(min(xs))}–{fmt.format(max(xs))})"

def noise(j):
    # Machine busy time not explained by the tool and the nodes (% of one core).
    return j.get("machine_cpu_percent", 0) - j.get("tool_cpu_percent", 0) - sum(j["_nodes"].values())

label = {"single": "single node (pub + sub on node 1)", "cross12": "cross-node: pubs on node 1, subs on node 2",
         "cross123": "cross-node: pubs on node 1, subs on nodes 2 + 3"}
DISTURBED = 25  # % of one core used by other processes

def by_rep(sc):  # rep number → run, undisturbed runs only (all runs if every one was disturbed)
    rs = {r: load(r, sc) for r in range(1, repeat + 1)}
    rs = {r: j for r, j in rs.items() if j}
    good = {r: j for r, j in rs.items() if noise(j) <= DISTURBED}
    return (good or rs), len(rs) - len(good) if good else 0, len(rs)

single, _, _ = by_rep("single")
print()
print("QoS 0 pairwise, 100 publishers / 100 subscribers, 64 B, closed loop (window 64); median (min–max) "
      f"over the runs of {repeat} in which other processes used at most {DISTURBED} % of a core")
print()
print("| Scenario | runs | msg/s received | × single node | latency p50 / p99 (ms) | CPU % node 1 / 2 / 3 | tool CPU % | other CPU % | lost / dup / reordered |")
print("|---|---|---|---|---|---|---|---|---|")
for sc in ("single", "cross12", "cross123"):
    rs, left_out, total = by_rep(sc)
    if not rs:
        continue
    js = list(rs.values())
    rates = [j["receive"]["rate"] for j in js]
    single_rates = [j["receive"]["rate"] for j in single.values()]
    ratio = "1" if sc == "single" else (
        f"{statistics.median(rates) / statistics.median(single_rates):.2f}" if single_rates else "—")
    per = [rs[r]["receive"]["rate"] / single[r]["receive"]["rate"] for r in rs if r in single]
    if sc != "single" and len(per) > 1:
        ratio += f" (same repetition: {min(per):.2f}–{max(per):.2f})"
    p50 = med([j["receive"]["latency"]["p50_ms"] for j in js], "{:.1f}")
    p99 = med([j["receive"]["latency"]["p99_ms"] for j in js], "{:.1f}")
    cpu = " / ".join(med([j["_nodes"].get(n) for j in js], "{:.0f}") if any(n in j["_nodes"] for j in js) else "—"
                     for n in (1, 2, 3))
    delivery = " / ".join(str(sum(j["receive"][k] for j in js)) for k in ("lost", "duplicate", "out_of_order"))
    n = f"{len(js)}" + (f" (⚠ {left_out} left out)" if left_out else "")
    if len(js) == total and any(noise(j) > DISTURBED for j in js):
        n += " ⚠ all disturbed"
    print(f"| {label[sc]} | {n} | {med(rates)} | {ratio} | {p50} / {p99} | {cpu} | "
          f"{med([j['tool_cpu_percent'] for j in js], '{:.0f}')} | {med([max(0.0, noise(j)) for j in js], '{:.0f}')} | {delivery} |")

tl = {"takeover1": "live, same node (reference)", "takeover": "live, cross-node (1 ↔ 2)",
      "takeover-off": "offline, cross-node (1 ↔ 2)"}
if any(runs.get(sc) for sc in tl):
    print()
    print("Takeover of one persistent MQTT 5 session, alternating nodes; latency from TCP connect start to "
          "CONNACK with session present (ms)")
    print()
    print("| Takeover | rounds | failed | p50 | p90 | p99 | max | old connection got DISCONNECT 0x8E |")
    print("|---|---|---|---|---|---|---|---|")
    for sc, name in tl.items():
        js = runs.get(sc)
        if not js:
            continue
        lat = lambda k: med([j["latency"][k] for j in js], "{:.3f}")
        disc = "n/a (closed first)" if sc == "takeover-off" else \
            f"{sum(j['old_disconnect_8e'] for j in js)} of {sum(j['succeeded'] for j in js)}"
        print(f"| {name} | {sum(j['rounds'] for j in js)} | {sum(j['failed'] for j in js)} | {lat('p50_ms')} | "
              f"{lat('p90_ms')} | {lat('p99_ms')} | {lat('max_ms')} | {disc} |")
flagged = [f"rep{r}.{sc} ({noise(j):.0f} %)" for sc in ("single", "cross12", "cross123") for r in range(1, repeat + 1)
           for j in [load(r, sc)] if j and noise(j) > DISTURBED]
if flagged:
    print("\n⚠ Disturbed (other processes' CPU: machine busy time minus tool and nodes, in % of one core; the nodes' "
          "CPU is measured over the whole tool run): " + ", ".join(flagged))
bad = [f"rep{r}.{sc}" for sc in only for r in range(1, repeat + 1)
       if os.path.exists(os.path.join(out, f"rep{r}.{sc}.rc")) and open(os.path.join(out, f"rep{r}.{sc}.rc")).read().strip() != "0"]
skipped = [f[:-8] for f in sorted(os.listdir(out)) if f.endswith(".skipped")]
if bad:
    print("\nRuns with a non-zero exit code: " + ", ".join(bad))
if skipped:
    print("\nSkipped: " + ", ".join(skipped))
print("\nRaw results: " + out)
PY
