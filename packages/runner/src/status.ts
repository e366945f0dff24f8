import type { RunOutcome } from "@matryoshka/machine";

/**
 * The status a guest's run ends with, as `matryoshka run` exits: 0 pass, the guest's code on a
 * failure (its low 8 bits; 3 when those are 0), 124 when the instruction limit ran out, 3 for any
 * abnormal stop (idle with nothing to wake it, stuck in a trap loop, reset).
 */
export const GuestStatus = { pass: 0, abnormal: 3, limit: 124 } as const;

export function guestStatus(outcome: RunOutcome): number {
  switch (outcome.kind) {
    case "pass":
      return GuestStatus.pass;
    case "fail":
      return outcome.code === 0 ? GuestStatus.abnormal : outcome.code & 0xff || GuestStatus.abnormal;
    case "limit":
      return GuestStatus.limit;
    default:
      return GuestStatus.abnormal;
  }
}

/** A one-line description of an outcome: "pass", "fail 42", "limit", "idle: <reason>". */
export function describeOutcome(outcome: RunOutcome): string {
  switch (outcome.kind) {
    case "fail":
      return `fail ${outcome.code}`;
    case "idle":
    case "stuck":
    case "stopped":
      return `${outcome.kind}: ${outcome.reason}`;
    default:
      return outcome.kind;
  }
}
