#!/bin/sh
# ci-sanitize.sh [BUILD_DIR] - build with AddressSanitizer + UBSan and run
# the whole test suite there (issue 6). BUILD_DIR defaults to build-asan
# next to this project's meson.build; it is configured on first use.
#
#   scripts/ci-sanitize.sh              # configure (once), build, test
#   MESON_TEST_ARGS="--suite golden" scripts/ci-sanitize.sh   # a subset
#
# Any sanitizer report fails the test that triggered it:
#  - UBSan halts on the first error (halt_on_error=1), so undefined
#    behaviour is an exit status, not a line lost in a log;
#  - ASan's leak checker runs at normal exit, the FUSE daemon's included
#    (it exits 0 after fusermount3 -u, so a leak fails mount_stop). Daemons
#    killed with SIGKILL by the fault tests and tools stopped by signals
#    (_exit) are not leak-checked, by construction;
#  - the valgrind test is left out: valgrind cannot run ASan binaries;
#  - check_container runs alone with a small quarantine (see below);
#  - tests/mount/stress.sh bounds the daemon's VmRSS, which ASan's shadow
#    memory and quarantine inflate: the bound gets 2 GiB of slack here.
# Tests run with a timeout multiplier of 4 (ASan is 2-3x slower).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$ROOT/build-asan}
if [ ! -f "$B/build.ninja" ]; then
    meson setup "$B" "$ROOT" -Db_sanitize=address,undefined -Db_lundef=false \
        -Dbuildtype=debugoptimized
fi
ninja -C "$B"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# Not detect_stack_use_after_return: its per-thread fake stacks make the
# memory-growth checks of check_container (1000 reader threads) fail.
# verify_asan_link_order=0: tests/install.sh links a plain program against
# the installed (instrumented) libwcodec.so, so libasan is not loaded first.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:verify_asan_link_order=0}
export STRESS_RSS_SLACK=${STRESS_RSS_SLACK:-2097152}
all=$(meson test -C "$B" --list 2>"$B/test-list.err" | sed -n 's|^[^ ]* / ||p')
# Every test but valgrind's, in two passes: check_container measures RSS
# growth over 40 packs and 1000 threads (< 8 MiB), which ASan's 256 MiB
# quarantine of freed blocks hides; it runs with a 4 MiB quarantine, the
# rest with the default one (use-after-free detection at full strength).
memtests=$(echo "$all" | grep -x 'container' || true)
tests=$(echo "$all" | grep -v -x -e 'mount-valgrind' -e 'container')
start=$(date +%s)
rc=0
if [ -n "${MESON_TEST_ARGS:-}" ]; then
    # shellcheck disable=SC2086
    meson test -C "$B" --print-errorlogs --timeout-multiplier 4 \
        $MESON_TEST_ARGS || rc=$?
else
    # shellcheck disable=SC2086
    meson test -C "$B" --print-errorlogs --timeout-multiplier 4 $tests ||
        rc=$?
    if [ -n "$memtests" ]; then
        # shellcheck disable=SC2086
        ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=4" \
            meson test -C "$B" --print-errorlogs --timeout-multiplier 4 \
            $memtests || rc=$?
    fi
fi
echo "ci-sanitize: $(($(date +%s) - start)) s of tests under ASan+UBSan"
exit $rc
