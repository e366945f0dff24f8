/* fdt.h: a small reader for flattened device trees (Devicetree Specification v0.4, chapter 5).

   fdt_open checks the header; fdt_walk calls a visitor for every node, depth first, with what it
   needs to read the node's properties and to decode its reg (the #address-cells and #size-cells
   of its parent). Every read is bounds-checked against the blob's own sizes, so a malformed tree
   makes fdt_walk return an error instead of reading outside it. */
#ifndef DT_PROBE_FDT_H
#define DT_PROBE_FDT_H

#include <stdint.h>

struct fdt {
    const uint8_t *blob;
    uint32_t size;                    /* totalsize */
    uint32_t version;
    const uint8_t *structure, *structure_end;
    const char *strings;
    uint32_t strings_size;
};

struct fdt_node {
    const char *name;                 /* "" for the root, else e.g. "serial@10000000" */
    int depth;                        /* 0 for the root */
    uint32_t address_cells;           /* the parent's: how this node's reg is laid out */
    uint32_t size_cells;
    const uint8_t *props;             /* its first token after the name */
};

enum fdt_error { FDT_OK = 0, FDT_BAD_MAGIC = -1, FDT_BAD_VERSION = -2, FDT_BAD_LAYOUT = -3, FDT_BAD_STRUCTURE = -4, FDT_TOO_DEEP = -5 };

/* Returns 1 to go on, 0 to stop the walk. */
typedef int (*fdt_visitor)(const struct fdt *fdt, const struct fdt_node *node, void *context);

uint32_t fdt_be32(const uint8_t *p);
int fdt_open(const void *blob, struct fdt *fdt);
int fdt_walk(const struct fdt *fdt, fdt_visitor visit, void *context);
/* The value of property `name` of `node` and its length, or 0 if it has none. */
const uint8_t *fdt_property(const struct fdt *fdt, const struct fdt_node *node, const char *name, uint32_t *length);
/* A property holding one u32 cell, or `otherwise`. */
uint32_t fdt_u32(const struct fdt *fdt, const struct fdt_node *node, const char *name, uint32_t otherwise);
/* Whether a string-list property (compatible, device_type) holds `value`. */
int fdt_has_string(const struct fdt *fdt, const struct fdt_node *node, const char *name, const char *value);
/* The first (address, size) pair of reg, when both fit 32 bits; 0 if there is none. */
int fdt_reg(const struct fdt *fdt, const struct fdt_node *node, uint32_t *address, uint32_t *size);
int fdt_streq(const char *a, const char *b);

#endif
