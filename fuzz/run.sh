#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600), one after the other, on one core.
# Needs nightly and cargo-fuzz: `rustup toolchain install nightly; cargo install cargo-fuzz`.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
[[ -d corpus/decode ]] || ./seed.sh
for target in decode warm_file index; do
    max_len=4096
    [[ $target == decode ]] && max_len=40000
    cargo +nightly fuzz run -O "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1
done
