/* A bounds-checked flattened-device-tree walker: see fdt.h. */
#include "fdt.h"

#define FDT_MAGIC 0xd00dfeedu
#define FDT_BEGIN_NODE 1u
#define FDT_END_NODE 2u
#define FDT_PROP 3u
#define FDT_NOP 4u
#define FDT_END 9u
#define MAX_DEPTH 16

uint32_t fdt_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int fdt_streq(const char *a, const char *b) {
    while (*a && *a == *b) { a++; b++; }
    return *a == *b;
}

/* Header fields (§5.2), big-endian words. */
enum { H_MAGIC = 0, H_TOTALSIZE = 4, H_OFF_STRUCT = 8, H_OFF_STRINGS = 12, H_VERSION = 20, H_SIZE_STRINGS = 32, H_SIZE_STRUCT = 36 };

int fdt_open(const void *blob, struct fdt *fdt) {
    const uint8_t *b = blob;
    if (fdt_be32(b + H_MAGIC) != FDT_MAGIC) return FDT_BAD_MAGIC;
    fdt->blob = b;
    fdt->size = fdt_be32(b + H_TOTALSIZE);
    fdt->version = fdt_be32(b + H_VERSION);
    /* Version 17 (compatible with 16) has the block sizes this reader relies on. */
    if (fdt->version < 17) return FDT_BAD_VERSION;
    uint32_t off_struct = fdt_be32(b + H_OFF_STRUCT), size_struct = fdt_be32(b + H_SIZE_STRUCT);
    uint32_t off_strings = fdt_be32(b + H_OFF_STRINGS), size_strings = fdt_be32(b + H_SIZE_STRINGS);
    if (off_struct > fdt->size || size_struct > fdt->size - off_struct || (off_struct & 3) != 0) return FDT_BAD_LAYOUT;
    if (off_strings > fdt->size || size_strings > fdt->size - off_strings) return FDT_BAD_LAYOUT;
    fdt->structure = b + off_struct;
    fdt->structure_end = fdt->structure + size_struct;
    fdt->strings = (const char *)b + off_strings;
    fdt->strings_size = size_strings;
    return FDT_OK;
}

/* The next token at *p, or FDT_END if the structure block ends first. */
static uint32_t token_at(const struct fdt *fdt, const uint8_t *p) {
    return p + 4 <= fdt->structure_end ? fdt_be32(p) : FDT_END;
}

/* Past a NUL-terminated name at p, aligned to 4 bytes; 0 if it runs off the block. */
static const uint8_t *skip_name(const struct fdt *fdt, const uint8_t *p) {
    while (p < fdt->structure_end && *p) p++;
    if (p >= fdt->structure_end) return 0;
    return (const uint8_t *)(((uintptr_t)p + 4) & ~(uintptr_t)3);
}

/* Past the property whose FDT_PROP token is at p; 0 if it is malformed. Its name and value on request. */
static const uint8_t *next_prop(const struct fdt *fdt, const uint8_t *p, const char **name, const uint8_t **value, uint32_t *length) {
    if (p + 12 > fdt->structure_end) return 0;
    uint32_t len = fdt_be32(p + 4), nameoff = fdt_be32(p + 8);
    const uint8_t *data = p + 12;
    if (len > (uint32_t)(fdt->structure_end - data) || nameoff >= fdt->strings_size) return 0;
    if (name) *name = fdt->strings + nameoff;
    if (value) *value = data;
    if (length) *length = len;
    return data + ((len + 3) & ~3u);
}

const uint8_t *fdt_property(const struct fdt *fdt, const struct fdt_node *node, const char *name, uint32_t *length) {
    for (const uint8_t *p = node->props;;) {
        uint32_t token = token_at(fdt, p);
        if (token == FDT_NOP) { p += 4; continue; }
        if (token != FDT_PROP) return 0;
        const char *prop;
        const uint8_t *value;
        uint32_t len;
        p = next_prop(fdt, p, &prop, &value, &len);
        if (p == 0) return 0;
        /* The strings block bounds the name: a name without its NUL there does not match. */
        const char *end = fdt->strings + fdt->strings_size;
        const char *a = prop, *b = name;
        while (a < end && *a && *a == *b) { a++; b++; }
        if (a < end && *a == *b) {
            *length = len;
            return value;
        }
    }
}

uint32_t fdt_u32(const struct fdt *fdt, const struct fdt_node *node, const char *name, uint32_t otherwise) {
    uint32_t length;
    const uint8_t *value = fdt_property(fdt, node, name, &length);
    return value && length == 4 ? fdt_be32(value) : otherwise;
}

int fdt_has_string(const struct fdt *fdt, const struct fdt_node *node, const char *name, const char *wanted) {
    uint32_t length;
    const uint8_t *value = fdt_property(fdt, node, name, &length);
    if (!value) return 0;
    /* A string list: NUL-terminated strings back to back (§2.2.4). */
    for (uint32_t at = 0; at < length;) {
        const char *s = (const char *)value + at;
        uint32_t n = 0;
        while (at + n < length && s[n]) n++;
        if (at + n == length) return 0; /* the last string lacks its NUL */
        if (fdt_streq(s, wanted)) return 1;
        at += n + 1;
    }
    return 0;
}

static int read_cells(const uint8_t *p, uint32_t cells, uint32_t *out) {
    /* Only values that fit 32 bits: every cell but the last must be 0. */
    for (uint32_t i = 0; i + 1 < cells; i++) if (fdt_be32(p + 4 * i) != 0) return 0;
    *out = cells == 0 ? 0 : fdt_be32(p + 4 * (cells - 1));
    return 1;
}

int fdt_reg(const struct fdt *fdt, const struct fdt_node *node, uint32_t *address, uint32_t *size) {
    uint32_t length;
    const uint8_t *value = fdt_property(fdt, node, "reg", &length);
    uint32_t cells = node->address_cells + node->size_cells;
    if (!value || node->address_cells == 0 || node->address_cells > 4 || node->size_cells > 4 || length < 4 * cells) return 0;
    return read_cells(value, node->address_cells, address) && read_cells(value + 4 * node->address_cells, node->size_cells, size);
}

int fdt_walk(const struct fdt *fdt, fdt_visitor visit, void *context) {
    /* Per open node, its children's #address-cells and #size-cells (defaults 2 and 1, §2.3.5). */
    uint32_t address_cells[MAX_DEPTH + 1], size_cells[MAX_DEPTH + 1];
    int depth = -1;
    address_cells[0] = 2;
    size_cells[0] = 1;
    for (const uint8_t *p = fdt->structure;;) {
        uint32_t token = token_at(fdt, p);
        if (token == FDT_BEGIN_NODE) {
            if (depth + 1 >= MAX_DEPTH) return FDT_TOO_DEEP;
            struct fdt_node node = {
                .name = (const char *)p + 4,
                .depth = depth + 1,
                .address_cells = depth < 0 ? 2 : address_cells[depth + 1],
                .size_cells = depth < 0 ? 1 : size_cells[depth + 1],
                .props = skip_name(fdt, p + 4),
            };
            if (node.props == 0) return FDT_BAD_STRUCTURE;
            depth++;
            address_cells[depth + 1] = fdt_u32(fdt, &node, "#address-cells", 2);
            size_cells[depth + 1] = fdt_u32(fdt, &node, "#size-cells", 1);
            if (!visit(fdt, &node, context)) return FDT_OK;
            p = node.props;
        } else if (token == FDT_PROP) {
            p = next_prop(fdt, p, 0, 0, 0);
            if (p == 0) return FDT_BAD_STRUCTURE;
        } else if (token == FDT_NOP) {
            p += 4;
        } else if (token == FDT_END_NODE) {
            if (depth < 0) return FDT_BAD_STRUCTURE;
            depth--;
            p += 4;
        } else {
            /* FDT_END: every node must have been closed. */
            return token == FDT_END && depth == -1 ? FDT_OK : FDT_BAD_STRUCTURE;
        }
    }
}
