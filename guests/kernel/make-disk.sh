#!/usr/bin/env bash
# Writes guests/kernel/disk.img: a 16 KiB (32-sector) raw image in the kernel's read-only
# "MTRYFS01" format (described in README.md). Reproducible: the same bytes on every run and machine.
#
#   bash guests/kernel/make-disk.sh            writes guests/kernel/disk.img
#   bash guests/kernel/make-disk.sh OUT.img    writes OUT.img
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/disk.img}
export LC_ALL=C
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

SECTORS=32
SCRATCH=31

# the files
printf 'The quick brown fox jumps over the lazy dog.\nPack my box with five dozen liquor jugs.\n' \
  > "$tmp/fox.txt"
words=("sphinx of black quartz, judge my vow" "how vexingly quick daft zebras jump"
       "the five boxing wizards jump quickly" "jackdaws love my big sphinx of quartz")
for i in $(seq 1 36); do
  printf 'line %02d: %s\n' "$i" "${words[$(( (i - 1) % 4 ))]}"
done > "$tmp/pangrams.txt"
files=(fox.txt pangrams.txt)

le32() {  # little-endian 32-bit value
  local v=$1
  printf "\\x$(printf %02x $((v & 255)))\\x$(printf %02x $(((v >> 8) & 255)))"
  printf "\\x$(printf %02x $(((v >> 16) & 255)))\\x$(printf %02x $(((v >> 24) & 255)))"
}
fnv1a() {  # FNV-1a 32 of a file
  local h=2166136261 b
  for b in $(od -An -v -tu1 "$1"); do h=$(( ((h ^ b) * 16777619) & 0xffffffff )); done
  echo "$h"
}
pad_to() {  # pad file $1 with zero bytes to a multiple of $2
  local size; size=$(stat -c %s "$1")
  local rem=$(( (size + $2 - 1) / $2 * $2 - size ))
  [ "$rem" -eq 0 ] || head -c "$rem" /dev/zero >> "$1"
}

# sector 0: header (64 bytes) + file table (32 bytes per file)
{
  printf 'MTRYFS01'
  le32 $SECTORS; le32 ${#files[@]}; le32 $SCRATCH
  head -c 44 /dev/zero
} > "$tmp/sector0"
: > "$tmp/data"
next=1
for f in "${files[@]}"; do
  size=$(stat -c %s "$tmp/$f")
  { printf '%s' "$f"; head -c $((16 - ${#f})) /dev/zero
    le32 $next; le32 "$size"; le32 "$(fnv1a "$tmp/$f")"; le32 0; } >> "$tmp/sector0"
  cat "$tmp/$f" >> "$tmp/data"
  pad_to "$tmp/data" 512
  next=$(( next + (size + 511) / 512 ))
done
pad_to "$tmp/sector0" 512
[ "$next" -le "$SCRATCH" ] || { echo "make-disk.sh: files overlap the scratch sector" >&2; exit 1; }

{
  cat "$tmp/sector0" "$tmp/data"
  head -c $(( (SCRATCH - next) * 512 )) /dev/zero
  # the scratch sector: the kernel overwrites it and puts these bytes back
  printf 'MTRYFS01 scratch sector: the kernel writes a pattern here and restores this text.\n' > "$tmp/scratch"
  pad_to "$tmp/scratch" 512
  cat "$tmp/scratch"
} > "$tmp/disk.img"
[ "$(stat -c %s "$tmp/disk.img")" -eq $((SECTORS * 512)) ] || { echo "make-disk.sh: bad size" >&2; exit 1; }
mv "$tmp/disk.img" "$out"
echo "wrote $out ($((SECTORS * 512)) bytes)"
