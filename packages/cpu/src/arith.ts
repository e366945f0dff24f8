/** Upper 32 bits of the unsigned 64-bit product of two 32-bit values (as int32). */
export function mulhu(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const lh = al * bh;
  const hl = ah * bl;
  const carry = (((al * bl) >>> 16) + (lh & 0xffff) + (hl & 0xffff)) >>> 16;
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + carry) | 0;
}

/** Upper 32 bits of the signed × signed product (MULH). */
export function mulh(a: number, b: number): number {
  return (mulhu(a, b) - (a < 0 ? b : 0) - (b < 0 ? a : 0)) | 0;
}

/** Upper 32 bits of the signed × unsigned product (MULHSU). */
export function mulhsu(a: number, b: number): number {
  return (mulhu(a, b) - (a < 0 ? b : 0)) | 0;
}

/** DIV: division by zero gives -1, and INT_MIN / -1 overflows to INT_MIN (unprivileged spec §7.2). */
export function div(a: number, b: number): number {
  if (b === 0) return -1;
  if (a === -0x8000_0000 && b === -1) return a;
  return (a / b) | 0;
}

export function divu(a: number, b: number): number {
  if (b === 0) return -1;
  return ((a >>> 0) / (b >>> 0)) | 0;
}

/** REM: the remainder of division by zero is the dividend, of the overflow case 0. */
export function rem(a: number, b: number): number {
  if (b === 0) return a;
  if (a === -0x8000_0000 && b === -1) return 0;
  return a % b | 0;
}

export function remu(a: number, b: number): number {
  if (b === 0) return a;
  return (a >>> 0) % (b >>> 0) | 0;
}
