#!/usr/bin/env bash
# Builds every guest under guests/<name>/ into guests/<name>/<name>.elf with Debian's
# gcc-riscv64-unknown-elf, for rv32imac_zicsr_zifencei / ilp32.
#
#   guests/build.sh           rebuild the committed ELF files in place
#   guests/build.sh --check   rebuild into a scratch folder and fail if any committed ELF differs
#
# A guest folder holds its C and assembly sources. Unless it has a file named `standalone`, the
# runtime in guests/lib (crt0, UART printf, test-device exit) is linked in. A `link.ld` in the
# folder replaces guests/lib/link.ld; a `cflags` file adds compiler flags.
#
# Reproducibility: no debug info, no build id, source paths mapped to "guests/", and sources
# compiled in sorted order, so the same toolchain gives the same bytes on every machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mode=build
[ "${1:-}" = "--check" ] && mode=check

CC=${CC:-riscv64-unknown-elf-gcc}
if ! command -v "$CC" >/dev/null; then
  echo "guests/build.sh: $CC not found (apt-get install gcc-riscv64-unknown-elf)" >&2
  exit 1
fi

ARCH_FLAGS=(-march=rv32imac_zicsr_zifencei -mabi=ilp32)
CFLAGS=(-O2 -ffreestanding -fno-builtin -nostdlib -nostartfiles -fno-pic -mcmodel=medany
        -fno-asynchronous-unwind-tables -fno-ident -Wall -Wextra -Werror
        "-ffile-prefix-map=$here/=guests/")
LDFLAGS=(-Wl,--build-id=none -Wl,--no-warn-rwx-segments -static)

if [ "$mode" = check ]; then
  out_root=$(mktemp -d)
  trap 'rm -rf "$out_root"' EXIT
else
  out_root=""
fi

status=0
for dir in "$here"/*/; do
  name=$(basename "$dir")
  case "$name" in lib|include|test|.build) continue ;; esac
  mapfile -t sources < <(cd "$dir" && ls -1 -- *.c *.S 2>/dev/null | LC_ALL=C sort)
  [ "${#sources[@]}" -gt 0 ] || continue
  includes=(-I "$here/include" -I "$here/lib" -I "$dir")
  inputs=()
  for s in "${sources[@]}"; do inputs+=("$dir$s"); done
  if [ ! -f "$dir/standalone" ]; then
    inputs+=("$here/lib/crt0.S" "$here/lib/rt.c")
  fi
  script="$here/lib/link.ld"
  [ -f "$dir/link.ld" ] && script="$dir/link.ld"
  extra=()
  [ -f "$dir/cflags" ] && read -r -a extra < "$dir/cflags"
  if [ "$mode" = check ]; then out="$out_root/$name.elf"; else out="$dir$name.elf"; fi
  # Compile each source to an object with a stable name first: linking sources directly would
  # leave gcc's random temporary object names in the symbol table.
  objdir=$(mktemp -d)
  objects=()
  for src in "${inputs[@]}"; do
    obj="$objdir/$(basename "$src").o"
    "$CC" "${ARCH_FLAGS[@]}" "${CFLAGS[@]}" "${extra[@]}" "${includes[@]}" -c -o "$obj" "$src"
    objects+=("$obj")
  done
  (cd "$objdir" && "$CC" "${ARCH_FLAGS[@]}" "${CFLAGS[@]}" "${extra[@]}" -T "$script" \
    "${LDFLAGS[@]}" -o "$out" "${objects[@]##*/}" -lgcc)
  rm -rf "$objdir"
  if [ "$mode" = check ]; then
    if cmp -s "$out" "$dir$name.elf"; then
      echo "guest $name: reproducible"
    else
      echo "guest $name: committed $name.elf differs from a fresh build (run guests/build.sh)" >&2
      status=1
    fi
  else
    echo "built guests/$name/$name.elf ($(stat -c %s "$out") bytes)"
  fi
done
exit $status
