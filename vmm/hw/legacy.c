/* vmm/hw/legacy.c - debug exit, i8042, CMOS RTC, ACPI sleep ports (see legacy.h). */
#include "vmm/hw/legacy.h"

#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"

#define I8042_CMD_RESET    0xfe
#define ACPI_SLP_EN        0x20
#define ACPI_SLP_TYP_SHIFT 2
#define ACPI_SLP_TYP_MASK  0x7

uint8_t legacy_bcd(unsigned v)
{
    return (uint8_t)(((v / 10) % 10) << 4 | (v % 10));
}

static uint32_t le_value(const uint8_t *data, uint32_t len)
{
    uint32_t v = 0;
    for (uint32_t i = 0; i < len && i < 4; i++)
        v |= (uint32_t)data[i] << (8 * i);
    return v;
}

static void debug_exit_io(void *ctx, uint64_t off, uint8_t *data, uint32_t len, int is_write)
{
    struct legacy_devices *d = ctx;
    (void)off;
    if (!is_write) {
        memset(data, 0, len);
        return;
    }
    int code = (int)(le_value(data, len) & 0xff);
    vm_request_stop(d->vm, VM_STOP_DEBUG_EXIT, code, "guest exit status %d", code);
}

static void i8042_io(void *ctx, uint64_t off, uint8_t *data, uint32_t len, int is_write)
{
    struct legacy_devices *d = ctx;
    if (!is_write) {
        memset(data, 0, len); /* output buffer empty, input buffer empty */
        return;
    }
    (void)d;
    (void)off;
}

static void i8042_cmd_io(void *ctx, uint64_t off, uint8_t *data, uint32_t len, int is_write)
{
    struct legacy_devices *d = ctx;
    if (is_write && data[0] == I8042_CMD_RESET)
        vm_request_stop(d->vm, VM_STOP_RESET, 0, "i8042 reset");
    else
        i8042_io(ctx, off, data, len, is_write);
}

/* Registers 0x00-0x09 are the time; A-D are status; the rest is NVRAM. */
static uint8_t cmos_read(struct legacy_devices *d, uint8_t idx)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    switch (idx) {
    case 0x00:
        return legacy_bcd((unsigned)tm.tm_sec);
    case 0x02:
        return legacy_bcd((unsigned)tm.tm_min);
    case 0x04:
        return legacy_bcd((unsigned)tm.tm_hour);
    case 0x06:
        return legacy_bcd((unsigned)tm.tm_wday + 1);
    case 0x07:
        return legacy_bcd((unsigned)tm.tm_mday);
    case 0x08:
        return legacy_bcd((unsigned)tm.tm_mon + 1);
    case 0x09:
        return legacy_bcd((unsigned)tm.tm_year % 100);
    case 0x32:
        return legacy_bcd((unsigned)(tm.tm_year + 1900) / 100); /* century */
    case 0x0a:
        return 0x26; /* 32.768 kHz base, 1024 Hz; UIP clear */
    case 0x0b:
        return 0x02; /* 24-hour, BCD */
    case 0x0c:
        return 0x00;
    case 0x0d:
        return 0x80; /* valid RAM and time */
    default:
        return d->cmos[idx & 0x7f];
    }
}

static void cmos_io(void *ctx, uint64_t off, uint8_t *data, uint32_t len, int is_write)
{
    struct legacy_devices *d = ctx;
    pthread_mutex_lock(&d->lock);
    if (off == 0) {
        if (is_write)
            d->cmos_index = data[0] & 0x7f; /* bit 7 is the NMI mask */
        else
            data[0] = d->cmos_index;
    } else if (is_write) {
        if (d->cmos_index > 0x0d)
            d->cmos[d->cmos_index] = data[0];
    } else {
        data[0] = cmos_read(d, d->cmos_index);
    }
    for (uint32_t i = 1; !is_write && i < len; i++)
        data[i] = 0;
    pthread_mutex_unlock(&d->lock);
}

static void acpi_sleep_io(void *ctx, uint64_t off, uint8_t *data, uint32_t len, int is_write)
{
    struct legacy_devices *d = ctx;
    if (!is_write) {
        memset(data, 0, len);
        if (off == 1)
            data[0] = 0x80; /* WAK_STS: nothing to wait for */
        return;
    }
    if (off != 0)
        return;
    unsigned typ = (data[0] >> ACPI_SLP_TYP_SHIFT) & ACPI_SLP_TYP_MASK;
    if ((data[0] & ACPI_SLP_EN) && typ == LEGACY_S5_SLP_TYP)
        vm_request_stop(d->vm, VM_STOP_POWEROFF, 0, "ACPI S5 power-off");
}

static void sink_io(void *ctx, uint64_t off, uint8_t *data, uint32_t len, int is_write)
{
    (void)ctx;
    (void)off;
    if (!is_write)
        memset(data, 0xff, len);
}

int legacy_init(struct legacy_devices *d, struct vm *vm)
{
    memset(d, 0, sizeof(*d));
    d->vm = vm;
    pthread_mutex_init(&d->lock, NULL);
    int r;
    if ((r = bus_register_pio(&vm->bus, VM_DEBUG_EXIT_PORT, 4, debug_exit_io, d)) ||
        (r = bus_register_pio(&vm->bus, 0x60, 1, i8042_io, d)) ||
        (r = bus_register_pio(&vm->bus, 0x64, 1, i8042_cmd_io, d)) ||
        (r = bus_register_pio(&vm->bus, 0x70, 2, cmos_io, d)) ||
        (r = bus_register_pio(&vm->bus, VM_ACPI_SLEEP_CTL_PORT, 2, acpi_sleep_io, d)) ||
        (r = bus_register_pio(&vm->bus, 0x80, 1, sink_io, d)))
        return r;
    return 0;
}
