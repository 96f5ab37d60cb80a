/*
 * options.h -- weftd's settings as one plain struct.
 *
 * Every source of settings fills the same struct through the same setter,
 * options_set(o, source, "name", "value"), where "name" is the long flag
 * without its dashes: the command line today (options_parse_args), a YAML
 * file and WEFT_* environment variables later (a config.c calling
 * options_set with the YAML key or the variable name lower-cased, '_' ->
 * '-').  Sources apply in rising precedence: defaults < file < environment
 * < flags.  A single value is simply overwritten; a repeatable one (--peer,
 * --listen, --tag, --beacon) is replaced as a whole by the first entry a
 * higher source gives, so flags never add to a file's list by accident.
 * options_finish() then checks what only the whole set can tell (exactly
 * one network key source, a data directory, ...) and derives defaults.
 */
#ifndef WEFTD_OPTIONS_H
#define WEFTD_OPTIONS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/discovery.h"
#include "weft/uv.h"

#define OPT_PEERS_MAX 64       /* --peer entries */
#define OPT_PEER_SPEC_MAX 300  /* HOST:PORT as given */
#define OPT_TAGS_MAX 32        /* --tag entries */
#define OPT_TAG_PART_MAX 256   /* KEY or VALUE, with the NUL */
#define OPT_PASSPHRASE_MAX 1024
#define OPT_CONTROL_MAX 108    /* sizeof sockaddr_un.sun_path */

enum opt_source { OPT_SRC_DEFAULT, OPT_SRC_FILE, OPT_SRC_ENV, OPT_SRC_FLAG };

typedef struct weftd_options {
    /* node */
    weft_addr listen[WEFT_UV_MAX_LISTEN]; /* port 0 = the OS chooses */
    size_t listen_count;
    char data_dir[PATH_MAX];
    char network_key_file[PATH_MAX];      /* "" = none */
    char network_passphrase[OPT_PASSPHRASE_MAX]; /* "" = none; wiped after use */
    int have_passphrase;
    char peers[OPT_PEERS_MAX][OPT_PEER_SPEC_MAX]; /* bootstrap HOST:PORT */
    size_t npeers;
    char name[64];                        /* "" = none */
    uint32_t unreachable_ms;
    int log_level;                        /* enum log_level */
    char control[OPT_CONTROL_MAX];        /* "" = DATA_DIR/weftd.sock */
    /* membership */
    int membership;
    weft_addr advertise;
    int have_advertise;
    char peers_file[PATH_MAX];            /* "" = none */
    char status[33];
    char tag_key[OPT_TAGS_MAX][OPT_TAG_PART_MAX];
    char tag_value[OPT_TAGS_MAX][OPT_TAG_PART_MAX];
    size_t ntags;
    int profile;                          /* enum weft_profile */
    uint32_t max_peers;                   /* 0 = the engine's default */
    uint32_t probe_interval_ms, probe_timeout_ms, suspicion_mult; /* 0 = profile */
    /* LAN beacons */
    char beacon_ifaces[WEFT_DISC_IFACES_MAX][16];
    size_t beacon_count;
    uint16_t beacon_port;                 /* 0 = default */
    unsigned beacon_modes;                /* 0 = all */
    uint32_t beacon_interval_ms;          /* 0 = default */
    /* which source last filled each repeatable list (enum opt_source) */
    uint8_t src_listen, src_peers, src_tags, src_beacons;
} weftd_options;

/* Fills the defaults (listen 127.0.0.1:7946 only, status active,
 * membership on, log level info, ...). */
void options_default(weftd_options *o);

/*
 * Applies one setting.  name is the long flag without "--"; value is NULL
 * for a switch.  Returns 0; -1 with a message in err (naming the value and
 * what is expected) when the value is bad; -2 when name is unknown.
 */
int options_set(weftd_options *o, int source, const char *name, const char *value,
                char *err, size_t cap);

enum { OPT_RUN, OPT_HELP, OPT_VERSION };

/*
 * Parses the command line into o (over whatever earlier sources set).
 * Returns 0 with *action = OPT_RUN, OPT_HELP or OPT_VERSION, or 2 after
 * printing the problem on stderr.
 */
int options_parse_args(weftd_options *o, int argc, char **argv, int *action);

/* Checks the whole set and derives defaults (the control path).  Returns
 * 0, or -1 with a message in err. */
int options_finish(weftd_options *o, char *err, size_t cap);

/* The complete --help text. */
void options_usage(FILE *f);

/* Parses a decimal u32 in lo..hi; 0 or -1. */
int options_parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out);

#endif
