#!/usr/bin/env bash
# tools/fuzz.sh [SECONDS] [TARGET...] — coverage-guided fuzzing with libFuzzer (docs/fuzzing.md).
# Configures and builds build-fuzz (clang, TIDEMQ_FUZZ=ON: coverage, ASan, UBSan), then runs each
# target (default: all of them) for SECONDS (default 30), two at a time, each on a scratch copy of
# its seed corpus (tests/fuzz/corpus/<target>, which the run never changes) with its dictionary.
# Crashes, leaks, timeouts and out-of-memory inputs go to build-fuzz/artifacts/<target>/ (emptied
# when the target runs again: keep what you need), the log of each target to
# build-fuzz/fuzz-logs/<target>.log; the run fails when any target found something.
# Replay one input: build-fuzz/tests/fuzz/<target> <file>.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=(mqtt_codec_fuzz ws_upgrade_fuzz admin_http_fuzz cluster_frame_fuzz config_fuzz evacuation_file_fuzz)
seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${ALL[@]}")
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: tools/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2; }
for t in "${targets[@]}"; do
  [[ " ${ALL[*]} " == *" $t "* ]] || { echo "unknown fuzz target '$t' (known: ${ALL[*]})" >&2; exit 2; }
done
command -v clang++ > /dev/null || { echo "tools/fuzz.sh needs clang (apt-get install clang libclang-rt-dev)" >&2; exit 2; }

dir=build-fuzz
# Warnings are the plain build's business (CI builds it with -Werror), not the instrumented one's.
CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIDEMQ_FUZZ=ON \
  -DTIDEMQ_BUILD_TESTS=OFF ${TIDEMQ_CMAKE_ARGS:-} -DTIDEMQ_WERROR=OFF > /dev/null
cmake --build "$dir" --target "${targets[@]}"

artifacts="$PWD/$dir/artifacts"
logs="$PWD/$dir/fuzz-logs"
work="$PWD/$dir/fuzz-corpus"
mkdir -p "$artifacts" "$logs" "$work"

run() {
  local t=$1
  rm -rf "${work:?}/$t" "$logs/$t.rc" "${artifacts:?}/$t"
  mkdir -p "$work/$t" "$artifacts/$t"
  cp tests/fuzz/corpus/"$t"/* "$work/$t/"
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
              -artifact_prefix="$artifacts/$t/")
  [ -f "tests/fuzz/$t.dict" ] && args+=(-dict="tests/fuzz/$t.dict")
  local rc=0
  "$dir/tests/fuzz/$t" "${args[@]}" "$work/$t" > "$logs/$t.log" 2>&1 || rc=$?
  echo "$rc" > "$logs/$t.rc"
}

echo "== fuzzing ${targets[*]} for $seconds s each, two at a time (logs: $logs)"
running=0
for t in "${targets[@]}"; do
  if [ $running -ge 2 ]; then
    wait -n || true
    running=$((running - 1))
  fi
  run "$t" &
  running=$((running + 1))
done
wait || true

status=0
printf '%-22s %10s %8s %8s %8s  %s\n' target execs cov ft corpus result
for t in "${targets[@]}"; do
  log="$logs/$t.log"
  rc=$(cat "$logs/$t.rc" 2> /dev/null || echo "?")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<< "$last")
  found=$(find "$artifacts/$t" -type f | wc -l)
  result=ok
  if [ "$rc" != 0 ] || [ "$found" -gt 0 ]; then
    result="FOUND SOMETHING (exit $rc, $found file(s) in $artifacts/$t)"
    status=1
  fi
  printf '%-22s %10s %8s %8s %8s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
done
if [ $status -ne 0 ]; then
  echo "== findings: see the logs in $logs and the inputs in $artifacts"
fi
exit $status
