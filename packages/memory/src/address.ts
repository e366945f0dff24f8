/**
 * Addresses of two spaces that a hypervisor juggles, as distinct types (as rust-vmm's vm-memory
 * separates `GuestAddress` from region offsets), so that one cannot be passed where the other
 * belongs without saying so:
 *
 * - a **guest-physical** address is what a machine's own harts, devices and loaders use: the
 *   physical address space of the board, 0x80000000 for the first byte of RAM on `virt`;
 * - a **platform-physical** address is an address in the memory of the platform beneath: where a
 *   hypervisor keeps a VM's frames and shadow tables. At level 1 it is the hardware's physical
 *   address; at level k it is the guest-physical address of the VM of level k-1.
 *
 * Both are plain numbers at run time (the brands exist only for the type checker): integers in
 * [0, 2^32). Sv32 can name 34-bit physical addresses, but no board we model has anything there.
 */
declare const guestPhysicalBrand: unique symbol;
declare const platformPhysicalBrand: unique symbol;

export type GuestPhysicalAddress = number & { readonly [guestPhysicalBrand]: true };
export type PlatformPhysicalAddress = number & { readonly [platformPhysicalBrand]: true };

/** Says that a number (from a register, a descriptor, an ELF header) is a guest-physical address. */
export function guestPhysical(address: number): GuestPhysicalAddress {
  return address as GuestPhysicalAddress;
}

/** Says that a number is an address in the platform's memory. */
export function platformPhysical(address: number): PlatformPhysicalAddress {
  return address as PlatformPhysicalAddress;
}

/**
 * The platform's view of its own memory is the guest-physical view one level down: a hypervisor
 * passes a frame of its platform to the platform's memory object, whose addresses are its own.
 */
export function asPlatformGuestAddress(address: PlatformPhysicalAddress): GuestPhysicalAddress {
  return address as number as GuestPhysicalAddress;
}

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const PAGE_MASK = PAGE_SIZE - 1;
