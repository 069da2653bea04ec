#!/usr/bin/env bash
# Regenerates assets/demo.flac and every file in assets/fixtures/ from the synthesised demo.
#
#   bash assets/tools/make_fixtures.sh
#
# Needs cargo, ffmpeg/ffprobe (with libmp3lame, libvorbis, libopus and libsoxr) and openssl.
# The outputs are committed: tests never need ffmpeg. Re-running produces identical files (the
# synth and the pseudo-random bytes are deterministic; ffmpeg runs in bit-exact mode), at least
# with the same ffmpeg build (Debian 12's ffmpeg 5.1 made the committed ones).
# DEMO_WAV=/path/to/demo.wav uses an already rendered demo instead of building the example.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ASSETS=$ROOT/assets
FIX=$ASSETS/fixtures
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$FIX"
find "$FIX" -type f ! -name README.md -delete

TITLE="Hearth Demo — Embers at Dusk"
CLIP_START=20 # seconds into the demo: full section, drums + bass + lead

# 1. Synthesise the demo (deterministic) into a temporary WAV.
if [[ -n ${DEMO_WAV:-} ]]; then
    cp "$DEMO_WAV" "$TMP/demo.wav"
else
    (cd "$ROOT" && cargo run --quiet --release -p hearth --example make_demo -- "$TMP/demo.wav")
fi

# ffmpeg, quiet, overwriting, bit-exact (no encoder version strings), no extra FLAC padding.
ff() {
    ffmpeg -nostdin -hide_banner -loglevel error -y "$@"
}
BITEXACT=(-fflags +bitexact -flags:a +bitexact -map_metadata -1)
FLAC=(-c:a flac -compression_level 8 -metadata_header_padding 0)
# Resample in double precision: given integer samples, libsoxr dithers its output with a
# time-seeded generator, which would make every run differ.
SOXR=aformat=sample_fmts=dblp,aresample=resampler=soxr:precision=28
MONO='pan=mono|c0=0.5*c0+0.5*c1'
# Deterministic pseudo-random bytes: AES-128-CTR keystream with a fixed key.
# prng_bytes COUNT IV_HEX
prng_bytes() {
    head -c "$1" /dev/zero |
        openssl enc -aes-128-ctr -K 6865617274682d666978747572657321 -iv "$2"
}

# 2. The bundled demo track.
ff -i "$TMP/demo.wav" "${BITEXACT[@]}" "${FLAC[@]}" -sample_fmt s16 \
    -metadata "title=$TITLE" -metadata artist=Hearth -metadata album=Hearth -metadata date=2026 \
    "$ASSETS/demo.flac"

# The demo as MP3 too: the latency benchmarks compare engines on FLAC and MP3.
ff -i "$TMP/demo.wav" "${BITEXACT[@]}" -c:a libmp3lame -b:a 192k \
    -metadata "title=$TITLE" -metadata artist=Hearth -metadata album=Hearth -metadata date=2026 \
    "$ASSETS/demo.mp3"

# 3. The source clip for the fixtures: 2 s from the lively full section.
ff -ss "$CLIP_START" -t 2 -i "$TMP/demo.wav" -c:a pcm_s16le "$TMP/clip.wav"

# fixture FILE [ffmpeg output options...]: encode the clip into $FIX/FILE, tagged.
fixture() {
    local file=$1
    shift
    ff -i "$TMP/clip.wav" "${BITEXACT[@]}" "$@" \
        -metadata "title=Hearth fixture ${file%.*}" -metadata artist=Hearth "$FIX/$file"
}

# FLAC
fixture flac16_44k.flac "${FLAC[@]}" -sample_fmt s16
fixture flac24_96k.flac -t 1 -af "$SOXR:osr=96000" "${FLAC[@]}" -sample_fmt s32 -bits_per_raw_sample 24
fixture flac16_48k_mono.flac -af "$MONO,$SOXR:osr=48000" "${FLAC[@]}" -sample_fmt s16

# MP3: libmp3lame writes a Xing/Info frame with a LAME tag (encoder delay and padding).
fixture mp3_cbr.mp3 -c:a libmp3lame -b:a 128k
fixture mp3_vbr.mp3 -c:a libmp3lame -q:a 4
fixture mp3_mono.mp3 -af "$MONO" -c:a libmp3lame -b:a 96k

# Ogg Vorbis
fixture vorbis.ogg -c:a libvorbis -q:a 4

# WAV (tags in a RIFF INFO list) and AIFF
fixture wav16.wav -c:a pcm_s16le
fixture wav24_48k.wav -t 1 -af "$SOXR:osr=48000" -c:a pcm_s24le
fixture wav_mono.wav -af "$MONO,$SOXR:osr=22050" -c:a pcm_s16le
fixture aiff16.aiff -t 1 -c:a pcm_s16be -write_id3v2 1

# MP4 and CAF
fixture aac.m4a -c:a aac -b:a 128k
fixture alac.m4a -c:a alac -sample_fmt s16p
fixture caf_pcm.caf -t 1 -c:a pcm_s16be

# 5.1 FLAC: FL/FR = the demo, FC = mono sum, LFE = low-passed sum, BL/BR = side signal.
SURROUND='pan=5.1|FL=c0|FR=c1|FC=0.5*c0+0.5*c1|LFE=0.5*c0+0.5*c1|BL=0.4*c0-0.4*c1|BR=0.4*c1-0.4*c0'
fixture surround51.flac -t 1 -af "$SOXR:osr=48000,$SURROUND,lowpass=f=120:c=LFE" \
    "${FLAC[@]}" -sample_fmt s16

# Opus in Ogg (decoded through libopus).
fixture opus.ogg -c:a libopus -b:a 64k

# A codec Hearth cannot decode, in a container it parses: AC-3 in Matroska.
fixture ac3.mka -t 0.5 -c:a ac3 -b:a 96k

# 4. Bad inputs for the error paths.
: >"$FIX/empty.flac"

LOREM="Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor \
incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud \
exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. "
text=""
while ((${#text} < 2048)); do text+=$LOREM; done
printf '%s' "${text:0:2047}" >"$FIX/not_audio.flac"
printf '\n' >>"$FIX/not_audio.flac"

size=$(stat -c %s "$FIX/flac16_44k.flac")
head -c $((size * 40 / 100)) "$FIX/flac16_44k.flac" >"$FIX/truncated.flac"

# The metadata and the first two complete FLAC frames (a frame here is ~8 KB, so a fixed 4 KB cut
# would hold no complete frame), then 20 KB of noise.
third_frame=$(ffprobe -v error -show_entries packet=pos -of csv=p=0 "$FIX/flac16_44k.flac" | sed -n 3p)
{
    head -c "$third_frame" "$FIX/flac16_44k.flac"
    prng_bytes 20480 00000000000000000000000000000001
} >"$FIX/garbage_tail.flac"

# A canonical 44-byte WAV header claiming 2 s of 16-bit stereo 44.1 kHz (352800 data bytes),
# followed by only 500 bytes of noise.
le16() { printf '%b' "$(printf '\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)))"; }
le32() { le16 $(($1 & 65535)) && le16 $(($1 >> 16)); }
data=$((2 * 44100 * 4))
{
    printf 'RIFF'
    le32 $((36 + data))
    printf 'WAVEfmt '
    le32 16
    le16 1     # PCM
    le16 2     # channels
    le32 44100 # sample rate
    le32 $((44100 * 4))
    le16 4  # block align
    le16 16 # bits per sample
    printf 'data'
    le32 "$data"
    prng_bytes 500 00000000000000000000000000000002
} >"$FIX/garbage_after_header.wav"

echo "assets: $(du -sb "$ASSETS" | cut -f1) bytes"
ls -l "$ASSETS/demo.flac" "$FIX"
