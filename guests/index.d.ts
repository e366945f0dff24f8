/** The folder holding `<name>/<name>.elf` for every bundled guest. */
export declare const guestsDirectory: string;
/** The names of the bundled guests (folders with a built ELF), sorted. */
export declare function bundledGuests(): string[];
/** The absolute path of a bundled guest's ELF file; a RangeError naming the guests for an unknown name. */
export declare function guestElf(name: string): string;
/**
 * A file shipped beside a bundled guest (`disk.img`, `oracle.json`), or undefined if it has none;
 * a RangeError for an unknown guest or a name that is not a plain file name.
 */
export declare function guestFile(name: string, file: string): string | undefined;
