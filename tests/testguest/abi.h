/*
 * tests/testguest/abi.h - what the test guest and its host-side tests share.
 *
 * Fixed guest physical addresses inside the low range the VMM leaves free
 * ([0x1000, 0x7000), see vmm/x86/boot.h), and exit codes.
 */
#ifndef BURROW_TESTS_TESTGUEST_ABI_H
#define BURROW_TESTS_TESTGUEST_ABI_H

#define TG_TRAMPOLINE 0x1000 /* AP real-mode entry (SIPI vector 0x01) */
#define TG_MAILBOX    0x5000 /* struct tg_mailbox */
#define TG_TSS        0x6000 /* the BSP's TSS */
#define TG_HIGH_PD    0x3000 /* mode=highmem: page directory for 4-5 GiB */

#define TG_DEV_VECTOR 0x30
#define TG_DEV_GSI    16            /* virtio slot 0's interrupt */
#define TG_DEV_NOTIFY 0xd0000050ull /* virtio slot 0's QueueNotify register */
#define TG_DEV_ROUNDS 10

/* mode=blk: the sectors it writes, and the 8-byte words that fill them. */
#define TG_BLK_FIRST 8
#define TG_BLK_COUNT 256
static inline unsigned long long tg_blk_word(unsigned long long seed, unsigned long long sector,
                                             unsigned word)
{
    unsigned long long z = seed * 0x9e3779b97f4a7c15ull + sector * 512 + word * 8 + 1;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull; /* splitmix64's finaliser */
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/*
 * Agent mode: on SHUTDOWN with a home disk attached, the guest writes this
 * line (NUL-padded) into sector TG_SYNC_SECTOR and FLUSHes before it
 * answers: the host reads it from the image to see the graceful stop.
 */
#define TG_SYNC_SECTOR 1
#define TG_SYNC_MARK   "burrow-testguest: synced at shutdown\n"
/*
 * The same at HIBERNATE (the agent's sync before the VM is saved), in its own
 * sector: 0, the other one of the 1024 bytes ext4 leaves unused before its
 * superblock, so the home disk stays a valid filesystem.
 */
#define TG_HIB_SECTOR 0
#define TG_HIB_MARK   "burrow-testguest: synced at hibernate\n"

/*
 * Agent mode: TG_MEM_PAGES pages at TG_MEM_BASE that the template fills with
 * tg_blk_word(TG_MEM_TEMPLATE_SEED, page, word) before its snapshot; the
 * session built-ins `mem write SEED` (even pages get the SEED pattern) and
 * `mem check SEED` (even pages hold it, odd pages still the template's)
 * test what a fork, a hibernation and a resume keep (tests/fork/hibernate.sh).
 */
#define TG_MEM_BASE          0x3000000ul /* 48 MiB: above the density tests' ranges, below 64 MiB */
#define TG_MEM_PAGES         64u
#define TG_MEM_TEMPLATE_SEED 0x5eedull

/*
 * Agent mode's memory for the density tests (the guest needs >= 48 MiB; TG_MEM_BASE follows them):
 * the built-in commands `fill`, `check` and `report` work on
 * [TG_FILL_BASE, + MiB); the balloon driver gives up pages from
 * TG_BALLOON_BASE upwards. The template writes tg_fill_word(TG_TPL_SEED, .)
 * over the first TG_TPL_BYTES of the fill range before its snapshot and
 * leaves the rest zero, so a fork's dropped page shows the template's bytes.
 */
#define TG_FILL_BASE    0x1000000ull /* 16 MiB */
#define TG_FILL_MAX_MIB 16u
#define TG_BALLOON_BASE 0x2000000ull /* 32 MiB */
#define TG_BALLOON_MAX  4096u        /* pages (16 MiB) */
#define TG_TPL_SEED     0x7e3ull
#define TG_TPL_BYTES    (64u * 1024)
static inline unsigned long long tg_fill_word(unsigned long long seed, unsigned long long gpa)
{
    return tg_blk_word(seed, gpa >> 9, (unsigned)(gpa & 511) / 8);
}

#define TG_EXIT_OK        0
#define TG_EXIT_FAIL      3    /* a check inside the guest failed */
#define TG_EXIT_EXCEPTION 0x40 /* + vector: an unexpected CPU exception */

struct tg_mailbox {
    volatile unsigned long long spin_count; /* mode=spin: incremented forever at CPL3 */
    volatile unsigned long long ticks;      /* timer interrupts taken */
    volatile unsigned long long dev_irqs;   /* interrupts on TG_DEV_VECTOR (IOAPIC GSI 16) */
    volatile unsigned int ap_started;       /* APs that reached 64-bit code */
    volatile unsigned int ap_apic_id[64];   /* LAPIC ID each AP read itself */
    volatile unsigned int ap_cpuid_id[64];  /* CPUID.1:EBX[31:24] each AP saw (at CPL0) */
};

#endif /* BURROW_TESTS_TESTGUEST_ABI_H */
