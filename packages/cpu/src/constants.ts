// The privileged architecture's numbering lives in `@matryoshka/isa`, where the hardware packages
// below this one (mmu, interrupts) can reach it too; the hart's users keep importing it from here.
export { Cause, COUNTEREN, INTERRUPT_BIT, Irq, MIP, MPP_SHIFT, MSTATUS, Priv } from "@matryoshka/isa";
