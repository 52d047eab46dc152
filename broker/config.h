/*
 * broker/config.h - Burrow's one configuration loader (burrow.ini).
 *
 * Owns: struct burrow_config (typed, range-checked values every other module
 * reads, e.g. cfg->ssh.port), the table of known keys with their built-in
 * defaults, and the parsers for the value forms (bool, size, duration, ...).
 *
 * The file is hostile input: an unknown section or key is an error naming
 * it; a bad value is an error naming the key and the expected form. Nothing
 * in *cfg is trusted to be valid unless config_load() returned 0.
 *
 * Adding a key: add a field to the struct below and one row to the key
 * table in config.c (section, name, type, range, default, help); document
 * it in etc/burrow.ini and docs/config.md (a unit test checks the sample
 * names every key).
 *
 * The same table-driven engine parses other small INI records (user.ini):
 * see struct config_key and config_parse_ini().
 */
#ifndef BURROW_BROKER_CONFIG_H
#define BURROW_BROKER_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_PATH_MAX     256   /* bytes, incl. NUL, of any path value */
#define CONFIG_STR_MAX      256   /* bytes, incl. NUL, of any other string value */
#define CONFIG_LIST_MAX     512   /* bytes, incl. NUL, of an algorithm or pattern list */
#define CONFIG_CHANNELS_MAX 64    /* channels of any kind per connection */
#define CONFIG_LISTEN_MAX   8     /* addresses in [ssh] listen */
#define CONFIG_ADDR_MAX     64    /* bytes of one listen address */
#define CONFIG_ERR_MAX      512   /* suggested size of an error buffer */
#define CONFIG_FILE_MAX     65536 /* a config file larger than this is refused */
/* Largest user uid: each maps one-to-one onto a session uid (broker/session/confine.h). */
#define CONFIG_UID_MAX 0x0fffffffu

#define CONFIG_MUST_CHECK __attribute__((warn_unused_result))

enum vm_backend { VM_BACKEND_AUTO = 0, VM_BACKEND_KVM, VM_BACKEND_SANDBOX };
/* [ssh] allow_tcp_forwarding, as sshd's AllowTcpForwarding. */
enum tcp_forwarding { TCP_FWD_YES = 0, TCP_FWD_NO, TCP_FWD_LOCAL, TCP_FWD_REMOTE };

/* OpenSSH MaxStartups start:rate:full. */
struct config_startups {
    uint32_t start; /* unauthenticated connections before random drops begin */
    uint32_t rate;  /* percent chance of dropping at `start` */
    uint32_t full;  /* all further connections refused at this count */
};

/* [ssh] listen: "0.0.0.0 ::" as written, and split into validated addresses. */
struct config_listen {
    char text[CONFIG_STR_MAX];
    char addr[CONFIG_LISTEN_MAX][CONFIG_ADDR_MAX]; /* numeric IPv4 or IPv6 */
    unsigned n;
};

/* An IPv4 network, host byte order; addr has no bits set beyond len. */
struct config_cidr {
    uint32_t addr;
    uint8_t len; /* 0-32 */
};

#define CONFIG_CIDR_MAX 20 /* networks in one [net] list (the text is at most 255 bytes) */
#define CONFIG_IFNAME   16 /* interface name with its NUL */

/* [net] egress_allow / egress_deny / subnet: text first, so config_dump prints it. */
struct config_cidrs {
    char text[CONFIG_STR_MAX];
    struct config_cidr v[CONFIG_CIDR_MAX];
    unsigned n;
};

/* [metrics] listen: "" (off), "127.0.0.1:PORT", "[::1]:PORT" or a unix socket path. */
enum metrics_listen_kind { METRICS_OFF = 0, METRICS_TCP, METRICS_UNIX };
#define CONFIG_UNIX_PATH_MAX 108 /* sun_path, with its NUL */
struct config_metrics_listen {
    char text[CONFIG_PATH_MAX]; /* as written (first: config_dump prints it) */
    enum metrics_listen_kind kind;
    char addr[CONFIG_ADDR_MAX];      /* METRICS_TCP: numeric loopback address */
    uint16_t port;                   /* METRICS_TCP */
    char path[CONFIG_UNIX_PATH_MAX]; /* METRICS_UNIX */
};

/* [cluster] peer_listen: "IPV4:PORT" or "[IPV6]:PORT" (advertised to the other hosts). */
struct config_peer_listen {
    char text[CONFIG_ADDR_MAX + 8]; /* as written (first: config_dump prints it) */
    char addr[CONFIG_ADDR_MAX];     /* numeric, never unspecified */
    uint16_t port;
};

#define CONFIG_CLUSTER_NAME_MAX 64 /* bytes of [cluster] name, with its NUL */

struct burrow_config {
    struct {
        struct config_listen listen;
        uint16_t port;
        char host_key_dir[CONFIG_PATH_MAX]; /* default: <state_dir>/hostkeys */
        int password_auth;                  /* bool */
        uint32_t max_auth_tries;
        uint32_t login_grace_time; /* seconds; 0 = no limit */
        struct config_startups max_startups;
        char banner[CONFIG_PATH_MAX];     /* file shown before auth; "" = none */
        uint32_t max_sessions;            /* session channels per connection (sshd MaxSessions) */
        char accept_env[CONFIG_LIST_MAX]; /* client env requests (broker/envpolicy.h) */
        int allow_agent_forwarding;       /* bool: ssh -A */
        int allow_tcp_forwarding;         /* enum tcp_forwarding: ssh -L (local), ssh -R (remote) */
        char permit_user_environment[CONFIG_LIST_MAX]; /* authorized_keys environment= */
        /* Offered algorithms, comma-separated (broker/sshalgo.h checks the names). */
        char kex[CONFIG_LIST_MAX];
        char hostkey_algorithms[CONFIG_LIST_MAX];
        char ciphers[CONFIG_LIST_MAX];
        char macs[CONFIG_LIST_MAX];
    } ssh;
    struct {
        char methods[CONFIG_LIST_MAX];              /* "any" or chains (broker/authflow.h) */
        char trusted_user_ca_keys[CONFIG_PATH_MAX]; /* OpenSSH TrustedUserCAKeys; "" = none */
    } auth;
    struct {
        enum vm_backend backend;
        char template_name[CONFIG_STR_MAX]; /* key "template" */
        uint32_t memory_mb;
        uint32_t vcpus;
        uint32_t idle_timeout;   /* seconds; 0 = never reap */
        uint32_t idle_hibernate; /* seconds; 0 = never hibernate (kvm only, vmm/hibernate.h) */
        uint32_t max_vms;
        uint32_t pool_size;
        int ksm;               /* bool: guest RAM mergeable, /sys/kernel/mm/ksm/run switched on */
        uint32_t idle_reclaim; /* seconds without a session byte before a RECLAIM; 0 = never */
    } vm;
    struct {
        char state_dir[CONFIG_PATH_MAX];
        char run_dir[CONFIG_PATH_MAX];
    } paths;
    struct {
        uint32_t uid_min;
        uint32_t uid_max;
        char default_shell[CONFIG_PATH_MAX];
        uint64_t default_disk_size; /* bytes */
        int allow_root;             /* bool: users get root inside their VM */
    } users;
    struct {
        int seccomp; /* 0 enforce, 1 log (= enum sc_mode, vmm/jail/seccomp.h) */
    } security;
    struct {
        int enabled;                      /* bool: VMs get a virtio-net device, a TAP, NAT */
        char bridge[CONFIG_IFNAME];       /* host bridge of the VMs' TAPs */
        struct config_cidrs subnet;       /* exactly one network, /8 to /29 */
        struct config_cidrs egress_allow; /* allowed even inside egress_deny */
        struct config_cidrs egress_deny;  /* refused destinations */
        struct config_cidrs dns; /* the VMs' resolv.conf (n <= 3, len 32); n = 0: untouched */
        int block_host;          /* bool: VMs cannot reach the host's own addresses */
        int isolate;             /* bool: VMs cannot reach each other */
        uint32_t bandwidth_mbit; /* per VM and direction; 0 = unlimited */
    } net;
    struct {
        struct config_metrics_listen listen; /* Prometheus text format over HTTP */
    } metrics;
    struct {
        char file[CONFIG_PATH_MAX]; /* JSON lines; "" = no file */
        int journald;               /* bool: each line to the journal as well */
    } audit;
    /* docs/cluster.md; broker/config_cluster.c parses and cross-checks these. */
    struct {
        char etcd[CONFIG_STR_MAX]; /* space-separated http(s) URLs; "" = one host, no cluster */
        char etcd_ca[CONFIG_PATH_MAX];
        char etcd_cert[CONFIG_PATH_MAX];
        char etcd_key[CONFIG_PATH_MAX];
        char name[CONFIG_CLUSTER_NAME_MAX]; /* this host; "" = its hostname */
        struct config_peer_listen peer_listen;
        uint32_t lease_ttl;                   /* seconds */
        char home_nbd[CONFIG_STR_MAX];        /* nbd://HOST[:PORT]: export NAME is her disk */
        char prefix[CONFIG_CLUSTER_NAME_MAX]; /* of every etcd key */
        uint32_t capacity;                    /* VMs advertised; 0 = [vm] max_vms */
    } cluster;
};

/* --- Loading ------------------------------------------------------------ */

/* Fill cfg with the built-in default of every key (always succeeds). */
void config_defaults(struct burrow_config *cfg);

#define CONFIG_LOAD_OPTIONAL 0x1u /* a missing file means defaults, not an error */

/*
 * Load path over the defaults. Returns 0, or:
 *   BURROW_ERR_NOT_FOUND  the file does not exist (unless CONFIG_LOAD_OPTIONAL)
 *   BURROW_ERR_SYSTEM     it cannot be read (errno set)
 *   BURROW_ERR_FORMAT / _INVALID / _RANGE / _TOO_LARGE  bad content
 * On error, err (if not NULL) holds one line naming the path and the
 * section/key and expected form, and *cfg holds the defaults.
 */
CONFIG_MUST_CHECK int config_load(struct burrow_config *cfg, const char *path, unsigned flags,
                                  char *err, size_t errsz);

/*
 * The command-line convention: `-c FILE` given (explicit) → the file must
 * exist and be readable; otherwise the default path is optional. Prints one
 * line on stderr and returns EXIT_USAGE on failure, EXIT_OK on success.
 */
int config_load_cli(struct burrow_config *cfg, const char *path, int explicit_path);

/* Write every key as `key = value` under its section (docs, `show` commands). */
void config_dump(const struct burrow_config *cfg, FILE *out);

/* --- Value forms (shared with burrowctl's options and user.ini) --------- */

/* yes/no, true/false, on/off, 1/0 (case-insensitive). */
CONFIG_MUST_CHECK int config_parse_bool(const char *s, int *out);
/* Decimal integer within [min, max]. */
CONFIG_MUST_CHECK int config_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Seconds: "90", "90s", "15m", "2h" (within [min, max] seconds). */
CONFIG_MUST_CHECK int config_parse_duration(const char *s, uint32_t min, uint32_t max,
                                            uint32_t *out);
/* Bytes: "4096", "512K", "64M", "2G", "1T" (binary units; within [min, max]). */
CONFIG_MUST_CHECK int config_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* OpenSSH start:rate:full (or a single "start"), start <= full, rate <= 100. */
CONFIG_MUST_CHECK int config_parse_startups(const char *s, struct config_startups *out);
/* An absolute, normalized-enough path: starts with '/', no "..", no control bytes. */
CONFIG_MUST_CHECK int config_check_abs_path(const char *s);

/* --- The table engine (used for burrow.ini and for user.ini) ------------ */

enum config_type {
    CFG_STRING,   /* printable text, at most `max` bytes */
    CFG_PATH,     /* absolute path (or "" when min == 0) */
    CFG_U32,      /* integer in [min, max] */
    CFG_U64,      /* integer in [min, max] */
    CFG_U16,      /* integer in [min, max] */
    CFG_BOOL,     /* int */
    CFG_DURATION, /* uint32_t seconds in [min, max] */
    CFG_SIZE,     /* uint64_t bytes in [min, max] */
    CFG_ENUM,     /* int; value is the index of the name in `names` */
    CFG_CUSTOM,   /* parsed by `parse` */
};

struct config_key {
    const char *section;
    const char *name;
    enum config_type type;
    size_t offset;            /* of the field in the target struct */
    size_t size;              /* of the field (string capacity) */
    uint64_t min, max;        /* numeric range; for CFG_PATH min=0 allows "" */
    const char *const *names; /* CFG_ENUM: NULL-terminated */
    int (*parse)(const char *value, void *field, char *err, size_t errsz); /* CFG_CUSTOM */
    const char *def;  /* default, in file syntax (NULL: leave field as is) */
    const char *form; /* the expected form, for messages ("1-65535") */
};

/* The burrow.ini key table and its length. */
const struct config_key *config_keys(size_t *n);

/*
 * Parse the INI file at path against `keys`, writing into base. Unknown
 * sections/keys are errors; keys not present keep their current value.
 * `max_bytes` bounds the file size. Same returns as config_load().
 */
CONFIG_MUST_CHECK int config_parse_ini(const char *path, const struct config_key *keys, size_t n,
                                       void *base, size_t max_bytes, char *err, size_t errsz);
/* The same with flags: CONFIG_PARSE_NOFOLLOW refuses a symlink at path. */
#define CONFIG_PARSE_NOFOLLOW 0x1u
CONFIG_MUST_CHECK int config_parse_ini_flags(const char *path, unsigned flags,
                                             const struct config_key *keys, size_t n, void *base,
                                             size_t max_bytes, char *err, size_t errsz);
/* Set every key that has a default (def != NULL). Returns 0 or a code (bad table). */
CONFIG_MUST_CHECK int config_apply_defaults(const struct config_key *keys, size_t n, void *base,
                                            char *err, size_t errsz);
/* Parse one value into its field; on error err names section.key and form. */
CONFIG_MUST_CHECK int config_set_value(const struct config_key *k, void *base, const char *value,
                                       char *err, size_t errsz);

#endif /* BURROW_BROKER_CONFIG_H */
