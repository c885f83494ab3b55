/* One run of kks-terminal: the command line in, one request to the switch, a
 * receipt or JSON out, and the exit code (SPEC §9).
 *
 * Order of work for a transaction, chosen so that nothing is spent on a
 * request that cannot be sent: check the arguments; read the PIN key; load the
 * TLS credentials; take a STAN; build the request with the client library (PIN
 * blocks, then the clear PINs wiped); send; journal what came back; print.
 *
 * Error envelopes from the switch (for instance a refused terminal identity)
 * are printed and exit 3, like every other failure to talk to the switch. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "kks_err.h"
#include "kks_pki.h"
#include "kks_rc.h"
#include "kks_seeds.h"
#include "terminal.h"

typedef struct run {
    const term_env *env;
    term_args *a;
    SSL_CTX *ctx;
    term_link link;
    int link_open;
    receipt_ctx rc;
    int printed;    /* the JSON object of this run is out (--json) */
    char said[400]; /* the first message said: the error of the object if not */
} run;

/* A message for people on stderr (never a PIN). */
__attribute__((format(printf, 2, 3))) static void say(run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kks_cli_keep(r->said, sizeof r->said, "", fmt, ap);
    fputs("kks-terminal: ", r->env->err);
    vfprintf(r->env->err, fmt, ap);
    va_end(ap);
    fputc('\n', r->env->err);
}

/* Reports that the switch could not be reached or talked to; exit 3. */
static int peer_failure(run *r, const char *what)
{
    char msg[400];
    snprintf(msg, sizeof msg, "switch %s: %s", r->a->sw, what);
    say(r, "%s", msg);
    if (r->a->json) {
        receipt_error_json(r->env->out, &r->rc, msg, TERM_EXIT_PEER);
        r->printed = 1;
    }
    return TERM_EXIT_PEER;
}

static int error_reply(run *r, const Kks__Envelope *rep)
{
    char msg[300];
    if (rep->body_case == KKS__ENVELOPE__BODY_ERROR && rep->error)
        snprintf(msg, sizeof msg, "says: %.200s (%s)",
                 rep->error->message && *rep->error->message ? rep->error->message
                                                             : kks_strerror(rep->error->code),
                 kks_errname(rep->error->code));
    else
        snprintf(msg, sizeof msg, "answered with an unexpected message (%d)", rep->body_case);
    return peer_failure(r, msg);
}

/* Sends req and waits for a reply of kind want (its body non-NULL: protobuf-c
 * sets the member with the case). TERM_EXIT_OK with *rep (free it), else the
 * exit code after saying why. */
static int call_for(run *r, Kks__Envelope *req, int want, Kks__Envelope **rep)
{
    int ec, st = link_call(&r->link, req, r->a->timeout_ms, rep);
    if (st == LINK_INTERNAL) {
        say(r, "cannot send the request: %s", r->link.why);
        return TERM_EXIT_INTERNAL;
    }
    if (st != LINK_OK)
        return peer_failure(r, r->link.why);
    if ((int)(*rep)->body_case != want) {
        ec = error_reply(r, *rep);
        kks__envelope__free_unpacked(*rep, NULL);
        *rep = NULL;
        return ec;
    }
    return TERM_EXIT_OK;
}

static int load_credentials(run *r)
{
    char name[80];
    snprintf(name, sizeof name, "terminals/%s", r->a->id);
    if (kks_tls_ctx_from_pki(&r->ctx, 0, r->a->pki, name) < 0) {
        say(r, "cannot load this terminal's certificate and key (%s/%s.crt, .key)", r->a->pki,
            name);
        return TERM_EXIT_USAGE;
    }
    link_init(&r->link, r->env->loop, r->ctx, r->a->sw);
    r->link_open = 1;
    return TERM_EXIT_OK;
}

static int take_stan(run *r)
{
    int rc;
    if (r->a->stan)
        rc = journal_stan_note(r->a->state, r->a->id, r->a->date, r->a->stan);
    else
        rc = journal_stan_next(r->a->state, r->a->id, r->a->date, &r->a->stan);
    if (rc < 0) {
        if (rc == KKS_EEXISTS)
            say(r, "every STAN of %s has been used", r->a->date);
        else
            say(r, "cannot use the terminal state in %s", r->a->state);
        return TERM_EXIT_INTERNAL;
    }
    r->rc.stan = r->a->stan;
    return TERM_EXIT_OK;
}

/* A withdrawal or purchase got no usable reply: reverse it until the switch
 * acknowledges (or the time runs out), journal it as reversed, exit 3. */
static int auto_reverse(run *r, const char *why)
{
    Kks__ReversalRequest rev = KKS__REVERSAL_REQUEST__INIT;
    receipt_lost nr = {0};
    journal_entry e = {0};
    char reason[256], stan[8];
    enum link_status st;
    int found, ec = TERM_EXIT_PEER;

    snprintf(reason, sizeof reason, "%s", why);
    snprintf(stan, sizeof stan, "%06u", r->a->stan);
    say(r, "no reply to STAN %s (%s): sending a reversal", stan, reason);
    kc_reversal(&rev, r->a->id, r->a->date, r->a->stan);
    st = link_reverse(&r->link, &rev, r->a->timeout_ms, &r->env->retry, &nr.moved, &nr.attempts);
    nr.why = reason;
    nr.acked = st == LINK_OK;
    nr.refused = st == LINK_REFUSED;
    if (nr.acked)
        say(r, "reversal of STAN %s acknowledged", stan);
    else
        say(r, "reversal of STAN %s still pending: %s", stan, r->link.why);

    snprintf(e.date, sizeof e.date, "%s", r->a->date);
    e.stan = r->a->stan;
    snprintf(e.type, sizeof e.type, "%s", r->rc.type);
    e.amount = r->a->cmd == TERM_CMD_WITHDRAW ? r->a->amount : 0;
    e.reversed = 1;
    if (journal_record(r->a->state, r->a->id, &e) < 0 ||
        journal_mark_reversed(r->a->state, r->a->id, r->a->date, r->a->stan, &found) < 0) {
        say(r, "cannot write the journal in %s", r->a->state);
        ec = TERM_EXIT_INTERNAL;
    }
    if (r->a->json) {
        receipt_noreply_json(r->env->out, &r->rc, &nr, ec);
        r->printed = 1;
    } else
        receipt_noreply(r->env->out, &r->rc, &nr);
    return ec;
}

/* The request, built by the client library with the terminal's PIN key; the
 * clear PINs are wiped here, whatever happens. */
static int build_request(run *r, const uint8_t tpk[16], kc_txn_req *req)
{
    term_args *a = r->a;
    kc_txn t = {.terminal = a->id, .stan = a->stan, .local_date = a->date,
                .type = r->rc.type, .pan = a->pan, .nik = a->nik, .amount = a->amount,
                .wallet = a->wallet, .n_items = a->n_items};
    int rc;
    memcpy(t.pin, a->pin, sizeof t.pin);
    memcpy(t.new_pin, a->new_pin, sizeof t.new_pin);
    memcpy(t.items, a->items, a->n_items * sizeof *a->items);
    targs_wipe(a);
    rc = kc_txn_build(&t, tpk, req);
    kc_txn_wipe(&t);
    if (rc < 0) {
        say(r, "cannot build the PIN block");
        return TERM_EXIT_INTERNAL;
    }
    return TERM_EXIT_OK;
}

static int do_txn(run *r)
{
    kc_txn_req built;
    Kks__Envelope req, *rep = NULL;
    term_args *a = r->a;
    int money = a->cmd == TERM_CMD_WITHDRAW || a->cmd == TERM_CMD_PURCHASE;
    enum link_status st;
    const Kks__TxnReply *t;
    journal_entry e = {0};
    char line[256];
    int ec;

    uint8_t tpk[16];
    if (kc_tpk_load(a->pki, a->id, tpk) < 0) {
        targs_wipe(a);
        say(r, "cannot read this terminal's PIN key %s/terminals/%s.tpk", a->pki, a->id);
        return TERM_EXIT_USAGE;
    }
    if ((ec = load_credentials(r)) != TERM_EXIT_OK || (ec = take_stan(r)) != TERM_EXIT_OK ||
        (ec = build_request(r, tpk, &built)) != TERM_EXIT_OK) {
        OPENSSL_cleanse(tpk, sizeof tpk);
        targs_wipe(a);
        return ec;
    }
    OPENSSL_cleanse(tpk, sizeof tpk);
    kc_txn_envelope(&built, &req);
    st = link_call(&r->link, &req, a->timeout_ms, &rep);
    kc_txn_req_wipe(&built);

    switch (st) {
    case LINK_OK: break;
    case LINK_LOST: return money ? auto_reverse(r, r->link.why) : peer_failure(r, r->link.why);
    case LINK_INTERNAL: say(r, "cannot send the request: %s", r->link.why);
        return TERM_EXIT_INTERNAL;
    case LINK_REFUSED:
    case LINK_UNREACHABLE:
    default: return peer_failure(r, r->link.why);
    }
    if (rep->body_case != KKS__ENVELOPE__BODY_TXN_REPLY || !rep->txn_reply) {
        if (money && rep->body_case != KKS__ENVELOPE__BODY_ERROR) {
            kks__envelope__free_unpacked(rep, NULL);
            return auto_reverse(r, "unexpected reply");
        }
        ec = error_reply(r, rep);
        kks__envelope__free_unpacked(rep, NULL);
        return ec;
    }
    t = rep->txn_reply;
    if (t->stan && t->stan != a->stan) {
        kks__envelope__free_unpacked(rep, NULL);
        if (money)
            return auto_reverse(r, "the reply is for another STAN");
        return peer_failure(r, "the reply is for another STAN");
    }

    ec = t->rc && strcmp(t->rc, KKS_RC_APPROVED) == 0 ? TERM_EXIT_OK : TERM_EXIT_DECLINED;
    snprintf(e.date, sizeof e.date, "%s", a->date);
    e.stan = a->stan;
    snprintf(e.type, sizeof e.type, "%s", r->rc.type);
    snprintf(e.rc, sizeof e.rc, "%s", t->rc && strlen(t->rc) == 2 ? t->rc : "??");
    e.amount = ec == TERM_EXIT_OK ? t->amount : (a->cmd == TERM_CMD_WITHDRAW ? a->amount : 0);
    snprintf(e.rrn, sizeof e.rrn, "%s", t->rrn ? t->rrn : "");
    if (journal_format(&e, line, sizeof line) < 0)
        snprintf(e.rrn, sizeof e.rrn, "?"); /* an RRN that would break the CSV line */
    if (journal_record(a->state, a->id, &e) < 0) {
        say(r, "the switch answered but the journal in %s cannot be written", a->state);
        ec = TERM_EXIT_INTERNAL;
    }
    if ((r->printed = a->json))
        receipt_txn_json(r->env->out, &r->rc, t);
    else
        receipt_txn(r->env->out, &r->rc, t);
    kks__envelope__free_unpacked(rep, NULL);
    return ec;
}

static int do_reverse(run *r)
{
    Kks__ReversalRequest rev = KKS__REVERSAL_REQUEST__INIT;
    Kks__Envelope req = KKS__ENVELOPE__INIT, *rep = NULL;
    journal_entry orig;
    const char *rrn = NULL;
    int ec, found;

    if ((ec = load_credentials(r)) != TERM_EXIT_OK)
        return ec;
    rev.terminal = r->a->id;
    rev.stan = r->a->stan;
    rev.local_date = r->a->date;
    req.body_case = KKS__ENVELOPE__BODY_REVERSAL;
    req.reversal = &rev;
    if ((ec = call_for(r, &req, KKS__ENVELOPE__BODY_REVERSAL_REPLY, &rep)) != TERM_EXIT_OK)
        return ec;
    ec = rep->reversal_reply->rc && strcmp(rep->reversal_reply->rc, KKS_RC_APPROVED) == 0
             ? TERM_EXIT_OK
             : TERM_EXIT_DECLINED;
    if (journal_find(r->a->state, r->a->id, r->a->date, r->a->stan, &orig) == 1 && orig.rrn[0])
        rrn = orig.rrn;
    if (ec == TERM_EXIT_OK &&
        journal_mark_reversed(r->a->state, r->a->id, r->a->date, r->a->stan, &found) < 0) {
        say(r, "reversal acknowledged but the journal in %s cannot be written", r->a->state);
        ec = TERM_EXIT_INTERNAL;
    }
    if ((r->printed = r->a->json))
        receipt_reversal_json(r->env->out, &r->rc, rep->reversal_reply, rrn);
    else
        receipt_reversal(r->env->out, &r->rc, rep->reversal_reply, rrn);
    kks__envelope__free_unpacked(rep, NULL);
    return ec;
}

static int do_settle(run *r)
{
    Kks__TerminalSettleRequest ts = KKS__TERMINAL_SETTLE_REQUEST__INIT;
    Kks__Envelope req = KKS__ENVELOPE__INIT, *rep = NULL;
    const Kks__TerminalSettleReply *t;
    uint32_t count;
    int64_t total;
    int ec;

    if (journal_totals(r->a->state, r->a->id, r->a->date, &count, &total) < 0) {
        say(r, "cannot add up the journal in %s", r->a->state);
        return TERM_EXIT_INTERNAL;
    }
    if ((ec = load_credentials(r)) != TERM_EXIT_OK)
        return ec;
    ts.terminal = r->a->id;
    ts.date = r->a->date;
    ts.count = count;
    ts.total = total;
    req.body_case = KKS__ENVELOPE__BODY_TERMINAL_SETTLE;
    req.terminal_settle = &ts;
    if ((ec = call_for(r, &req, KKS__ENVELOPE__BODY_TERMINAL_SETTLE_REPLY, &rep)) != TERM_EXIT_OK)
        return ec;
    t = rep->terminal_settle_reply;
    ec = t->rc && strcmp(t->rc, KKS_RC_APPROVED) == 0 && t->match ? TERM_EXIT_OK
                                                                  : TERM_EXIT_DECLINED;
    if ((r->printed = r->a->json))
        receipt_settle_json(r->env->out, &r->rc, count, total, t);
    else
        receipt_settle(r->env->out, &r->rc, count, total, t);
    kks__envelope__free_unpacked(rep, NULL);
    return ec;
}

int term_cli(const term_env *env, int argc, char **argv)
{
    term_args a;
    run r = {.env = env, .a = &a};
    char why[256];
    int ec = targs_parse(&a, argc, argv, &env->defaults, why, sizeof why);

    if (ec != TERM_EXIT_OK) {
        fprintf(env->err, "kks-terminal: %s\n", why);
        fprintf(env->err, "Try 'kks-terminal%s%s --help'.\n", a.cmd ? " " : "",
                targs_cmd_name(a.cmd));
        if (a.json)
            kks_cli_error_json(env->out, why, ec);
        return ec;
    }
    if (a.help) {
        fputs(targs_usage(a.cmd), env->out);
        targs_wipe(&a);
        return TERM_EXIT_OK;
    }
    if (a.version) {
        targs_wipe(&a);
        return kks_version_print(env->out, "kks-terminal");
    }
    r.rc.lang = a.lang;
    r.rc.terminal = a.id;
    r.rc.date = a.date;
    r.rc.now = env->defaults.now;
    r.rc.type = a.cmd == TERM_CMD_REVERSE ? "reversal"
                : a.cmd == TERM_CMD_SETTLE ? "settle"
                                           : targs_txn_type(a.cmd);
    r.rc.pan = a.pan;
    r.rc.stan = a.stan;
    r.rc.amount = a.amount;
    r.rc.wallet = a.wallet;

    if (a.cmd == TERM_CMD_REVERSE)
        ec = do_reverse(&r);
    else if (a.cmd == TERM_CMD_SETTLE)
        ec = do_settle(&r);
    else
        ec = do_txn(&r);
    targs_wipe(&a);
    if (ec != TERM_EXIT_OK && a.json && !r.printed) /* failed before the switch answered */
        receipt_error_json(env->out, &r.rc, r.said[0] ? r.said : kks_cli_exit_name(ec), ec);
    if (r.link_open)
        link_close(&r.link);
    SSL_CTX_free(r.ctx);
    fflush(env->out);
    return ec;
}
