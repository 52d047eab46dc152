/* vmm/hw/uart16550.c - 16550A UART (see uart16550.h). */
#include "vmm/hw/uart16550.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "vmm/vm.h"

#define UART_IER_RDI      0x01
#define UART_IER_THRI     0x02
#define UART_IIR_NO_INT   0x01
#define UART_IIR_THRI     0x02
#define UART_IIR_RDI      0x04
#define UART_IIR_FIFO     0xc0
#define UART_LCR_DLAB     0x80
#define UART_MCR_LOOP     0x10
#define UART_LSR_DR       0x01
#define UART_LSR_THRE     0x20
#define UART_LSR_TEMT     0x40
#define UART_MSR_IDLE     0xb0 /* DCD, DSR, CTS */
#define UART_FCR_ENABLE   0x01
#define UART_FCR_CLEAR_RX 0x02

static uint8_t uart_iir(const struct uart16550 *u)
{
    uint8_t fifo = (u->fcr & UART_FCR_ENABLE) ? UART_IIR_FIFO : 0;
    if ((u->ier & UART_IER_RDI) && u->rx_len)
        return fifo | UART_IIR_RDI;
    if ((u->ier & UART_IER_THRI) && u->thri_pending)
        return fifo | UART_IIR_THRI;
    return fifo | UART_IIR_NO_INT;
}

/* Called with the lock held: drive the line to match IIR. */
static void uart_update_irq(struct uart16550 *u)
{
    int level = (uart_iir(u) & UART_IIR_NO_INT) ? 0 : 1;
    if (level == u->irq_level)
        return;
    u->irq_level = level;
    if (vm_irq_line(u->vm, u->gsi, level))
        log_warn_f("KVM_IRQ_LINE %u failed", u->gsi);
}

static void uart_rx_push(struct uart16550 *u, uint8_t c)
{
    if (u->rx_len >= UART_FIFO_LEN)
        return;
    u->rx[(u->rx_head + u->rx_len) % UART_FIFO_LEN] = c;
    u->rx_len++;
}

static void uart_out(struct uart16550 *u, const void *p, size_t n)
{
    while (write(u->out_fd, p, n) < 0 && errno == EINTR)
        ;
}

static void uart_tx(struct uart16550 *u, uint8_t c)
{
    if (u->mcr & UART_MCR_LOOP) {
        uart_rx_push(u, c);
    } else if (u->out_fd >= 0 && (!u->out_max || u->out_count < u->out_max)) {
        uart_out(u, &c, 1);
        if (++u->out_count == u->out_max) {
            static const char note[] = "\n[burrow: console output stopped here: size limit]\n";
            uart_out(u, note, sizeof(note) - 1);
        }
    }
    u->thri_pending = 1;
}

static uint8_t uart_msr(const struct uart16550 *u)
{
    if (!(u->mcr & UART_MCR_LOOP))
        return UART_MSR_IDLE;
    /* Loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD (the 8250 probe checks it). */
    return (uint8_t)(((u->mcr & 0x01) << 5) | ((u->mcr & 0x02) << 3) | ((u->mcr & 0x04) << 4) |
                     ((u->mcr & 0x08) << 4));
}

static uint8_t uart_read(struct uart16550 *u, uint64_t off)
{
    int dlab = u->lcr & UART_LCR_DLAB;
    switch (off) {
    case 0:
        if (dlab)
            return u->dll;
        if (u->rx_len) {
            uint8_t c = u->rx[u->rx_head];
            u->rx_head = (u->rx_head + 1) % UART_FIFO_LEN;
            u->rx_len--;
            return c;
        }
        return 0;
    case 1:
        return dlab ? u->dlm : u->ier;
    case 2: {
        uint8_t iir = uart_iir(u);
        if ((iir & 0x0f) == UART_IIR_THRI)
            u->thri_pending = 0; /* reading IIR acknowledges THRE */
        return iir;
    }
    case 3:
        return u->lcr;
    case 4:
        return u->mcr;
    case 5:
        return (uint8_t)(UART_LSR_THRE | UART_LSR_TEMT | (u->rx_len ? UART_LSR_DR : 0));
    case 6:
        return uart_msr(u);
    default:
        return u->scr;
    }
}

static void uart_write(struct uart16550 *u, uint64_t off, uint8_t v)
{
    int dlab = u->lcr & UART_LCR_DLAB;
    switch (off) {
    case 0:
        if (dlab)
            u->dll = v;
        else
            uart_tx(u, v);
        break;
    case 1:
        if (dlab) {
            u->dlm = v;
        } else {
            /* Enabling THRI with an empty THR raises it at once. */
            if ((v & UART_IER_THRI) && !(u->ier & UART_IER_THRI))
                u->thri_pending = 1;
            u->ier = v & 0x0f;
        }
        break;
    case 2:
        u->fcr = v & 0xc9;
        if (v & UART_FCR_CLEAR_RX)
            u->rx_len = 0;
        break;
    case 3:
        u->lcr = v;
        break;
    case 4:
        u->mcr = v & 0x1f;
        break;
    case 7:
        u->scr = v;
        break;
    default: /* LSR and MSR are read-only */
        break;
    }
}

static void uart_io(void *ctx, uint64_t off, uint8_t *data, uint32_t len, int is_write)
{
    struct uart16550 *u = ctx;
    pthread_mutex_lock(&u->lock);
    /* Byte registers; wider accesses act on the first byte. */
    if (is_write)
        uart_write(u, off, data[0]);
    else
        data[0] = uart_read(u, off);
    for (uint32_t i = 1; !is_write && i < len; i++)
        data[i] = 0;
    uart_update_irq(u);
    pthread_mutex_unlock(&u->lock);
}

void uart_limit_output(struct uart16550 *u, uint64_t max_bytes)
{
    pthread_mutex_lock(&u->lock);
    u->out_max = max_bytes;
    pthread_mutex_unlock(&u->lock);
}

unsigned uart_receive(struct uart16550 *u, const uint8_t *data, unsigned len)
{
    pthread_mutex_lock(&u->lock);
    unsigned n = 0;
    while (n < len && u->rx_len < UART_FIFO_LEN)
        uart_rx_push(u, data[n++]);
    uart_update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return n;
}

static void uart_input_ready(void *ctx, int fd, uint32_t events)
{
    struct uart16550 *u = ctx;
    uint8_t buf[UART_FIFO_LEN];
    (void)events;
    pthread_mutex_lock(&u->lock);
    unsigned room = UART_FIFO_LEN - u->rx_len;
    pthread_mutex_unlock(&u->lock);
    if (room == 0)
        return; /* the guest has not drained the FIFO; level-triggered epoll retries */
    ssize_t n = read(fd, buf, room);
    if (n <= 0) {
        if (n == 0 || (errno != EINTR && errno != EAGAIN))
            evloop_del(u->vm->loop, fd); /* EOF or error: no more input */
        return;
    }
    uart_receive(u, buf, (unsigned)n);
}

int uart_init(struct uart16550 *u, struct vm *vm, uint16_t port, unsigned gsi, int in_fd,
              int out_fd)
{
    memset(u, 0, sizeof(*u));
    pthread_mutex_init(&u->lock, NULL);
    u->vm = vm;
    u->gsi = gsi;
    u->in_fd = in_fd;
    u->out_fd = out_fd;
    u->lcr = 0x03; /* 8N1 */
    u->mcr = 0x08; /* OUT2 */
    int r = bus_register_pio(&vm->bus, port, 8, uart_io, u);
    if (r == 0 && in_fd >= 0 && evloop_add(vm->loop, in_fd, EPOLLIN, uart_input_ready, u)) {
        /* epoll refuses regular files and /dev/null: run without console input. */
        log_debug("console input fd %d cannot be polled; no serial input", in_fd);
        u->in_fd = -1;
    }
    return r;
}

void uart_console_init(struct uart_console *con)
{
    pthread_mutex_init(&con->lock, NULL);
    con->pos = con->len = 0;
}

void uart_console_destroy(struct uart_console *con)
{
    pthread_mutex_destroy(&con->lock);
}

void uart_console_record(struct uart_console *con, uint8_t c)
{
    if (c != '\n' && c != '\t' && (c < 0x20 || c > 0x7e))
        return; /* CRs, escapes, divisor-latch writes */
    pthread_mutex_lock(&con->lock);
    con->ring[con->pos] = (char)c;
    con->pos = (con->pos + 1) % UART_CONSOLE_TAIL;
    if (con->len < UART_CONSOLE_TAIL)
        con->len++;
    pthread_mutex_unlock(&con->lock);
}

size_t uart_console_tail(struct uart_console *con, char *out, size_t outsz, unsigned max_lines)
{
    if (outsz == 0)
        return 0;
    pthread_mutex_lock(&con->lock);
    const char *ring = con->ring;
    unsigned len = con->len;
    unsigned start = (con->pos + UART_CONSOLE_TAIL - len) % UART_CONSOLE_TAIL;
#define AT(i) ring[(start + (i)) % UART_CONSOLE_TAIL]
    while (len && AT(len - 1) == '\n') /* trailing line breaks end no line */
        len--;
    /* Walk back from the end until max_lines lines are covered. */
    unsigned keep = 0, lines = 0;
    while (keep < len && !(AT(len - 1 - keep) == '\n' && ++lines >= max_lines))
        keep++;
    if (keep > outsz - 1)
        keep = (unsigned)(outsz - 1); /* the newest bytes win */
    for (unsigned i = 0; i < keep; i++)
        out[i] = AT(len - keep + i);
#undef AT
    pthread_mutex_unlock(&con->lock);
    out[keep] = '\0';
    return keep;
}
