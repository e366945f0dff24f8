#!/usr/bin/env python3
"""Computes the expected group hashes of guests/isa from the RISC-V unprivileged ISA manual's
definitions (20191213), independently of any RISC-V implementation, and writes expected.h.

Run from guests/isa:  python3 gen_expected.py > expected.h
The group order and contents mirror isa.c exactly."""

M = 0xFFFFFFFF
V = [0x00000000, 0x00000001, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0x80000001,
     0x12345678, 0xFEDCBA98, 0x0000001F, 0x00000020, 0x00000021]


def s32(x):
    return x - (1 << 32) if x & 0x80000000 else x


def sx(x, bits):
    x &= (1 << bits) - 1
    return (x - (1 << bits)) & M if x >> (bits - 1) else x


def div(a, b):
    if b == 0:
        return M
    if a == 0x80000000 and b == M:
        return a
    q = abs(s32(a)) // abs(s32(b))
    return (-q if (s32(a) < 0) != (s32(b) < 0) else q) & M


def rem(a, b):
    if b == 0:
        return a
    if a == 0x80000000 and b == M:
        return 0
    r = abs(s32(a)) % abs(s32(b))
    return (-r if s32(a) < 0 else r) & M


RR = [
    ("add", lambda a, b: (a + b) & M),
    ("sub", lambda a, b: (a - b) & M),
    ("sll", lambda a, b: (a << (b & 31)) & M),
    ("slt", lambda a, b: int(s32(a) < s32(b))),
    ("sltu", lambda a, b: int(a < b)),
    ("xor", lambda a, b: a ^ b),
    ("srl", lambda a, b: a >> (b & 31)),
    ("sra", lambda a, b: (s32(a) >> (b & 31)) & M),
    ("or", lambda a, b: a | b),
    ("and", lambda a, b: a & b),
    ("mul", lambda a, b: (a * b) & M),
    ("mulh", lambda a, b: ((s32(a) * s32(b)) >> 32) & M),
    ("mulhsu", lambda a, b: ((s32(a) * b) >> 32) & M),
    ("mulhu", lambda a, b: (a * b) >> 32),
    ("div", div),
    ("divu", lambda a, b: M if b == 0 else a // b),
    ("rem", rem),
    ("remu", lambda a, b: a if b == 0 else a % b),
    ("c.add", lambda a, b: (a + b) & M),
    ("c.mv", lambda a, b: b),
    ("c.sub", lambda a, b: (a - b) & M),
    ("c.xor", lambda a, b: a ^ b),
    ("c.or", lambda a, b: a | b),
    ("c.and", lambda a, b: a & b),
]

IMMS = [0, 1, -1, 2047, -2048, 0x555]
SHAMTS = [0, 1, 4, 31]
RI = [
    ("addi", IMMS, lambda a, i: (a + i) & M),
    ("slti", IMMS, lambda a, i: int(s32(a) < i)),
    ("sltiu", IMMS, lambda a, i: int(a < (i & M))),
    ("xori", IMMS, lambda a, i: a ^ (i & M)),
    ("ori", IMMS, lambda a, i: a | (i & M)),
    ("andi", IMMS, lambda a, i: a & (i & M)),
    ("slli", SHAMTS, lambda a, i: (a << i) & M),
    ("srli", SHAMTS, lambda a, i: a >> i),
    ("srai", SHAMTS, lambda a, i: (s32(a) >> i) & M),
]
UIMMS = [0, 1, 0x80000, 0xFFFFF, 0x12345]

BR = [
    ("beq", lambda a, b: a == b),
    ("bne", lambda a, b: a != b),
    ("blt", lambda a, b: s32(a) < s32(b)),
    ("bge", lambda a, b: s32(a) >= s32(b)),
    ("bltu", lambda a, b: a < b),
    ("bgeu", lambda a, b: a >= b),
    ("c.beqz", lambda a, b: a == 0),
    ("c.bnez", lambda a, b: a != 0),
]

LBUF = [0x00, 0x80, 0x7F, 0xFF, 0x01, 0xFE, 0x55, 0xAA, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0]


def le(buf, off, n):
    return sum(buf[off + i] << (8 * i) for i in range(n))


AMO = [
    ("amoswap.w", lambda a, b: b),
    ("amoadd.w", lambda a, b: (a + b) & M),
    ("amoxor.w", lambda a, b: a ^ b),
    ("amoand.w", lambda a, b: a & b),
    ("amoor.w", lambda a, b: a | b),
    ("amomin.w", lambda a, b: a if s32(a) < s32(b) else b),
    ("amomax.w", lambda a, b: a if s32(a) > s32(b) else b),
    ("amominu.w", lambda a, b: min(a, b)),
    ("amomaxu.w", lambda a, b: max(a, b)),
]


def mix(h, v):
    h ^= v
    h = ((h << 7) | (h >> 25)) & M
    return (h + 0x9E3779B9) & M


groups = []


def group(name, values):
    h = 0x811C9DC5
    for v in values:
        assert 0 <= v <= M, (name, v)
        h = mix(h, v)
    groups.append((name, h))


for name, f in RR:
    group(name, [f(a, b) for a in V for b in V])
for name, imms, f in RI:
    group(name, [f(a, i) for i in imms for a in V])
group("lui", [(i << 12) & M for i in UIMMS])
group("auipc-minus-pc", [(i << 12) & M for i in UIMMS])
for name, f in BR:
    group(name, [sum(int(f(a, b)) << j for j, b in enumerate(V)) for a in V])
group("lb", [sx(LBUF[o], 8) for o in range(16)])
group("lbu", [LBUF[o] for o in range(16)])
group("lh", [sx(le(LBUF, o, 2), 16) for o in range(0, 16, 2)])
group("lhu", [le(LBUF, o, 2) for o in range(0, 16, 2)])
group("lw", [le(LBUF, o, 4) for o in range(0, 16, 4)])
group("load-offsets", [le(LBUF, 4, 4), le(LBUF, 12, 4), sx(LBUF[3], 8), le(LBUF, 12, 2),
                       sx(le(LBUF, 2, 2), 16), le(LBUF, 8, 4)])
SVALS = [0x12345678, 0xFFFFFF80]


def store(off, n, v):
    b = [0xA5] * 8
    for i in range(n):
        b[off + i] = (v >> (8 * i)) & 0xFF
    return le(b, 0, 4)


group("sb", [store(o, 1, v) for o in range(4) for v in SVALS])
group("sh", [store(o, 2, v) for o in (0, 2) for v in SVALS])
sw = []
for v in SVALS:
    sw += [v, 0xA5A5A5A5]
b = [0] * 12
for i in range(4):
    b[8 + i] = (0xCAFEF00D >> (8 * i)) & 0xFF
b[2], b[3] = 0x0D, 0xF0
b[7] = 0x0D
sw += [le(b, 0, 4), le(b, 4, 4), le(b, 8, 4)]
group("store-words", sw)
for name, f in AMO:
    group(name, [f(a, b) for a in V for b in V])

total = 0x811C9DC5
for _, h in groups:
    total = mix(total, h)

print("/* Generated by gen_expected.py from the ISA manual's definitions: do not edit. */")
print("static const struct {\n    const char *name;\n    uint32_t hash;\n} isa_expected[] = {")
for name, h in groups:
    print(f'    {{"{name}", 0x{h:08x}u}},')
print("};")
print(f"#define ISA_EXPECTED_CHECKSUM 0x{total:08x}u")
