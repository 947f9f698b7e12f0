#!/usr/bin/env bash
# tools/sanitize.sh asan|tsan [--quick] — the broker under sanitizers, in a build directory of its
# own (build-asan / build-tsan).
#   asan: AddressSanitizer + UndefinedBehaviorSanitizer (leaks included)
#   tsan: ThreadSanitizer (the control thread, the I/O threads and the cluster links share state)
# Full run: the unit tests and a representative part of the integration suite.
# --quick (what tools/dev.sh test runs in CI):
#   asan: the broker only, against the integration files that feed it hostile input and move
#         sessions between nodes; the unit tests' pure code is covered under ASan and UBSan by the
#         fuzz targets (tools/fuzz.sh) instead.
#   tsan: the unit tests (threads: pools, the password file's reload) and the integration files in
#         which the control thread, the I/O threads and cluster links share most: takeover and
#         migration across nodes, the handoff scenarios, evacuation.
# False positives are suppressed by name in tests/sanitize/{lsan,tsan}.supp, each with its reason.
# Every node started by the tests writes its sanitizer reports to $REPORTS; the run fails when
# the tests fail or when any report was written (a node may die of one after its test passed).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-asan}
quick=0
[ "${2:-}" = "--quick" ] && quick=1
case "$kind" in
  asan) flags="address,undefined" ;;
  tsan) flags="thread" ;;
  *) echo "usage: tools/sanitize.sh asan|tsan [--quick]" >&2; exit 2 ;;
esac
dir="build-$kind"
# Warnings are the plain build's business (CI builds it with -Werror): instrumented code draws false
# ones (GCC 12's -Wmismatched-new-delete on Asio coroutine frames under ASan).
# -O1 -g1 (line tables only): stacks keep function, file and line, and the build takes about half
# the time of -O2 -g, which under ASan+UBSan alone was some 43 CPU minutes (CI's budget).
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DTIDEMQ_SANITIZE="$flags" ${TIDEMQ_CMAKE_ARGS:-} -DTIDEMQ_WERROR=OFF > /dev/null
if [ $quick = 1 ] && [ "$kind" = asan ]; then
  cmake --build "$dir" --target tidemq tidemq_ctl
else
  cmake --build "$dir" --target tidemq tidemq_ctl tidemq_unit_tests
fi

REPORTS=$(mktemp -d /tmp/tidemq-$kind.XXXXXX)
trap 'rm -rf "$REPORTS"' EXIT
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$REPORTS/report"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$REPORTS/report"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/sanitize/tsan.supp:log_path=$REPORTS/report"
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitize/lsan.supp"

status=0
if [ $quick = 0 ] || [ "$kind" = tsan ]; then
  echo "== $kind: unit tests"
  "$dir/tests/tidemq_unit_tests" --reporter compact || status=$?
fi

# The integration files that exercise the most code per second: hostile input on every port, the
# resource limits, takeover and migration across nodes; the full run adds the MQTT paths, the
# session, wills and the rebalance module.
FILES=(test_malformed.py test_ws.py test_admin_api.py test_listener_limits.py test_cluster_hostile_peer.py
       test_rebalance_hostile_input.py test_handoff_scenarios.py)
[ $quick = 1 ] && [ "$kind" = tsan ] &&
  FILES=(test_cluster_takeover.py test_cluster_migration.py test_handoff_scenarios.py test_rebalance_evacuation.py)
[ $quick = 0 ] && FILES+=(test_pubsub.py test_session.py test_takeover.py test_subid.py test_will.py
                          test_cluster_takeover.py test_cluster_migration.py test_rebalance_evacuation.py)
echo "== $kind: integration (${FILES[*]})"
export TIDEMQ_BIN="$PWD/$dir/src/tidemq" TIDEMQ_CTL_BIN="$PWD/$dir/tools/ctl/tidemq_ctl" TIDEMQ_CONF="$PWD/conf/tidemq.conf"
/usr/bin/python3 -m pytest -q -p no:cacheprovider "${FILES[@]/#/tests/integration/}" || status=$?

if compgen -G "$REPORTS/report*" > /dev/null; then
  echo "== $kind: sanitizer reports:"
  for f in "$REPORTS"/report*; do echo "--- $f"; head -60 "$f"; done
  exit 1
fi
exit $status
