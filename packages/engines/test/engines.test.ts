import { describe, expect, it } from "vitest";
import { Hart, type Engine } from "@matryoshka/cpu";
import { encode, Op } from "@matryoshka/isa";
import { Bus, Ram, guestPhysical as gpa } from "@matryoshka/memory";
import { createEngine, ENGINE_NAMES, isEngineName } from "../src/index.js";

/** x1 = 1 + 2 + … + 100 by a loop, then x2 = 0x5050 * 3: a run both engines must finish alike. */
const SUM = Uint32Array.from([
  encode(Op.ADDI, { rd: 1, rs1: 0, imm: 0 }),
  encode(Op.ADDI, { rd: 3, rs1: 0, imm: 100 }),
  encode(Op.ADD, { rd: 1, rs1: 1, rs2: 3 }),
  encode(Op.ADDI, { rd: 3, rs1: 3, imm: -1 }),
  encode(Op.BNE, { rs1: 3, rs2: 0, imm: -8 }),
  encode(Op.ADDI, { rd: 4, rs1: 0, imm: 3 }),
  encode(Op.MUL, { rd: 2, rs1: 1, rs2: 4 }),
]);

function runOn(engine: Engine): { x1: number; x2: number; steps: number } {
  const ram = new Ram(0x8000_0000, 1 << 16);
  ram.write(gpa(0x8000_0000), new Uint8Array(SUM.buffer));
  const hart = new Hart(new Bus(ram), { pmpEntries: 0 });
  hart.reset(0x8000_0000);
  engine.run(hart, 2 + 3 * 100 + 2);
  return { x1: hart.x[1]!, x2: hart.x[2]!, steps: hart.steps };
}

describe("the engine registry", () => {
  it("names the interpreter first, then the translator", () => {
    expect(ENGINE_NAMES).toEqual(["interpreter", "bt"]);
    expect(isEngineName("bt")).toBe(true);
    expect(isEngineName("toString")).toBe(false);
  });

  it.each(ENGINE_NAMES.map((name) => [name]))("builds %s, which gives the same results as every other engine", (name) => {
    const engine = createEngine(name);
    expect(engine.name).toBe(name);
    expect(runOn(engine)).toEqual({ x1: 5050, x2: 15150, steps: 304 });
  });

  it.each(ENGINE_NAMES.map((name) => [name]))("%s names a module that builds another like it (what a worker thread imports)", async (name) => {
    const engine = createEngine(name);
    expect(engine.module).toMatch(/^file:.*\/engine-module\.(ts|js)$/);
    const built = ((await import(engine.module!)) as { createEngine(): Engine }).createEngine();
    expect(built.name).toBe(name);
    expect(built).not.toBe(engine);
    expect(runOn(built)).toEqual(runOn(engine));
  });

  it("refuses a name no engine has, listing the ones there are", () => {
    expect(() => createEngine("qemu")).toThrow('no execution engine "qemu" (known: interpreter, bt)');
  });
});
