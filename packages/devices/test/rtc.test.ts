import { describe, expect, it } from "vitest";
import { GoldfishRtc, GoldfishRtcRegister as R } from "@matryoshka/devices";

function rtc(start: bigint) {
  let now = start;
  const levels: boolean[] = [];
  const device = new GoldfishRtc(() => now, (level) => levels.push(level));
  return {
    device,
    levels,
    advance: (ns: bigint) => {
      now += ns;
    },
    line: () => levels[levels.length - 1] ?? false,
    time: () => {
      const low = device.read(R.TimeLow, 4)!;
      const high = device.read(R.TimeHigh, 4)!;
      return (BigInt(high) << 32n) | BigInt(low);
    },
  };
}

const T0 = 1_700_000_000_000_000_000n; // 2023-11-14, in ns

describe("goldfish RTC", () => {
  it("reads the clock in nanoseconds, latching the high word on a TIME_LOW read", () => {
    const r = rtc(0x1234_5678_9abc_def0n);
    expect(r.device.read(R.TimeLow, 4)).toBe(0x9abc_def0);
    r.advance(0x1_0000_0000n * 5n);
    expect(r.device.read(R.TimeHigh, 4)).toBe(0x1234_5678); // still the latched word
    expect(r.time()).toBe(0x1234_567d_9abc_def0n);
  });

  it("sets the time with TIME_HIGH and TIME_LOW writes, then keeps counting", () => {
    const r = rtc(T0);
    r.device.write(R.TimeHigh, 4, 0x10);
    r.device.write(R.TimeLow, 4, 0x20);
    expect(r.time()).toBe(0x10_0000_0020n);
    r.advance(1000n);
    expect(r.time()).toBe(0x10_0000_0020n + 1000n);
    expect(r.device.now()).toBe(0x10_0000_0020n + 1000n);
  });

  it("fires the alarm when time passes it, raising the line only while IRQ_ENABLED", () => {
    const r = rtc(T0);
    const alarm = T0 + 5_000n;
    r.device.write(R.AlarmHigh, 4, Number(alarm >> 32n));
    r.device.write(R.AlarmLow, 4, Number(alarm & 0xffff_ffffn));
    expect(r.device.read(R.AlarmStatus, 4)).toBe(1);
    expect(r.device.read(R.AlarmLow, 4)).toBe(Number(alarm & 0xffff_ffffn));
    expect(r.device.read(R.AlarmHigh, 4)).toBe(Number(alarm >> 32n));
    expect(r.device.nextAlarm).toBe(alarm);
    r.advance(4_999n);
    r.device.update();
    expect(r.device.read(R.AlarmStatus, 4)).toBe(1);
    r.advance(1n);
    r.device.update();
    expect(r.device.read(R.AlarmStatus, 4)).toBe(0);
    expect(r.device.nextAlarm).toBeUndefined();
    expect(r.line()).toBe(false); // interrupts not enabled yet
    r.device.write(R.IrqEnabled, 4, 1);
    expect(r.device.read(R.IrqEnabled, 4)).toBe(1);
    expect(r.line()).toBe(true); // the pending alarm shows once enabled
    r.device.write(R.ClearInterrupt, 4, 1);
    expect(r.line()).toBe(false);
    expect(r.levels).toEqual([true, false]);
  });

  it("fires at once for an alarm already in the past, and CLEAR_ALARM disarms", () => {
    const r = rtc(T0);
    r.device.write(R.IrqEnabled, 4, 1);
    r.device.write(R.AlarmHigh, 4, Number((T0 - 1n) >> 32n));
    r.device.write(R.AlarmLow, 4, Number((T0 - 1n) & 0xffff_ffffn));
    expect(r.line()).toBe(true);
    expect(r.device.read(R.AlarmStatus, 4)).toBe(0);
    r.device.write(R.ClearInterrupt, 4, 0);
    expect(r.line()).toBe(false);

    const later = T0 + 1_000_000n;
    r.device.write(R.AlarmHigh, 4, Number(later >> 32n));
    r.device.write(R.AlarmLow, 4, Number(later & 0xffff_ffffn));
    r.device.write(R.ClearAlarm, 4, 1);
    expect(r.device.read(R.AlarmStatus, 4)).toBe(0);
    r.advance(2_000_000n);
    r.device.update();
    expect(r.line()).toBe(false);
  });

  it("notices a due alarm on a register read even without update()", () => {
    const r = rtc(T0);
    r.device.write(R.IrqEnabled, 4, 1);
    r.device.write(R.AlarmHigh, 4, Number((T0 + 10n) >> 32n));
    r.device.write(R.AlarmLow, 4, Number((T0 + 10n) & 0xffff_ffffn));
    r.advance(10n);
    expect(r.device.read(R.AlarmStatus, 4)).toBe(0);
    expect(r.device.interruptLevel).toBe(true);
  });

  it("reads 0 for unknown registers; bus error (an access fault) for narrow accesses, as on QEMU 7.2, and past its region", () => {
    const r = rtc(T0);
    expect(r.device.read(0x20, 4)).toBe(0);
    expect(r.device.read(R.TimeLow, 2)).toBeUndefined();
    expect(r.device.read(R.TimeLow, 1)).toBeUndefined();
    expect(r.device.write(R.AlarmLow, 2, 0)).toBe(false);
    expect(r.device.read(0x1000, 4)).toBeUndefined();
    expect(r.device.write(0x1000, 4, 0)).toBe(false);
  });
});
