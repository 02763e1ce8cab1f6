#!/bin/sh
# make fuzz: builds the libFuzzer targets with clang (ASan + UBSan) and runs
# each for FUZZ_SECONDS (default 60). Crashes land in fuzz/crashes/; turn
# each into a unit test in t/unit/.
set -eu
cd "$(dirname "$0")/.."
command -v clang >/dev/null 2>&1 || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang
}
seconds=${FUZZ_SECONDS:-60}
out=build/fuzz
mkdir -p "$out" fuzz/crashes
cflags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude $(apr-1-config --includes --cppflags) $(apu-1-config --includes) $(pkg-config --cflags libcurl jansson)"
libs="$(apr-1-config --link-ld --libs) $(apu-1-config --link-ld --libs) $(pkg-config --libs jansson)"
core="modules/sse_json.c modules/sse_upstream.c modules/sse_event_reader.c modules/sse_tools.c modules/sse_request.c"
status=0
for target in upstream request; do
    # shellcheck disable=SC2086
    clang $cflags -o "$out/fuzz_$target" "fuzz/fuzz_$target.c" $core $libs
    mkdir -p "$out/corpus_$target"
    cp fuzz/seeds/$target/* "$out/corpus_$target/" 2>/dev/null || true
    echo "== fuzz_$target for ${seconds}s"
    if ! "$out/fuzz_$target" -max_total_time="$seconds" -max_len=4096 \
            -artifact_prefix=fuzz/crashes/ "$out/corpus_$target" 2>"$out/fuzz_$target.log"; then
        tail -40 "$out/fuzz_$target.log"
        status=1
    else
        grep -E '^(#[0-9]+|Done)' "$out/fuzz_$target.log" | tail -2
    fi
done
exit $status
