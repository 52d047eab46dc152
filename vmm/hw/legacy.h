/*
 * vmm/hw/legacy.h - the small PC devices: debug exit port, i8042 reset,
 * CMOS RTC, ACPI sleep control/status registers, POST port.
 *
 * Owns: their state and their port registrations. The PIC, PIT and IOAPIC
 * are KVM's (in-kernel irqchip, PIT2).
 *   0x0f4 (1-4 bytes)  debug exit: the guest's exit status (low byte) -> VM stop
 *   0x060/0x064        i8042: status reads 0 (no keyboard), 0xfe on 0x64 resets
 *   0x070/0x071        CMOS: index/data; time registers show the host's UTC time
 *   0x600/0x601        ACPI SLEEP_CONTROL/STATUS (hardware-reduced FADT): S5 powers off
 *   0x080              POST codes, ignored
 */
#ifndef BURROW_VMM_HW_LEGACY_H
#define BURROW_VMM_HW_LEGACY_H

#include <pthread.h>
#include <stdint.h>

#include "vmm/vm.h"

#define LEGACY_S5_SLP_TYP 5 /* the value \_S5 in the DSDT hands the OS */

struct legacy_devices {
    struct vm *vm;
    pthread_mutex_t lock;
    uint8_t cmos_index;
    uint8_t cmos[128];
};

__attribute__((warn_unused_result)) int legacy_init(struct legacy_devices *d, struct vm *vm);
/* The RTC's BCD register value for a number 0..99 (exported for tests). */
uint8_t legacy_bcd(unsigned v);

#endif /* BURROW_VMM_HW_LEGACY_H */
