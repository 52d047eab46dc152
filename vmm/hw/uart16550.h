/*
 * vmm/hw/uart16550.h - a 16550A UART (COM1: port 0x3f8, IRQ 4).
 *
 * Owns: the register file Linux's 8250 driver probes (scratch, loopback,
 * FIFO, divisor latch), a receive FIFO fed from an input fd on the event
 * thread, and the IRQ line (level, through KVM_IRQ_LINE). Transmitted bytes
 * are written to out_fd at once (every guest byte is an exit anyway). And
 * the console's tail (struct uart_console): the last bytes the guest wrote
 * to COM1, which a VM keeps so that a guest death or a failed start can
 * show its last lines.
 */
#ifndef BURROW_VMM_HW_UART16550_H
#define BURROW_VMM_HW_UART16550_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

#define UART_FIFO_LEN     64
#define UART_CONSOLE_TAIL 2048 /* bytes of console output a VM keeps (its last lines) */

/* The console tail (a ring) under its own lock: vCPUs write it, a dying vCPU reads it. */
struct uart_console {
    pthread_mutex_t lock;
    char ring[UART_CONSOLE_TAIL];
    unsigned pos; /* next write */
    unsigned len; /* bytes held, <= UART_CONSOLE_TAIL */
};

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

void uart_console_init(struct uart_console *c);
void uart_console_destroy(struct uart_console *c);
/* Keep one byte written to COM1 (printable, tab and newline only) in the tail. */
void uart_console_record(struct uart_console *c, uint8_t ch);
/*
 * The last max_lines lines of the console tail into out (NUL-terminated,
 * lines separated by '\n'; the newest bytes when out is short); returns the
 * length.
 */
size_t uart_console_tail(struct uart_console *c, char *out, size_t outsz, unsigned max_lines);

#endif /* BURROW_VMM_HW_UART16550_H */
