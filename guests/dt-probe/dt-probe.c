/* dt-probe: finds its devices the way an operating system does, by walking the flattened device
   tree QEMU's reset vector hands it in a1, rather than by fixed addresses. It reports what QEMU's
   virt and matryoshka's board both describe (model, harts, memory, console, PLIC, virtio slots),
   then looks for a "matryoshka,example-counter" node: if there is one (a device a user added to
   matryoshka's board), it drives the counter at the address and interrupt the tree gives, through
   the PLIC the tree names; if not (as on QEMU), it says so. It passes either way. */
#include "fdt.h"
#include "rt.h"

#define COUNTER_COMPATIBLE "matryoshka,example-counter"
/* The counter's registers (packages/machine/src/example-counter.ts). */
#define COUNTER_ID 0x0u
#define COUNTER_VALUE 0x4u
#define COUNTER_ADD 0x8u
#define COUNTER_IRQ 0xcu
#define COUNTER_ID_VALUE 0x31544e43u /* "CNT1" */

/* SiFive PLIC layout (riscv,plic0), context 0 being hart 0's M-mode. */
#define PLIC_PRIORITY(irq) (4u * (irq))
#define PLIC_ENABLE(irq) (0x2000u + 4u * ((irq) / 32u))
#define PLIC_THRESHOLD 0x200000u
#define PLIC_CLAIM 0x200004u

struct device {
    int found;
    const char *name;
    uint32_t base, size, irq, parent;
};

struct probe {
    const char *model, *stdout_path;
    uint32_t harts, timebase;
    uint32_t memory_base, memory_size;
    struct device serial, plic, counter;
    uint32_t plic_phandle, plic_sources;
    uint32_t virtio_count, virtio_low, virtio_high, virtio_irq_low, virtio_irq_high;
};

static void record(const struct fdt *fdt, const struct fdt_node *node, struct device *device) {
    device->found = 1;
    device->name = node->name;
    fdt_reg(fdt, node, &device->base, &device->size);
    device->irq = fdt_u32(fdt, node, "interrupts", 0);
    device->parent = fdt_u32(fdt, node, "interrupt-parent", 0);
}

static int visit(const struct fdt *fdt, const struct fdt_node *node, void *context) {
    struct probe *probe = context;
    uint32_t length;
    if (node->depth == 0) {
        const uint8_t *model = fdt_property(fdt, node, "model", &length);
        if (model && length > 0 && model[length - 1] == 0) probe->model = (const char *)model;
    } else if (node->depth == 1 && fdt_streq(node->name, "chosen")) {
        const uint8_t *path = fdt_property(fdt, node, "stdout-path", &length);
        if (path && length > 0 && path[length - 1] == 0) probe->stdout_path = (const char *)path;
    } else if (node->depth == 1 && fdt_streq(node->name, "cpus")) {
        probe->timebase = fdt_u32(fdt, node, "timebase-frequency", 0);
    } else if (node->depth == 2 && fdt_has_string(fdt, node, "device_type", "cpu")) {
        probe->harts++;
    } else if (fdt_has_string(fdt, node, "device_type", "memory")) {
        fdt_reg(fdt, node, &probe->memory_base, &probe->memory_size);
    } else if (fdt_has_string(fdt, node, "compatible", "ns16550a")) {
        record(fdt, node, &probe->serial);
    } else if (fdt_has_string(fdt, node, "compatible", "riscv,plic0")) {
        record(fdt, node, &probe->plic);
        probe->plic_phandle = fdt_u32(fdt, node, "phandle", 0);
        probe->plic_sources = fdt_u32(fdt, node, "riscv,ndev", 0);
    } else if (fdt_has_string(fdt, node, "compatible", "virtio,mmio")) {
        struct device slot = {0};
        record(fdt, node, &slot);
        if (probe->virtio_count == 0 || slot.base < probe->virtio_low) probe->virtio_low = slot.base;
        if (probe->virtio_count == 0 || slot.base > probe->virtio_high) probe->virtio_high = slot.base;
        if (probe->virtio_count == 0 || slot.irq < probe->virtio_irq_low) probe->virtio_irq_low = slot.irq;
        if (probe->virtio_count == 0 || slot.irq > probe->virtio_irq_high) probe->virtio_irq_high = slot.irq;
        probe->virtio_count++;
    } else if (fdt_has_string(fdt, node, "compatible", COUNTER_COMPATIBLE)) {
        record(fdt, node, &probe->counter);
    }
    return 1;
}

static const char *parent_name(const struct probe *probe, const struct device *device) {
    return device->parent != 0 && device->parent == probe->plic_phandle ? "the PLIC" : "not the PLIC";
}

/* Drives the counter: its id, arithmetic through its registers, and its interrupt line through
   the PLIC, claimed and completed by polling (hart interrupts stay off). 0 if all went well. */
static int exercise_counter(const struct probe *probe) {
    const struct device *counter = &probe->counter;
    uintptr_t base = counter->base, plic = probe->plic.base;
    uint32_t irq = counter->irq;
    uint32_t id = mmio_read32(base + COUNTER_ID);
    printf("counter: id %c%c%c%c\n", id & 0xff, (id >> 8) & 0xff, (id >> 16) & 0xff, id >> 24);
    if (id != COUNTER_ID_VALUE) return 2;
    mmio_write32(base + COUNTER_VALUE, 1000);
    mmio_write32(base + COUNTER_ADD, 234);
    uint32_t sum = mmio_read32(base + COUNTER_VALUE);
    printf("counter: 1000 + 234 = %u\n", sum);
    if (sum != 1234) return 3;
    if (!probe->plic.found || irq == 0 || irq >= 1024) return 4;
    mmio_write32(plic + PLIC_PRIORITY(irq), 1);
    mmio_write32(plic + PLIC_ENABLE(irq), mmio_read32(plic + PLIC_ENABLE(irq)) | (1u << (irq % 32u)));
    mmio_write32(plic + PLIC_THRESHOLD, 0);
    mmio_write32(base + COUNTER_IRQ, 1);
    uint32_t claimed = mmio_read32(plic + PLIC_CLAIM);
    mmio_write32(base + COUNTER_IRQ, 0);
    mmio_write32(plic + PLIC_CLAIM, claimed); /* complete */
    uint32_t again = mmio_read32(plic + PLIC_CLAIM);
    mmio_write32(plic + PLIC_ENABLE(irq), mmio_read32(plic + PLIC_ENABLE(irq)) & ~(1u << (irq % 32u)));
    printf("counter: raised its line, the PLIC gave interrupt %u, then %u once it was lowered\n", claimed, again);
    return claimed == irq && again == 0 ? 0 : 5;
}

int main(uint32_t hart, const uint8_t *blob) {
    struct fdt fdt;
    int error = fdt_open(blob, &fdt);
    if (error != FDT_OK) {
        printf("dt-probe: no device tree at %p (error %d)\n", blob, error);
        return 1;
    }
    struct probe probe = {0};
    error = fdt_walk(&fdt, visit, &probe);
    if (error != FDT_OK) {
        printf("dt-probe: malformed device tree (error %d)\n", error);
        return 1;
    }
    printf("dt-probe: hart %u, device tree at %p, version %u\n", hart, blob, fdt.version);
    printf("model: %s\n", probe.model ? probe.model : "(none)");
    printf("cpus: %u, timebase %u Hz\n", probe.harts, probe.timebase);
    printf("memory: %p, %u MiB\n", (void *)(uintptr_t)probe.memory_base, probe.memory_size >> 20);
    printf("stdout-path: %s\n", probe.stdout_path ? probe.stdout_path : "(none)");
    if (probe.serial.found) {
        printf("serial: %s at %p, irq %u, interrupt-parent is %s\n", probe.serial.name, (void *)(uintptr_t)probe.serial.base,
               probe.serial.irq, parent_name(&probe, &probe.serial));
    }
    if (probe.plic.found) printf("plic: %s at %p, %u sources\n", probe.plic.name, (void *)(uintptr_t)probe.plic.base, probe.plic_sources);
    printf("virtio,mmio: %u slots from %p to %p, irqs %u..%u\n", probe.virtio_count, (void *)(uintptr_t)probe.virtio_low,
           (void *)(uintptr_t)probe.virtio_high, probe.virtio_irq_low, probe.virtio_irq_high);
    if (!probe.counter.found) {
        printf("counter: no " COUNTER_COMPATIBLE " in the device tree\n");
        return 0;
    }
    printf("counter: " COUNTER_COMPATIBLE " %s at %p (%u bytes), irq %u, interrupt-parent is %s\n", probe.counter.name,
           (void *)(uintptr_t)probe.counter.base, probe.counter.size, probe.counter.irq, parent_name(&probe, &probe.counter));
    int failed = exercise_counter(&probe);
    printf("counter: %s\n", failed ? "FAILED" : "ok");
    return failed;
}
