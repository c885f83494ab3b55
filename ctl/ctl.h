/* kksctl internals shared by its command files. */
#ifndef KKS_CTL_H
#define KKS_CTL_H

#include <getopt.h>

#include "kks_cli.h"
#include "kks_json.h"
#include "kks_net.h"

/* Exit codes: the shared table (kks_cli.h). */
enum {
    EXIT_OK = KKS_EXIT_OK,
    EXIT_DECLINED = KKS_EXIT_DECLINED,
    EXIT_USAGE = KKS_EXIT_USAGE,
    EXIT_PEER = KKS_EXIT_PEER,
    EXIT_INTERNAL = KKS_EXIT_INTERNAL,
};

typedef struct ctl {
    const char *pki;    /* --pki or KKS_PKI */
    const char *sw;     /* --switch or KKS_SWITCH */
    const char *issuer; /* --issuer or KKS_ISSUER */
    int json;
    uv_loop_t *loop;
    SSL_CTX *ctx; /* operator credentials, made on first use */
    kks_client *issuer_cl, *switch_cl; /* connected on first use */
} ctl;

#define CTL_TIMEOUT_MS 60000
/* ledger check reads the whole ledger (minutes at national size; the switch
 * serves terminals meanwhile) */
#define CTL_CHECK_TIMEOUT_MS 3600000

/* The client for a peer (KKS_ROLE_ISSUER or KKS_ROLE_SWITCH), connecting on
 * first use; NULL after printing why (see *exit_code). */
kks_client *ctl_peer(ctl *c, unsigned role, int *exit_code);
/* Sends req to the peer and waits. EXIT_OK with *rep (free it with
 * kks__envelope__free_unpacked), else the exit code after printing why
 * (a peer's Error reply is EXIT_INTERNAL unless it says the peer refused). */
int ctl_request(ctl *c, unsigned role, Kks__Envelope *req, Kks__Envelope **rep);
/* The same, waiting up to timeout_ms for the reply. */
int ctl_request_for(ctl *c, unsigned role, Kks__Envelope *req, Kks__Envelope **rep,
                    unsigned timeout_ms);
/* Prints a UTC "YYYY-MM-DDTHH:MM:SSZ" as WIB (UTC+7) for people. */
void ctl_wib(const char *utc, char out[32]);
/* Prints v (built with core/kks_json.h; stolen) on one line on stdout. EXIT_OK,
 * or EXIT_INTERNAL after saying why on stderr (v NULL: out of memory). */
int ctl_json_print(json_t *v);

/* Why a command failed, for people: printed on stderr as given (the caller
 * writes "kksctl: ..." and the newline). The first line said is also what
 * main() puts in the error object ({"error":..,"exit":N}, kks_cli.h) that
 * --json prints on stdout when the command ends with a non-zero exit code and
 * printed no JSON of its own. Progress and summaries go to stderr directly. */
__attribute__((format(printf, 1, 2))) void ctl_say(const char *fmt, ...);
/* The first line ctl_say said, without "kksctl: "; "" when nothing was. */
const char *ctl_said(void);
/* Says that the command has begun writing data that is not JSON (gen and
 * manifest: CSV) on stdout: no error object is added to it then. */
void ctl_stdout_taken(void);
/* getopt_long over a command's options ("h" the only short one) that says
 * what was wrong with an unknown option or a missing value (ctl_say) and then
 * returns '?'. */
int ctl_getopt(int argc, char **argv, const struct option *opts);

/* A row of an input file that was not taken, and why. */
typedef struct ctl_rej {
    uint32_t line;
    char *reason;
    unsigned kind; /* a credit row's class of reason (core/kks_reject.h); 0 otherwise */
} ctl_rej;

/* A whole decimal number in [lo, hi] with nothing around it (no sign, no
 * space): 0 with *out, or -1. */
int ctl_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/* [{"line":N,"reason":"..."}, ...] for --json; NULL only when out of memory. */
json_t *ctl_rejected_json(const ctl_rej *rejs, size_t n);

/* Connects to addr as the operator, expecting a server of role. Prints why
 * and returns NULL when the PKI cannot be read (see *exit_code). */
kks_client *ctl_connect(ctl *c, const char *addr, unsigned role, int *exit_code);

int cmd_pki(ctl *c, int argc, char **argv);
int cmd_ping(ctl *c, int argc, char **argv);
int cmd_gen(ctl *c, int argc, char **argv);
int cmd_enroll(ctl *c, int argc, char **argv);
int cmd_accounts(ctl *c, int argc, char **argv);
int cmd_print(ctl *c, int argc, char **argv);
int cmd_handover(ctl *c, int argc, char **argv);
int cmd_card(ctl *c, int argc, char **argv);
int cmd_manifest(ctl *c, int argc, char **argv);
int cmd_credit_run(ctl *c, int argc, char **argv);
int cmd_period(ctl *c, int argc, char **argv);
int cmd_ledger(ctl *c, int argc, char **argv);
int cmd_account(ctl *c, int argc, char **argv);
int cmd_settle(ctl *c, int argc, char **argv);
int cmd_lookup(ctl *c, int argc, char **argv);
int cmd_complaint(ctl *c, int argc, char **argv);

#endif
