/*
 * tests/unit/vmm/test_vcpu_dump.c - the state logged when a guest dies: the
 * vCPU dump's lines (registers, segments, events, code bytes, the AMD INIT
 * caveat) and the console tail (last lines only, printable bytes only).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/vm.h"
#include "vmm/x86/vcpu_dump.h"

static void long_mode_state(struct vcpu_dump *d)
{
    memset(d, 0, sizeof(*d));
    d->index = 1;
    d->have =
        VCPU_DUMP_HAVE_REGS | VCPU_DUMP_HAVE_SREGS | VCPU_DUMP_HAVE_EVENTS | VCPU_DUMP_HAVE_MP;
    d->regs.rip = 0xffffffff81000123ull;
    d->regs.rsp = 0xffffc90000013f00ull;
    d->regs.rflags = 0x10246;
    d->regs.r15 = 0x15;
    d->sregs.cr0 = 0x80050033;
    d->sregs.cr3 = 0x13010000;
    d->sregs.cr4 = 0x3506b0;
    d->sregs.efer = 0xd01;
    d->sregs.cs = (struct kvm_segment){
        .selector = 0x10, .limit = 0xffffffff, .type = 0xb, .present = 1, .s = 1, .l = 1, .g = 1};
    d->sregs.tr = (struct kvm_segment){.selector = 0x40,
                                       .base = 0xfffffe0000003000ull,
                                       .limit = 0x4087,
                                       .type = 0xb,
                                       .present = 1};
    d->sregs.idt.base = 0xfffffe0000000000ull;
    d->sregs.idt.limit = 0xfff;
    d->sregs.interrupt_bitmap[0] = 1ull << 0x30;
    d->events.exception.injected = 1;
    d->events.exception.nr = 14;
    d->events.exception.has_error_code = 1;
    d->events.exception.error_code = 2;
    d->mp.mp_state = KVM_MP_STATE_RUNNABLE;
    d->have |= VCPU_DUMP_HAVE_XCR0;
    d->xcr0 = 7;
    static const uint8_t code[] = {0x0f, 0x0b, 0x90};
    memcpy(d->code, code, sizeof(code));
    d->code_len = sizeof(code);
}

static void test_dump_lines(void **state)
{
    (void)state;
    struct vcpu_dump d;
    long_mode_state(&d);
    char out[4096];
    size_t n = vcpu_dump_format(&d, out, sizeof(out));
    assert_int_equal(n, strlen(out));
    assert_non_null(strstr(out, "vCPU 1: rip=ffffffff81000123 rsp=ffffc90000013f00 rflags=10246 "
                                "mp_state=runnable\n"));
    assert_non_null(strstr(out, " r15=15\n"));
    assert_non_null(strstr(out, "cr0=80050033 cr2=0 cr3=13010000 cr4=3506b0"));
    assert_non_null(strstr(out, "efer=d01"));
    assert_non_null(strstr(out, " apic_base=0 xcr0=7\n"));
    /* type b | S | P | L | G in the VMCB attribute layout */
    assert_non_null(strstr(out, " cs=0010:0/ffffffff/a9b"));
    assert_non_null(strstr(out, " tr=0040:fffffe0000003000/4087/08b"));
    assert_non_null(strstr(out, "idt=fffffe0000000000/fff pending_irq=48"));
    assert_non_null(strstr(out, "exception injected=1 pending=0 nr=14 error_code=2"));
    assert_non_null(strstr(out, "vCPU 1: code at rip: 0f 0b 90"));
    assert_null(strstr(out, "INIT state"));
    assert_int_not_equal(out[n - 1], '\n');
    /* Every line is one log line of bounded length, all prefixed. */
    for (char *line = out; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        assert_memory_equal(line, "vCPU 1: ", 8);
        size_t len = strchr(line, '\n') ? (size_t)(strchr(line, '\n') - line) : strlen(line);
        assert_true(len < 200);
    }
}

static void test_dump_truncates_safely(void **state)
{
    (void)state;
    struct vcpu_dump d;
    long_mode_state(&d);
    char full[4096], small[40];
    vcpu_dump_format(&d, full, sizeof(full));
    memset(small, 'x', sizeof(small));
    size_t n = vcpu_dump_format(&d, small, sizeof(small));
    assert_int_equal(n, sizeof(small) - 1);
    assert_int_equal(small[sizeof(small) - 1], '\0');
    assert_memory_equal(small, full, n);
    assert_int_equal(vcpu_dump_format(&d, small, 0), 0);
}

static void test_dump_names_the_amd_init_state(void **state)
{
    (void)state;
    struct vcpu_dump d;
    memset(&d, 0, sizeof(d));
    d.index = 0;
    d.have = VCPU_DUMP_HAVE_REGS | VCPU_DUMP_HAVE_SREGS;
    d.regs.rip = 0xfff0;
    d.regs.rflags = 2;
    d.sregs.cs = (struct kvm_segment){.selector = 0xf000, .base = 0xffff0000, .limit = 0xffff};
    d.sregs.cr0 = 0x60000010;
    char out[4096];
    vcpu_dump_format(&d, out, sizeof(out));
    assert_true(vcpu_dump_is_reset_state(&d));
    assert_non_null(strstr(out, "vCPU 0: this is the INIT state"));
    assert_non_null(strstr(out, "vCPU 0: code at rip: not mapped"));
    d.sregs.cr0 |= 1; /* protected mode: not the reset state */
    assert_false(vcpu_dump_is_reset_state(&d));
}

static void test_dump_short_and_empty(void **state)
{
    (void)state;
    struct vcpu_dump d;
    long_mode_state(&d);
    d.index = 0;
    d.mp.mp_state = KVM_MP_STATE_HALTED;
    char out[256];
    vcpu_dump_format_short(&d, out, sizeof(out));
    assert_string_equal(out, "vCPU 0 at stop: rip=ffffffff81000123 rsp=ffffc90000013f00 "
                             "rflags=10246 cs=0010 cr3=13010000 cr4=3506b0 xcr0=7 mp_state=halted "
                             "exception=14");
    memset(&d, 0, sizeof(d));
    d.index = 3;
    vcpu_dump_format(&d, out, sizeof(out));
    assert_string_equal(out, "vCPU 3: no state (KVM refused every read)");
}

static struct vm *console_vm(void)
{
    struct vm *vm = calloc(1, sizeof(*vm));
    assert_non_null(vm);
    uart_console_init(&vm->console);
    return vm;
}

static void record(struct vm *vm, const char *s)
{
    for (; *s; s++)
        uart_console_record(&vm->console, (uint8_t)*s);
}

static void test_console_tail_last_lines(void **state)
{
    (void)state;
    struct vm *vm = console_vm();
    char out[256];
    assert_int_equal(uart_console_tail(&vm->console, out, sizeof(out), 3), 0);
    assert_string_equal(out, "");
    record(vm, "one\r\ntwo\r\nthree\r\n\x1b[0mfour\r\nfive");
    assert_int_equal(uart_console_tail(&vm->console, out, sizeof(out), 3),
                     strlen("three\n[0mfour\nfive"));
    assert_string_equal(out, "three\n[0mfour\nfive");
    record(vm, "\n");
    uart_console_tail(&vm->console, out, sizeof(out), 2);
    assert_string_equal(out, "[0mfour\nfive");
    uart_console_tail(&vm->console, out, 5, 2); /* the newest bytes win when out is short */
    assert_string_equal(out, "five");
    uart_console_destroy(&vm->console);
    free(vm);
}

static void test_console_tail_wraps(void **state)
{
    (void)state;
    struct vm *vm = console_vm();
    for (unsigned i = 0; i < 3 * UART_CONSOLE_TAIL; i++)
        uart_console_record(&vm->console, (uint8_t)('a' + i % 26));
    record(vm, "\nlast line");
    char out[UART_CONSOLE_TAIL + 16];
    size_t n = uart_console_tail(&vm->console, out, sizeof(out), 100);
    assert_int_equal(n, UART_CONSOLE_TAIL);
    assert_string_equal(out + n - strlen("\nlast line"), "\nlast line");
    assert_int_equal(uart_console_tail(&vm->console, out, sizeof(out), 1), strlen("last line"));
    uart_console_destroy(&vm->console);
    free(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dump_lines),
        cmocka_unit_test(test_dump_truncates_safely),
        cmocka_unit_test(test_dump_names_the_amd_init_state),
        cmocka_unit_test(test_dump_short_and_empty),
        cmocka_unit_test(test_console_tail_last_lines),
        cmocka_unit_test(test_console_tail_wraps),
    };
    return cmocka_run_group_tests_name("vmm/vcpu_dump", tests, NULL, NULL);
}
