#!/usr/bin/env bash
# Runs the benchmark scenarios of docs/benchmarks.md against one or more MQTT brokers on this
# machine, with tidemq_bench, and prints a Markdown table.
#
#   tools/bench/run_benchmarks.sh                      # mosquitto, tidemq (1 thread), tidemq (2 threads)
#   tools/bench/run_benchmarks.sh mosquitto            # one of the built-in brokers
#   tools/bench/run_benchmarks.sh 'emqx=/opt/emqx/bin/emqx foreground'   # any broker: NAME=COMMAND;
#                                                      # {PORT} in COMMAND is replaced by the port
# Options:
#   --duration S      measurement time of each traffic scenario (default 15)
#   --only LIST       comma-separated scenarios: idle10k,idle50k,qos0,fanout,qos1,lat20k (default all)
#   --out DIR         where logs, JSON and results.md go (default build/bench-results/<date>)
#   --port N          broker port (default 18830)
#
# Every broker is started fresh for every scenario, pinned to core 1 (taskset -c 1); the load tool
# runs on core 0. "tidemq-2t" is tidemq with node.io_threads=2, and then neither is pinned.
# Each scenario is bounded in time (connect phase + duration + a few seconds).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=${TIDEMQ_BENCH:-$ROOT/build/tools/bench/tidemq_bench}
TIDEMQ=${TIDEMQ_BIN:-$ROOT/build/src/tidemq}
DURATION=15
ONLY=idle10k,idle50k,qos0,fanout,qos1,lat20k
OUT=
PORT=18830
BROKERS=()

while (($#)); do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) BROKERS+=("$1"); shift ;;
  esac
done
((${#BROKERS[@]})) || BROKERS=(mosquitto tidemq tidemq-2t)
OUT=${OUT:-$ROOT/build/bench-results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
[[ -x $BENCH ]] || { echo "no $BENCH: ninja -C build tidemq_bench" >&2; exit 2; }

# Both the broker and the tool may need many descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)

cat > "$OUT/mosquitto.conf" <<EOF
listener $PORT 127.0.0.1
allow_anonymous true
max_connections -1
persistence false
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
EOF

# broker_cmd NAME → the command line; broker_pinned NAME → 1 if pinned to core 1.
broker_cmd() {
  case $1 in
    mosquitto) echo "mosquitto -c $OUT/mosquitto.conf" ;;
    tidemq) echo "$TIDEMQ --config $ROOT/conf/tidemq.conf --set listeners.tcp.default.bind=127.0.0.1:$PORT --set node.io_threads=1 --set log.level=warning" ;;
    tidemq-2t) echo "$TIDEMQ --config $ROOT/conf/tidemq.conf --set listeners.tcp.default.bind=127.0.0.1:$PORT --set node.io_threads=2 --set log.level=warning" ;;
    *=*) local c=${1#*=}; echo "${c//\{PORT\}/$PORT}" ;;
    *) echo "unknown broker $1 (mosquitto, tidemq, tidemq-2t or NAME=COMMAND)" >&2; return 1 ;;
  esac
}
broker_name() { case $1 in *=*) echo "${1%%=*}" ;; *) echo "$1" ;; esac; }
broker_pinned() { [[ $1 == tidemq-2t ]] && echo 0 || echo 1; }

BROKER_PID=
start_broker() {  # $1 = spec, $2 = log file
  local cmd pin
  cmd=$(broker_cmd "$1")
  pin=$(broker_pinned "$1")
  for _ in $(seq 50); do
    ss -Hltn "sport = :$PORT" | grep -q . || break
    sleep 0.1
  done
  if ss -Hltn "sport = :$PORT" | grep -q .; then
    echo "port $PORT is in use" >&2; return 1
  fi
  if ((pin)); then
    # shellcheck disable=SC2086
    taskset -c 1 $cmd >"$2" 2>&1 &
  else
    # shellcheck disable=SC2086
    $cmd >"$2" 2>&1 &
  fi
  BROKER_PID=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then sleep 0.2; return 0; fi
    kill -0 "$BROKER_PID" 2>/dev/null || { echo "broker exited: $(tail -3 "$2")" >&2; return 1; }
    sleep 0.1
  done
  echo "broker did not listen on $PORT within 10 s" >&2
  return 1
}
stop_broker() {
  [[ -n $BROKER_PID ]] || return 0
  kill -TERM "$BROKER_PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$BROKER_PID" 2>/dev/null || true
  wait "$BROKER_PID" 2>/dev/null || true
  BROKER_PID=
}
trap stop_broker EXIT
trap 'stop_broker; exit 130' INT TERM

# Scenario → tidemq_bench arguments (the exact commands are also written to $OUT/commands.txt).
scenario_args() {
  case $1 in
    idle10k) echo "conn -c 10000 -R 10000 --hold 5" ;;
    idle50k) echo "conn -c 50000 -R 10000 --hold 5 --src-ips 127.0.0.1,127.0.0.2" ;;
    qos0) echo "pubsub --layout pairwise --pubs 100 --subs 100 -q 0 -s 64 -R 2000 --duration $DURATION" ;;
    fanout) echo "pubsub --layout fanout --pubs 1 --subs 1000 -q 0 -s 64 -R 2000 --duration $DURATION" ;;
    qos1) echo "pubsub --layout pairwise --pubs 100 --subs 100 -q 1 -s 64 -R 2000 --duration $DURATION" ;;
    lat20k) echo "pubsub --layout pairwise --pubs 100 --subs 100 -q 0 -s 64 -r 20000 -R 2000 --duration $DURATION" ;;
  esac
}
scenario_conns() { case $1 in idle10k) echo 10000 ;; idle50k) echo 50000 ;; fanout) echo 1001 ;; *) echo 200 ;; esac; }

{
  echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "# RLIMIT_NOFILE $NOFILE"
  echo "# tidemq_bench: $BENCH, sha256 $(sha256sum "$BENCH" | cut -c1-16)"
} > "$OUT/machine.txt"
: > "$OUT/commands.txt"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/machine.txt"

IFS=, read -r -a SCEN <<< "$ONLY"
for spec in "${BROKERS[@]}"; do
  name=$(broker_name "$spec")
  cmd=$(broker_cmd "$spec") || exit 2
  first=${cmd%% *}
  if ! command -v "$first" >/dev/null 2>&1 && [[ ! -x $first ]]; then
    echo "== $name: $first not found, skipped" | tee "$OUT/$name.skipped"
    continue
  fi
  bin=$(command -v "$first" 2>/dev/null || echo "$first")
  echo "# $name: $bin, built $(stat -c %y "$bin" | cut -d. -f1), sha256 $(sha256sum "$bin" | cut -c1-16)" >> "$OUT/machine.txt"
  for sc in "${SCEN[@]}"; do
    args=$(scenario_args "$sc")
    [[ -n $args ]] || { echo "unknown scenario $sc" >&2; exit 2; }
    tag="$name.$sc"
    need=$(scenario_conns "$sc")
    if ((NOFILE < need + 100)); then
      echo "== $tag: skipped, RLIMIT_NOFILE hard limit $NOFILE < $need connections" | tee "$OUT/$tag.skipped"
      continue
    fi
    pin=$(broker_pinned "$spec")
    tool=("$BENCH")
    ((pin)) && tool=(taskset -c 0 "$BENCH")
    full="${tool[*]} $args -p $PORT --watch-pid \$BROKER_PID --json $OUT/$tag.json"
    echo "== $tag: $full"
    echo "$name ($(broker_cmd "$spec"))  $sc: ${full/$BENCH/tidemq_bench}" >> "$OUT/commands.txt"
    if ! start_broker "$spec" "$OUT/$tag.broker.log" 2> "$OUT/$tag.start.err"; then
      echo "== $tag: broker did not start: $(cat "$OUT/$tag.start.err")" | tee "$OUT/$tag.skipped"; stop_broker; continue
    fi
    # --watch-pid: the tool reads the broker's CPU time and VmRSS from /proc before connecting,
    # when the connections are up, and at the end of the measurement (or hold) window.
    # shellcheck disable=SC2086
    timeout --signal=INT --kill-after=10 $((DURATION + 120)) "${tool[@]}" $args -p "$PORT" \
      --watch-pid "$BROKER_PID" --json "$OUT/$tag.json" > "$OUT/$tag.log" 2>&1 && rc=0 || rc=$?
    echo "$rc" > "$OUT/$tag.rc"
    grep -v '^\[t=' "$OUT/$tag.log" | sed 's/^/   /'
    if ! kill -0 "$BROKER_PID" 2>/dev/null; then
      echo "   broker died during the run: $(tail -3 "$OUT/$tag.broker.log")"
    fi
    stop_broker
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/machine.txt"

# ---- the table
python3 - "$OUT" "${BROKERS[@]}" <<'PY' | tee "$OUT/results.md"
import json, os, sys
out, specs = sys.argv[1], sys.argv[2:]
names = [s.split("=", 1)[0] for s in specs]
label = {"mosquitto": "mosquitto 2.0 (1 core)", "tidemq": "tidemq (1 core, 1 I/O thread)",
         "tidemq-2t": "tidemq (2 I/O threads, unpinned)"}

def load(name, sc):
    p = os.path.join(out, f"{name}.{sc}.json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)

NOISY = set()

def cell(name, sc, fn):
    j = load(name, sc)
    if j is None:
        return "skipped" if os.path.exists(os.path.join(out, f"{name}.{sc}.skipped")) else "—"
    try:
        v = fn(j, name, sc)
    except Exception:
        return "?"
    others = j.get("machine_cpu_percent", 0) - j.get("tool_cpu_percent", 0) - j.get("broker", {}).get("cpu_percent", 0)
    noisy = "broker" in j and others > 25
    if noisy:
        NOISY.add(f"{name}.{sc}")
    return v + ("" if j.get("ok", True) else " (errors)") + (" ⚠" if noisy else "")

def rate(j, *_): return f"{j['receive']['rate']:,.0f}"
def p(key): return lambda j, *_: f"{j['receive']['latency'][key]:.3f}"
def conn_rate(j, *_): return f"{j['connections']['connect_rate']:,.0f} ({j['connections']['ok']} ok)"
def per_conn(j, *_):
    b = j["broker"]
    return f"{b['rss_kb_per_connection']:.2f} KiB ({b['rss_kb_begin'] / 1024:.1f} → {b['rss_kb_run_end'] / 1024:.1f} MiB)"
def cpu(j, *_):
    return f"{j['broker']['cpu_percent']:.0f} / {j['tool_cpu_percent']:.0f} / {j['machine_cpu_percent']:.0f}"

def lat2(j, *_): return f"{j['receive']['latency']['p50_ms']:.2f} / {j['receive']['latency']['p99_ms']:.2f}"
def lat3(j, *_):
    l = j['receive']['latency']
    return f"{l['p50_ms']:.3f} / {l['p99_ms']:.3f} / {l['p999_ms']:.3f}"

Q0, FO, Q1, L20 = ("QoS 0 pairwise 100/100, 64 B", "Fan-out 1 → 1000, QoS 0, 64 B", "QoS 1 pairwise 100/100, 64 B",
                   "Fixed 20k msg/s total (100 pairs, QoS 0)")
rows = [
    ("Idle 10k", "connect rate (conn/s)", "idle10k", conn_rate),
    ("Idle 10k", "broker RSS per connection", "idle10k", per_conn),
    ("Idle 50k", "connect rate (conn/s)", "idle50k", conn_rate),
    ("Idle 50k", "broker RSS per connection", "idle50k", per_conn),
    (Q0, "msg/s received", "qos0", rate),
    (Q0, "latency p50 / p99 (ms)", "qos0", lat2),
    (Q0, "CPU % broker / tool / machine", "qos0", cpu),
    (FO, "deliveries/s received", "fanout", rate),
    (FO, "latency p50 / p99 (ms)", "fanout", lat2),
    (FO, "CPU % broker / tool / machine", "fanout", cpu),
    (Q1, "msg/s received", "qos1", rate),
    (Q1, "latency p50 / p99 (ms)", "qos1", lat2),
    (Q1, "CPU % broker / tool / machine", "qos1", cpu),
    (L20, "msg/s received", "lat20k", rate),
    (L20, "latency p50 / p99 / p99.9 (ms)", "lat20k", lat3),
    (L20, "CPU % broker / tool / machine", "lat20k", cpu),
]
print()
print("| Scenario | Metric | " + " | ".join(label.get(n, n) for n in names) + " |")
print("|---|---|" + "---|" * len(names))
for scen, metric, sc, fn in rows:
    cells = [cell(n, sc, fn) for n in names]
    if all(c == "—" for c in cells):
        continue  # scenario not run
    print(f"| {scen} | {metric} | " + " | ".join(cells) + " |")
if NOISY:
    print()
    print("⚠ other processes used more than 25% of a core during: " + ", ".join(sorted(NOISY)) +
          " (machine CPU minus broker and tool); rerun when the machine is quiet.")
losses = []
for n in names:
    for sc in ("qos0", "fanout", "qos1", "lat20k"):
        j = load(n, sc)
        if j and (j["receive"]["lost"] or j["receive"]["duplicate"]):
            losses.append(f"{n} {sc}: lost {j['receive']['lost']}, duplicate {j['receive']['duplicate']}")
if losses:
    print()
    print("Delivery problems: " + "; ".join(losses))
print()
print("Raw results: " + out)
PY
