#!/usr/bin/env bash
# Builds a Linux 6.1 rv32 guest that drives matryoshka's virtio-balloon (issue 19) and virtio-net
# (issue 21), OUTSIDE the repository: OpenSBI's fw_jump.bin, the kernel's Image (tinyconfig +
# matryoshka.config) and an initramfs whose /init (init.c) either prints "init: up" and sleeps or,
# with mtest=udp-server / mtest=udp-client on the kernel command line, exchanges UDP over eth0.
# Idempotent: each step is skipped when its output is newer than its inputs (the kernel's make
# rebuilds only what changed). Nothing it builds belongs in git.
#
#   bash scripts/linux/build.sh            # build (as root the first time: it installs packages)
#   bash scripts/linux/build.sh --print    # print the cache folder and exit
#
# Environment:
#   MATRYOSHKA_LINUX_CACHE  where to build (default ~/.cache/matryoshka/linux)
#   OPENSBI_REPO            OpenSBI git repository to clone (default GitHub's; a local clone or bare
#                           git directory works too, e.g. OPENSBI_REPO=/path/to/opensbi.git)
#   OPENSBI_TAG             OpenSBI tag (default v1.2)
#   JOBS                    make -j (default 2)
#
# Outputs in the cache folder: fw_jump.bin, Image, initramfs.cpio, config (the kernel's .config),
# build.log-style logs in logs/.
set -euo pipefail

CACHE="${MATRYOSHKA_LINUX_CACHE:-$HOME/.cache/matryoshka/linux}"
if [[ "${1:-}" == "--print" ]]; then
  echo "$CACHE"
  exit 0
fi
OPENSBI_REPO="${OPENSBI_REPO:-https://github.com/riscv-software-src/opensbi}"
OPENSBI_TAG="${OPENSBI_TAG:-v1.2}"
JOBS="${JOBS:-2}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$CACHE/src"
LINUX="$SRC/linux-source-6.1"
KBUILD="$CACHE/build/linux"
CROSS=riscv64-linux-gnu-

mkdir -p "$SRC" "$CACHE/build" "$CACHE/logs"
step() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# 1. Packages (Debian 12): the kernel source, a Linux cross compiler (kernel, OpenSBI), the
#    bare-metal one (the init, as for guests/), and the kernel's build tools.
PACKAGES=(linux-source-6.1 gcc-riscv64-linux-gnu gcc-riscv64-unknown-elf gcc libc6-dev bc flex bison
  cpio xz-utils make git python3 libssl-dev libelf-dev)
missing=()
for package in "${PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "build.sh: missing packages ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  step "apt-get install ${missing[*]}"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# 2. Kernel source, unpacked once from Debian's linux-source-6.1 tarball.
TARBALL=/usr/src/linux-source-6.1.tar.xz
if [[ ! -f "$LINUX/.unpacked" || "$TARBALL" -nt "$LINUX/.unpacked" ]]; then
  step "unpacking $TARBALL"
  rm -rf "$LINUX"
  tar -C "$SRC" -xf "$TARBALL"
  touch "$LINUX/.unpacked"
fi

# 3. OpenSBI fw_jump for rv32 (QEMU's -bios): the kernel follows at 0x80400000, as QEMU and
#    matryoshka load it. The ISA is the hart's (RV32IMAC): no FP code in the firmware.
OPENSBI="$SRC/opensbi-$OPENSBI_TAG"
if [[ ! -d "$OPENSBI/.git" ]]; then
  step "cloning OpenSBI $OPENSBI_TAG from $OPENSBI_REPO"
  rm -rf "$OPENSBI"
  source_url="$OPENSBI_REPO"
  # A local path is cloned through file:// so that --depth applies (git ignores it otherwise).
  [[ -d "$source_url" ]] && source_url="file://$(cd "$source_url" && pwd)"
  git -c advice.detachedHead=false clone --quiet --depth 1 --branch "$OPENSBI_TAG" "$source_url" "$OPENSBI"
fi
if [[ ! -f "$CACHE/fw_jump.bin" ]]; then
  step "building OpenSBI (log: $CACHE/logs/opensbi.log)"
  make -C "$OPENSBI" -j"$JOBS" PLATFORM=generic PLATFORM_RISCV_XLEN=32 \
    PLATFORM_RISCV_ISA=rv32imac_zicsr_zifencei PLATFORM_RISCV_ABI=ilp32 \
    CROSS_COMPILE="$CROSS" >"$CACHE/logs/opensbi.log" 2>&1
  cp "$OPENSBI/build/platform/generic/firmware/fw_jump.bin" "$CACHE/fw_jump.bin"
fi

# 4. The kernel: tinyconfig, then matryoshka.config over it; every option of the fragment must
#    have survived olddefconfig (a dependency missing would drop it silently).
mkdir -p "$KBUILD"
KMAKE=(make -C "$LINUX" O="$KBUILD" ARCH=riscv CROSS_COMPILE="$CROSS")
if [[ ! -f "$KBUILD/.config" || "$HERE/matryoshka.config" -nt "$KBUILD/.config" ]]; then
  step "configuring the kernel"
  "${KMAKE[@]}" tinyconfig >"$CACHE/logs/config.log" 2>&1
  "$LINUX/scripts/kconfig/merge_config.sh" -m -O "$KBUILD" "$KBUILD/.config" "$HERE/matryoshka.config" >>"$CACHE/logs/config.log" 2>&1
  "${KMAKE[@]}" olddefconfig >>"$CACHE/logs/config.log" 2>&1
  while read -r line; do
    case "$line" in
      CONFIG_*=*) grep -qx "$line" "$KBUILD/.config" || { echo "build.sh: $line did not survive olddefconfig" >&2; exit 1; } ;;
      "# CONFIG_"*" is not set") ! grep -q "^${line:2:-11}=" "$KBUILD/.config" || { echo "build.sh: ${line:2:-11} is set" >&2; exit 1; } ;;
    esac
  done <"$HERE/matryoshka.config"
fi
step "building the kernel (make -j$JOBS Image; log: $CACHE/logs/kernel.log)"
"${KMAKE[@]}" -j"$JOBS" Image >"$CACHE/logs/kernel.log" 2>&1 || { tail -30 "$CACHE/logs/kernel.log" >&2; exit 1; }
cp "$KBUILD/arch/riscv/boot/Image" "$CACHE/Image"
cp "$KBUILD/.config" "$CACHE/config"

# 5. The initramfs: /init (static, no libc) and /dev/console, packed by the kernel's gen_init_cpio
#    (so no root or mknod is needed).
if [[ ! -f "$CACHE/init" || "$HERE/init.c" -nt "$CACHE/init" || "$HERE/initramfs.list" -nt "$CACHE/initramfs.cpio" ]]; then
  step "building the initramfs"
  riscv64-unknown-elf-gcc -march=rv32imac_zicsr -mabi=ilp32 -Os -static -nostdlib -ffreestanding \
    -fno-pic -Wl,--no-relax -Wl,-e,_start -o "$CACHE/init" "$HERE/init.c"
  gcc -O2 -o "$CACHE/build/gen_init_cpio" "$LINUX/usr/gen_init_cpio.c"
  sed "s|@INIT@|$CACHE/init|" "$HERE/initramfs.list" >"$CACHE/build/initramfs.list"
  "$CACHE/build/gen_init_cpio" "$CACHE/build/initramfs.list" >"$CACHE/initramfs.cpio"
fi
step "done: $CACHE/{fw_jump.bin,Image,initramfs.cpio}"
