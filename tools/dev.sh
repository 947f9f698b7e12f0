#!/usr/bin/env bash
# tidemq developer entry point (the README's Quick start):
#   tools/dev.sh run    install what is missing, build, run a node with conf/tidemq.conf (foreground)
#   tools/dev.sh test   install what is missing, build, run every test: unit, integration, the
#                       handoff simulation and the chaos test (ctest). Then the instrumented stages,
#                       each a build of its own, by TIDEMQ_TEST_FULL:
#                         unset  none
#                         1      all three: asan (tools/sanitize.sh asan --quick: the broker under
#                                AddressSanitizer + UBSan), fuzz (tools/fuzz.sh 30: each fuzz target
#                                for 30 s), tsan (tools/sanitize.sh tsan --quick: the unit tests and
#                                the cluster integration files under ThreadSanitizer)
#                         ci     one of them, by the commit count (git rev-list --count HEAD) modulo
#                                3: 0 asan, 1 fuzz, 2 tsan; consecutive commits take turns. All three
#                                would not fit CI's time budget on 2 cores.
#                       TIDEMQ_STAGE=asan|fuzz|tsan picks the stage (with ci or 1).
#   tools/dev.sh build  install what is missing and build
#   tools/dev.sh packages  print the Debian packages the build and the tests need (for CI)
# Extra arguments after `run` go to tidemq (e.g. --set log.level=debug), after `test` to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(g++ cmake ninja-build pkg-config libboost1.81-dev libssl-dev nlohmann-json3-dev libfmt-dev
          libspdlog-dev libtomlplusplus-dev libcli11-dev catch2
          mosquitto-clients mosquitto python3 python3-paho-mqtt python3-pytest python3-prometheus-client python3-msgpack openssl
          haproxy
          clang libclang-rt-14-dev llvm)  # the fuzz targets (libFuzzer) and readable sanitizer stacks

install_missing() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # Node.js + npm run the MQTT.js WebSocket tests. Checked by command, not by package: machines
  # with NodeSource's nodejs (which bundles npm) must not get Debian's npm on top of it.
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${TIDEMQ_CMAKE_ARGS:-} > /dev/null
  cmake --build build
}

cmd=${1:-}
shift || true
case "$cmd" in
  run)
    install_missing
    build
    exec build/src/tidemq --config conf/tidemq.conf "$@"
    ;;
  test)
    install_missing
    build
    (cd build && ctest --output-on-failure --timeout 900 "$@")
    stages=()
    case "${TIDEMQ_TEST_FULL:-}" in
      "") ;;
      ci)
        all=(asan fuzz tsan)
        stages=("${all[$(( $(git rev-list --count HEAD 2>/dev/null || echo 0) % 3 ))]}")
        ;;
      *) stages=(asan fuzz tsan) ;;
    esac
    [ -n "${TIDEMQ_TEST_FULL:-}" ] && [ -n "${TIDEMQ_STAGE:-}" ] && stages=("$TIDEMQ_STAGE")
    for stage in "${stages[@]}"; do
      echo "== instrumented stage: $stage"
      case "$stage" in
        asan) tools/sanitize.sh asan --quick ;;
        fuzz) tools/fuzz.sh 30 ;;
        tsan) tools/sanitize.sh tsan --quick ;;
        *) echo "unknown TIDEMQ_STAGE '$stage' (asan, fuzz or tsan)" >&2; exit 2 ;;
      esac
    done
    ;;
  build)
    install_missing
    build
    ;;
  packages)
    echo "${PACKAGES[@]}"
    ;;
  *)
    echo "usage: tools/dev.sh run|test|build|packages [args]" >&2
    exit 2
    ;;
esac
