/*
 * vmm/hw/uart16550.h - a 16550A UART (COM1: port 0x3f8, IRQ 4).
 *
 * Owns: the register file Linux's 8250 driver probes (scratch, loopback,
 * FIFO, divisor latch), a receive FIFO fed from an input fd on the event
 * thread, and the IRQ line (level, through KVM_IRQ_LINE). Transmitted bytes
 * are written to out_fd at once (every guest byte is an exit anyway).
 */
#ifndef BURROW_VMM_HW_UART16550_H
#define BURROW_VMM_HW_UART16550_H

#include <pthread.h>
#include <stdint.h>

#include "vmm/vm.h"

#define UART_FIFO_LEN 64

struct uart16550 {
    pthread_mutex_t lock;
    struct vm *vm;
    unsigned gsi;
    int out_fd, in_fd;
    int irq_level;
    uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
    int thri_pending;
    uint8_t rx[UART_FIFO_LEN];
    unsigned rx_head, rx_len;
    uint64_t out_max, out_count; /* out_max 0: no limit */
};

/* Register at port on vm's bus; in_fd < 0: no input. */
__attribute__((warn_unused_result)) int uart_init(struct uart16550 *u, struct vm *vm, uint16_t port,
                                                  unsigned gsi, int in_fd, int out_fd);
/* Queue bytes for the guest (drops what does not fit in the FIFO). */
/*
 * Stop writing guest output to out_fd after max_bytes (one notice line
 * then): a console log file on the host (run_dir/vm/<id>/console.log) must
 * not grow without bound for a chatty or hostile guest.
 */
void uart_limit_output(struct uart16550 *u, uint64_t max_bytes);
unsigned uart_receive(struct uart16550 *u, const uint8_t *data, unsigned len);

#endif /* BURROW_VMM_HW_UART16550_H */
