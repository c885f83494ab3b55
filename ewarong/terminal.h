/* kks-terminal internals (SPEC §8): an e-warong / ATM / branch terminal that
 * sends one transaction to the switch and prints a slip or JSON.
 *
 * Modules, each with its own prefix:
 *   args.c     targs_    the command line: options, per-command rules, local checks
 *   receipt.c  receipt_  slips for people (Bahasa Indonesia or English) and JSON
 *   cli.c      term_     one run of the program: arguments -> request -> output
 * and from the client library (client/): kc_txn_ (requests), journal_ (the
 * terminal's STAN counter and journal), link_ (the connection to the switch,
 * calls, the reversal loop).
 *   main.c               main(): the real environment around term_cli()
 *
 * Only link.c (client/) and cli.c touch the network; everything else takes values in and
 * gives text or files out, so tests/test_terminal.c drives it directly. */
#ifndef KKS_TERMINAL_H
#define KKS_TERMINAL_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <uv.h>

#include "kc_journal.h"
#include "kc_link.h"
#include "kc_txn.h"
#include "kks.pb-c.h"
#include "kks_cli.h"
#include "kks_net.h"
#include "kks_pin.h"

/* Exit codes: the shared table (kks_cli.h). */
enum {
    TERM_EXIT_OK = KKS_EXIT_OK,             /* approved / done */
    TERM_EXIT_DECLINED = KKS_EXIT_DECLINED, /* a code other than 00; settle mismatch */
    TERM_EXIT_USAGE = KKS_EXIT_USAGE,
    TERM_EXIT_PEER = KKS_EXIT_PEER, /* cannot reach or talk to the switch, or no reply in time */
    TERM_EXIT_INTERNAL = KKS_EXIT_INTERNAL,
};

enum term_cmd {
    TERM_CMD_NONE,
    TERM_CMD_ACTIVATE,
    TERM_CMD_BALANCE,
    TERM_CMD_WITHDRAW,
    TERM_CMD_PURCHASE,
    TERM_CMD_PIN_CHANGE,
    TERM_CMD_STATEMENT,
    TERM_CMD_REVERSE,
    TERM_CMD_SETTLE,
};

enum term_lang { TERM_LANG_ID, TERM_LANG_EN };

#define TERM_MAX_ITEMS KC_MAX_ITEMS
#define TERM_SKU_MAX KC_SKU_MAX
#define TERM_QTY_MAX 999
#define TERM_STAN_MAX 999999u
#define TERM_AMOUNT_LIMIT 1000000000000000LL /* amounts typed must be below 10^15 */
#define TERM_TIMEOUT_DEFAULT 10000u
#define TERM_TIMEOUT_MAX 3600000u
#define TERM_WIB_OFFSET (7 * 3600)
#define TERM_ID_MAX 41 /* kks_terminal_id_valid: at most 40 characters */

/* --------------------------------------------------------------- args.c */

typedef kc_item term_item;
typedef kc_link term_link;

/* What the environment supplies when an option is not given. */
typedef struct term_defaults {
    const char *sw;    /* KKS_SWITCH */
    const char *pki;   /* KKS_PKI */
    const char *state; /* KKS_TERMINAL_STATE */
    time_t now;        /* today's date in WIB is the default business date */
} term_defaults;

/* A parsed, locally checked command line. PIN fields hold clear PINs:
 * targs_wipe() them as soon as the PIN blocks are built. */
typedef struct term_args {
    enum term_cmd cmd;
    int help;    /* --help: print targs_usage(cmd) and stop */
    int version; /* --version: print the version and stop (after --help) */
    char id[TERM_ID_MAX];
    const char *sw, *pki, *state;
    int json;
    enum term_lang lang;
    uint32_t stan; /* 0: take the next one from the state file */
    char date[11]; /* business date YYYY-MM-DD */
    unsigned timeout_ms;
    char pan[20];
    char nik[17];
    char pin[KKS_PIN_LEN + 1];     /* activate: the new PIN; pin-change: the old one */
    char new_pin[KKS_PIN_LEN + 1]; /* pin-change */
    int64_t amount;                /* withdraw */
    char wallet[5];                /* "" (the switch's default), "pkh" or "bpnt" */
    term_item items[TERM_MAX_ITEMS];
    size_t n_items;
} term_args;

/* Parses argv (options may come before or after the command; argv strings
 * that held a PIN are overwritten with zeros). Returns TERM_EXIT_OK, or
 * TERM_EXIT_USAGE with the reason in why (never containing a PIN). On --help
 * returns TERM_EXIT_OK with a->help set and nothing else checked. */
int targs_parse(term_args *a, int argc, char **argv, const term_defaults *d, char *why,
                size_t cap);
/* Wipes every PIN held in a. */
void targs_wipe(term_args *a);
/* Usage text for one command, or the whole program for TERM_CMD_NONE. */
const char *targs_usage(enum term_cmd cmd);
/* "withdraw", "pin-change"... as typed on the command line. */
const char *targs_cmd_name(enum term_cmd cmd);
/* The TxnRequest type: "withdraw", "pin_change"...; NULL for reverse/settle. */
const char *targs_txn_type(enum term_cmd cmd);

/* Local checks, exposed for the tests. Each returns 0 or KKS_EINVAL. */
int targs_pan_shape(const char *pan);                /* 12..19 digits (Luhn is the switch's) */
int targs_amount_parse(const char *s, int64_t *out); /* digits, value < 10^15 */
int targs_stan_parse(const char *s, uint32_t *out);  /* 1..999999 */
int targs_items_parse(const char *s, term_item *items, size_t *n, char *why, size_t cap);
/* Today's date in WIB as YYYY-MM-DD. */
void targs_wib_date(time_t now, char out[11]);

/* --------------------------------------------------------------- receipt.c */

/* What the terminal knows about a transaction besides the switch's reply. */
typedef struct receipt_ctx {
    enum term_lang lang;
    const char *terminal;
    const char *date; /* business date YYYY-MM-DD */
    time_t now;       /* printed as the time in WIB */
    const char *type; /* TxnRequest type, "reversal" or "settle" */
    const char *pan;  /* clear; only ever printed masked */
    uint32_t stan;
    int64_t amount;     /* withdraw: as asked */
    const char *wallet; /* as asked, or "" */
} receipt_ctx;

/* Outcome of the automatic reversal after a money transaction got no reply. */
typedef struct receipt_lost {
    const char *why;  /* what went wrong ("timed out") */
    int acked;        /* the switch acknowledged the reversal */
    int moved;        /* and money went back */
    int refused;      /* the switch refused this terminal; the reversal was not delivered */
    unsigned attempts;
} receipt_lost;

/* "Rp200.000" (id) or "Rp200,000" (en); negative as "-Rp5.000". Returns the length. */
size_t receipt_rupiah(int64_t v, enum term_lang lang, char *out, size_t cap);
/* A short explanation of a response code in the language ("Saldo tidak cukup"). */
const char *receipt_rc_text(const char *rc, enum term_lang lang);
/* Receipt title for a type ("TARIK TUNAI", "CASH WITHDRAWAL"...). */
const char *receipt_title(const char *type, enum term_lang lang);

void receipt_txn(FILE *f, const receipt_ctx *c, const Kks__TxnReply *r);
void receipt_txn_json(FILE *f, const receipt_ctx *c, const Kks__TxnReply *r);
void receipt_noreply(FILE *f, const receipt_ctx *c, const receipt_lost *n);
/* With "error" and "exit" (exit_code, the program's), as every error object
 * (kks_cli.h). */
void receipt_noreply_json(FILE *f, const receipt_ctx *c, const receipt_lost *n, int exit_code);
/* rrn: of the original when the journal knows it, else NULL. */
void receipt_reversal(FILE *f, const receipt_ctx *c, const Kks__ReversalReply *r,
                      const char *rrn);
void receipt_reversal_json(FILE *f, const receipt_ctx *c, const Kks__ReversalReply *r,
                           const char *rrn);
void receipt_settle(FILE *f, const receipt_ctx *c, uint32_t count, int64_t total,
                    const Kks__TerminalSettleReply *r);
void receipt_settle_json(FILE *f, const receipt_ctx *c, uint32_t count, int64_t total,
                         const Kks__TerminalSettleReply *r);
/* --json when the switch could not be reached or answered with an Error, or
 * the request could not be made: the transaction's fields, no response code,
 * "error" and "exit" (the program's exit code; kks_cli.h). */
void receipt_error_json(FILE *f, const receipt_ctx *c, const char *error, int exit_code);

/* --------------------------------------------------------------- cli.c */

typedef struct term_env {
    uv_loop_t *loop;
    FILE *out, *err;
    term_defaults defaults;
    link_retry retry;
} term_env;

/* One run of kks-terminal: returns the exit code. Leaves no handle of its own
 * open on env->loop. */
int term_cli(const term_env *env, int argc, char **argv);

#endif
