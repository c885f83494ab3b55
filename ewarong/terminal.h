/* kks-terminal internals (SPEC §8): an e-warong / ATM / branch terminal that
 * sends one transaction to the switch and prints a slip or JSON.
 *
 * Modules, each with its own prefix:
 *   args.c     targs_    the command line: options, per-command rules, local checks
 *   journal.c  journal_  the terminal's own state: STAN counter and transaction journal
 *   receipt.c  receipt_  slips for people (Bahasa Indonesia or English) and JSON
 *   link.c     link_     the connection to the switch, calls, the reversal loop
 *   cli.c      term_     one run of the program: arguments -> request -> output
 *   main.c               main(): the real environment around term_cli()
 *
 * Only link.c and cli.c touch the network; everything else takes values in and
 * gives text or files out, so tests/test_terminal.c drives it directly. */
#ifndef KKS_TERMINAL_H
#define KKS_TERMINAL_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <uv.h>

#include "kc_txn.h"
#include "kks.pb-c.h"
#include "kks_net.h"
#include "kks_pin.h"

/* Exit codes (SPEC §9). */
enum {
    TERM_EXIT_OK = 0,       /* approved / done */
    TERM_EXIT_DECLINED = 1, /* the switch answered with a code other than 00; settle mismatch */
    TERM_EXIT_USAGE = 2,
    TERM_EXIT_PEER = 3,     /* cannot reach or talk to the switch, or no reply in time */
    TERM_EXIT_INTERNAL = 4,
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
#define TERM_STATE_DEFAULT "var/terminal"
#define TERM_WIB_OFFSET (7 * 3600)
#define TERM_ID_MAX 41 /* kks_terminal_id_valid: at most 40 characters */

/* --------------------------------------------------------------- args.c */

typedef kc_item term_item;

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
    int help; /* --help: print targs_usage(cmd) and stop */
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

/* --------------------------------------------------------------- journal.c
 *
 * DIR/ID.stan   one line "YYYY-MM-DD N": the last STAN used on that date.
 * DIR/ID.journal one CSV line per transaction the terminal saw answered:
 *                local_date,stan,type,rc,amount,rrn,reversed
 *                (rc and rrn are empty for a money transaction that got no
 *                reply and was reversed by the terminal).
 * DIR/ID.lock   flock()ed while either file is read and rewritten, so two
 *               processes of one terminal never take the same STAN.
 * Files are rewritten as a temporary file + fsync + rename. */

typedef struct journal_entry {
    char date[11];
    uint32_t stan;
    char type[12];
    char rc[3];
    int64_t amount;
    char rrn[13];
    int reversed;
} journal_entry;

/* The next STAN for (id, date): 1 on a new date, else one past the larger of
 * the counter and any STAN journaled for the date; then saves it. Returns 0,
 * KKS_EIO, or KKS_EEXISTS when 999999 has been used. */
int journal_stan_next(const char *dir, const char *id, const char *date, uint32_t *stan);
/* Records that stan (given with --stan) was used, so that later automatic
 * STANs of the date come after it. Returns 0 or KKS_EIO. */
int journal_stan_note(const char *dir, const char *id, const char *date, uint32_t stan);
/* Adds e. If (date, stan) is journaled already the first line stays (the
 * switch repeats the first reply, or declines 94), except that a line with no
 * reply gets the reply's fields. Returns 0, KKS_EINVAL or KKS_EIO. */
int journal_record(const char *dir, const char *id, const journal_entry *e);
/* Sets reversed=1 on (date, stan); *found says whether it was journaled. */
int journal_mark_reversed(const char *dir, const char *id, const char *date, uint32_t stan,
                          int *found);
/* Finds (date, stan). Returns 1 (found, *out set), 0 (not found) or KKS_EIO. */
int journal_find(const char *dir, const char *id, const char *date, uint32_t stan,
                 journal_entry *out);
/* Count and sum of the date's approved (00) withdraw and purchase lines not
 * reversed. Returns 0, KKS_EIO, or KKS_EINVAL if the sum would overflow. */
int journal_totals(const char *dir, const char *id, const char *date, uint32_t *count,
                   int64_t *total);
/* One line without the newline; 0 or KKS_EINVAL (a field would break the CSV). */
int journal_format(const journal_entry *e, char *buf, size_t cap);
/* Parses one line (with or without newline). 0 or KKS_EINVAL. */
int journal_parse(const char *line, journal_entry *e);

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
void receipt_noreply_json(FILE *f, const receipt_ctx *c, const receipt_lost *n);
/* rrn: of the original when the journal knows it, else NULL. */
void receipt_reversal(FILE *f, const receipt_ctx *c, const Kks__ReversalReply *r,
                      const char *rrn);
void receipt_reversal_json(FILE *f, const receipt_ctx *c, const Kks__ReversalReply *r,
                           const char *rrn);
void receipt_settle(FILE *f, const receipt_ctx *c, uint32_t count, int64_t total,
                    const Kks__TerminalSettleReply *r);
void receipt_settle_json(FILE *f, const receipt_ctx *c, uint32_t count, int64_t total,
                         const Kks__TerminalSettleReply *r);
/* --json when the switch could not be reached or answered with an Error. */
void receipt_error_json(FILE *f, const receipt_ctx *c, const char *error);

/* --------------------------------------------------------------- link.c */

enum link_status {
    LINK_OK,          /* a reply came (it may be an Error envelope) */
    LINK_UNREACHABLE, /* no connection: the request was not sent */
    LINK_LOST,        /* sent, but no reply in time or the connection dropped */
    LINK_REFUSED,     /* the switch refused this terminal's identity */
    LINK_INTERNAL,    /* could not build or send the request here */
};

typedef struct term_link {
    uv_loop_t *loop;
    SSL_CTX *ctx;
    const char *addr;
    kks_client *cl;
    uv_timer_t timer;
    int fired, timer_closed;
    char why[256]; /* what went wrong last, for people */
} term_link;

/* Repetition of the automatic reversal (SPEC §7): first_ms doubling up to
 * max_ms between attempts, for at most total_ms. */
typedef struct link_retry {
    unsigned first_ms, max_ms, total_ms;
} link_retry;

void link_init(term_link *l, uv_loop_t *loop, SSL_CTX *ctx, const char *addr);
/* Connects if needed (waiting at most timeout_ms), sends req and waits at
 * most timeout_ms for its reply. On LINK_OK *rep must be freed with
 * kks__envelope__free_unpacked. */
enum link_status link_call(term_link *l, Kks__Envelope *req, unsigned timeout_ms,
                           Kks__Envelope **rep);
/* Sends the reversal, over a new connection when needed, until the switch
 * acknowledges it (rc 00) or r->total_ms pass. Returns LINK_OK (acknowledged;
 * *moved set), LINK_LOST (still pending) or LINK_REFUSED. */
enum link_status link_reverse(term_link *l, const Kks__ReversalRequest *rev, unsigned timeout_ms,
                              const link_retry *r, int *moved, unsigned *attempts);
/* Closes the connection and the timer and lets the loop finish with them. */
void link_close(term_link *l);

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
