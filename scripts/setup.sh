#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for matryoshka: the RISC-V cross compiler (to build guests),
# QEMU (the reference machine our tests compare against), dtc (to decompile our device trees),
# gdb-multiarch (the gdb stub's end-to-end test),
# pnpm, and the workspace's npm dependencies. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v riscv64-unknown-elf-gcc >/dev/null || need_apt+=(gcc-riscv64-unknown-elf)
command -v riscv64-unknown-elf-objdump >/dev/null || need_apt+=(binutils-riscv64-unknown-elf)
command -v qemu-system-riscv32 >/dev/null || need_apt+=(qemu-system-misc)
command -v dtc >/dev/null || need_apt+=(device-tree-compiler)
command -v gdb-multiarch >/dev/null || need_apt+=(gdb-multiarch)
if [ "${#need_apt[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need_apt[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v pnpm >/dev/null || [ "$(pnpm --version)" != 10.34.9 ]; then
  # corepack's signature check fails on this kind of machine; npm installs pnpm directly.
  echo "setup: installing pnpm 10.34.9 (the version package.json pins)"
  npm install -g pnpm@10.34.9 >/dev/null
fi

pnpm install --frozen-lockfile --reporter=append-only
