#!/usr/bin/env bash
# Builds the seed corpora from the repository's fixtures (run once before fuzzing; the
# corpora themselves are not committed).
set -euo pipefail
cd "$(dirname "$0")"
fixtures=../assets/fixtures
mkdir -p corpus/decode corpus/warm_file corpus/index

# decode: the first byte picks the extension hint (flac mp3 ogg wav aiff m4a caf mkv bin),
# then the file, cut to 32 KiB so that runs stay fast (cut files exercise truncation too).
ext_code() { case "$1" in flac) echo 0;; mp3) echo 1;; ogg) echo 2;; wav) echo 3;; aiff) echo 4;; m4a) echo 5;; caf) echo 6;; *) echo 8;; esac; }
for f in "$fixtures"/*.*; do
    name=$(basename "$f"); ext=${name##*.}
    [[ $ext == md ]] && continue
    code=$(ext_code "$ext")
    { printf "\\x$(printf %02x "$code")"; head -c 32768 "$f"; } > "corpus/decode/seed-$name"
done

# warm_file: a valid header built from these bytes, then a short body.
printf '\x01\x00\x01\x00\x08\x01\x07\x00\x00\x00\x00' > corpus/warm_file/seed-small
printf '\x01\x10\x00\x40\x00\x01\x02\x01' > corpus/warm_file/seed-short-body
head -c 4200 /dev/zero > corpus/warm_file/seed-zeros

# index: a real index from warming two fixtures into a scratch cache.
tmp=$(mktemp -d)
cargo run -q --release --manifest-path ../Cargo.toml -- --cache-dir "$tmp" cache warm \
    "$fixtures/vorbis.ogg" "$fixtures/flac16_44k.flac" --rate 48000 >/dev/null 2>&1 || true
if [[ -f $tmp/index.json ]]; then cp "$tmp/index.json" corpus/index/seed-real; fi
echo '{"version":1,"next_seq":0,"counters":{},"tracks":[]}' > corpus/index/seed-empty
rm -rf "$tmp"
