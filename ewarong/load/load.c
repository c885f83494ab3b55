/* kks-terminal load: terminals on one loop against a switch.
 *
 * Phases: prepare (cards; terminal certificates; connections), probe (the
 * switch's business date), activate (new cards, PINs from ld_pin), hold (idle
 * connections, --hold), warm-up, measure, drain (answers still due).
 *
 * Open model (--rate R): request k is due at t0 + k/R. A tick every
 * millisecond starts every due request on a free terminal; a terminal that
 * becomes free starts the oldest due request at once. Latency runs from the
 * due time, so a stall of the switch shows in full (no coordinated
 * omission). A request that found a free terminal but started late was late
 * because of this program (its loop or CPU): those are counted apart, and a
 * run with many says the generator fell behind instead of blaming the switch.
 * Closed model (--closed): each terminal sends its next request when the last
 * is answered; latency from the send.
 *
 * Everything runs on one libuv loop: no locks. */
#define _GNU_SOURCE
#include "load.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "kr_hist.h"
#include "kc_txn.h"
#include "kks_cli.h"
#include "kks_err.h"
#include "kks_json.h"
#include "kks_log.h"
#include "kks_net.h"
#include "kks_pki.h"
#include "kks_rc.h"
#include "kks_seeds.h"
#include "kks_tls.h"
#include "report.h"
#include "terminal.h"

#define NS 1000000000ull
#define MS 1000000ull
#define LATE_NS (1 * MS)        /* a start this much after its due time is late */
#define BEHIND_NS (10 * MS)     /* ... and this much, the generator's own fault */
#define TXN_TIMEOUT_MS 10000    /* a request unanswered this long is a transport error */
#define DRAIN_NS (10ull * NS)   /* after the run: answers still due, at most this long */
#define FD_SPARE 256            /* descriptors beyond the terminals: files, world, logs */
#define HOLD_WAVE 200           /* connections opened at a time (under the switch's 256 handshakes per address) */

enum ld_type { T_PURCHASE, T_WITHDRAW, T_BALANCE, T_STATEMENT, T__COUNT };
static const char *const type_names[T__COUNT] = {"purchase", "withdraw", "balance", "statement"};
/* BPNT items from the catalogue: one per purchase */
static const char *const items[] = {"BRS-MED-1KG", "TLR-1KG", "TMP-500G",
                                    "TAH-10",      "SYR-BYM", "JGN-1KG"};

typedef struct ld_opts {
    int terminals, hold, closed, json, fresh;
    int card_withdrawals; /* per card per business day, as the switch's policy allows */
    size_t cards;
    double rate, duration, warmup, max_p99_ms, min_rate;
    long long max_errors; /* -1: no threshold */
    int mix[T__COUNT];    /* percent */
    char mix_text[128];
    const char *report, *state, *sw, *issuer, *pki;
    const char *seeds; /* the embedded world's; NULL: kks_seeds_default() */
} ld_opts;

struct gen;

typedef struct lterm {
    struct gen *g;
    char id[24];
    SSL_CTX *ctx;
    kks_client *cl;
    uint8_t tpk[16];
    uint32_t stan;
    int busy;
    int failed_now; /* its request could not be sent (failed_now, on_reply) */
    uint64_t due, sent; /* ns: when the request was due, when it left */
    struct lterm *next_free;
    size_t act_next, act_end; /* activation: the cards this terminal activates */
} lterm;

typedef struct gen {
    uv_loop_t *loop;
    ld_opts o;
    ld_cards cards;
    char (*pins)[7];
    size_t *pkh, npkh, *bpnt, nbpnt; /* indices of the cards in each programme */
    uint8_t *wd;                     /* withdrawals today per card (counted from DIR/withdrawals) */
    size_t pkh_live;                 /* g->pkh[0..pkh_live) may still withdraw today */
    uint64_t wd_swapped;             /* withdrawals made balance inquiries: every card at its count */
    lterm *t, *held;
    int nt, nheld, sample;
    lterm *free;
    char date[11];
    uint64_t rnd;
    int phase; /* 0 activation, 1 run, 2 drain, 3 done */
    int stop;  /* SIGINT: end the run early */
    /* schedule */
    uint64_t t0, tm, tend, period, k;
    uv_timer_t tick;
    /* activation */
    size_t act_done, act_ok, act_left;
    /* measurement (requests due in [tm, tend)) */
    kr_hist all, sec;
    kl_second *secs;
    size_t nsecs, capsecs;
    uint64_t codes[100], errors, answered, approved, sent, warm, inflight;
    uint64_t late_gen, late_gen10, late_gen_max, waited_term, never;
    double cpu0, cpu1, wall;
    char first_error[200];
} gen;

static uint64_t rnd(gen *g)
{
    g->rnd ^= g->rnd << 13;
    g->rnd ^= g->rnd >> 7;
    g->rnd ^= g->rnd << 17;
    return g->rnd;
}

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- the command line ---- */

static int usage(FILE *f, int rc)
{
    fputs("usage: kks-terminal load (--rate R | --closed) [--duration S] [--warmup S]\n"
          "         [--terminals N] [--cards N] [--mix purchase=50,withdraw=30,balance=20]\n"
          "         [--hold N] [--json] [--report FILE.html] [--state DIR] [--fresh-cards]\n"
          "         [--max-p99 MS] [--min-rate R] [--max-errors N]\n"
          "         [--switch HOST:PORT --issuer HOST:PORT --pki DIR] [--seeds DIR]\n"
          "  --rate R      open model: R requests/s on a fixed schedule; latency from the due time\n"
          "  --closed      each terminal sends its next request when the last is answered\n"
          "  --duration S  measured seconds (default 30), after --warmup S (default 2)\n"
          "  --terminals N terminals, each with its own certificate and connection (default 64)\n"
          "  --cards N     cards to use (default 2000); prepared and activated on first use,\n"
          "                remembered in --state (default $XDG_STATE_HOME/kks/load, else\n"
          "                ~/.local/state/kks/load) for the next run on the same switch\n"
          "  --mix         purchase, withdraw, balance, statement: percentages summing to 100\n"
          "  --hold N      also open N idle terminal connections and report the switch's memory\n"
          "  --card-withdrawals N  cash withdrawals per card per business day (default 3, the\n"
          "                switch's daily_withdraw_count): a card at it is not used for more\n"
          "  --max-p99 MS, --min-rate R (approved/s), --max-errors N: exit 1 when broken\n"
          "  Without --switch it starts a private issuer and switch (the embedded world),\n"
          "  reading --seeds DIR (default $KKS_SEEDS, else the installed share/kks/seeds,\n"
          "  else the source tree's).\n"
          "  --version     the version and the default seeds directory\n"
          "  Exit: 0 done, 1 a threshold broke, 2 usage, 3 the switch could not be reached,\n"
          "  4 internal error.\n",
          f);
    return rc;
}

/* The first error said, for the error object of --json (kks_cli.h). */
static char ld_said[400];

__attribute__((format(printf, 1, 2))) static void ld_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kks_cli_keep(ld_said, sizeof ld_said, "kks-terminal load: ", fmt, ap);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

static int parse_mix(const char *s, int mix[T__COUNT], char *why, size_t cap)
{
    char buf[128];
    int sum = 0;
    memset(mix, 0, sizeof(int) * T__COUNT);
    if (strlen(s) >= sizeof buf) {
        snprintf(why, cap, "--mix is too long");
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        int k;
        if (!eq) {
            snprintf(why, cap, "--mix: '%.30s' is not NAME=PERCENT", tok);
            return -1;
        }
        *eq = '\0';
        for (k = 0; k < T__COUNT && strcmp(tok, type_names[k]) != 0; k++)
            ;
        if (k == T__COUNT) {
            snprintf(why, cap, "--mix: unknown transaction '%.30s' (purchase, withdraw, balance, "
                               "statement)", tok);
            return -1;
        }
        char *end;
        long v = strtol(eq + 1, &end, 10);
        if (*end || end == eq + 1 || v < 0 || v > 100) {
            snprintf(why, cap, "--mix: %s=%.10s is not a percentage 0..100", tok, eq + 1);
            return -1;
        }
        mix[k] += (int)v;
        sum += (int)v;
    }
    if (sum != 100) {
        snprintf(why, cap, "--mix sums to %d, not 100", sum);
        return -1;
    }
    return 0;
}

static int num(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || *end || end == v || !(d >= lo && d <= hi)) {
        ld_say("kks-terminal load: %s must be a number from %g to %g, not '%.20s'\n", opt,
                lo, hi, v);
        return -1;
    }
    *out = d;
    return 0;
}

static int parse_opts(int argc, char **argv, ld_opts *o)
{
    double d;
    char why[200];
    memset(o, 0, sizeof *o);
    o->terminals = 64;
    o->cards = 2000;
    o->card_withdrawals = 3;
    o->duration = 30;
    o->warmup = 2;
    o->max_errors = -1;
    o->max_p99_ms = -1;
    o->min_rate = -1;
    snprintf(o->mix_text, sizeof o->mix_text, "purchase=50,withdraw=30,balance=20");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "load") == 0)
            continue;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return usage(stdout, 0) - 1; /* -1: stop, exit 0 */
        if (strcmp(a, "--version") == 0)
            return kks_version_print(stdout, "kks-terminal") - 1;
        if (strcmp(a, "--closed") == 0) {
            o->closed = 1;
            continue;
        }
        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        }
        if (strcmp(a, "--fresh-cards") == 0) {
            o->fresh = 1;
            continue;
        }
        if (!v) {
            ld_say("kks-terminal load: %s needs a value (or is unknown)\n", a);
            return TERM_EXIT_USAGE;
        }
        i++;
        if (strcmp(a, "--rate") == 0) {
            if (num(a, v, 0.001, 10000000, &o->rate) < 0)
                return TERM_EXIT_USAGE;
        } else if (strcmp(a, "--duration") == 0) {
            if (num(a, v, 1, 86400, &o->duration) < 0)
                return TERM_EXIT_USAGE;
        } else if (strcmp(a, "--warmup") == 0) {
            if (num(a, v, 0, 3600, &o->warmup) < 0)
                return TERM_EXIT_USAGE;
        } else if (strcmp(a, "--terminals") == 0) {
            if (num(a, v, 1, 100000, &d) < 0)
                return TERM_EXIT_USAGE;
            o->terminals = (int)d;
        } else if (strcmp(a, "--cards") == 0) {
            if (num(a, v, 1, 1000000, &d) < 0)
                return TERM_EXIT_USAGE;
            o->cards = (size_t)d;
        } else if (strcmp(a, "--card-withdrawals") == 0) {
            if (num(a, v, 1, 255, &d) < 0)
                return TERM_EXIT_USAGE;
            o->card_withdrawals = (int)d;
        } else if (strcmp(a, "--hold") == 0) {
            if (num(a, v, 0, 1000000, &d) < 0)
                return TERM_EXIT_USAGE;
            o->hold = (int)d;
        } else if (strcmp(a, "--mix") == 0) {
            if (parse_mix(v, o->mix, why, sizeof why) < 0) {
                ld_say("kks-terminal load: %s\n", why);
                return TERM_EXIT_USAGE;
            }
            snprintf(o->mix_text, sizeof o->mix_text, "%s", v);
        } else if (strcmp(a, "--max-p99") == 0) {
            if (num(a, v, 0.001, 3600000, &o->max_p99_ms) < 0)
                return TERM_EXIT_USAGE;
        } else if (strcmp(a, "--min-rate") == 0) {
            if (num(a, v, 0, 100000000, &o->min_rate) < 0)
                return TERM_EXIT_USAGE;
        } else if (strcmp(a, "--max-errors") == 0) {
            if (num(a, v, 0, 1e15, &d) < 0)
                return TERM_EXIT_USAGE;
            o->max_errors = (long long)d;
        } else if (strcmp(a, "--report") == 0)
            o->report = v;
        else if (strcmp(a, "--state") == 0)
            o->state = v;
        else if (strcmp(a, "--switch") == 0)
            o->sw = v;
        else if (strcmp(a, "--issuer") == 0)
            o->issuer = v;
        else if (strcmp(a, "--pki") == 0)
            o->pki = v;
        else if (strcmp(a, "--seeds") == 0)
            o->seeds = v;
        else {
            ld_say("kks-terminal load: unknown option %s\n", a);
            return TERM_EXIT_USAGE;
        }
    }
    if (!o->mix[0] && !o->mix[1] && !o->mix[2] && !o->mix[3])
        parse_mix(o->mix_text, o->mix, why, sizeof why);
    if ((o->rate > 0) == o->closed) {
        ld_say("kks-terminal load: give either --rate R (open model) or --closed\n");
        return TERM_EXIT_USAGE;
    }
    if ((o->sw || o->issuer || o->pki) && !(o->sw && o->issuer && o->pki)) {
        ld_say("kks-terminal load: --switch, --issuer and --pki go together (the cards "
                        "are prepared at the issuer)\n");
        return TERM_EXIT_USAGE;
    }
    return 0;
}

/* Raises the descriptor limit for the terminals (and the embedded switch,
 * which inherits it): the soft limit up to the hard one, and the hard one
 * too when this process may. 0, or -1 saying what is possible. */
static int fd_budget(const ld_opts *o)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)o->terminals + (rlim_t)o->hold + FD_SPARE;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 0;
    if (rl.rlim_cur >= want)
        return 0;
    if (rl.rlim_max < want) {
        struct rlimit up = {want, want};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            return 0;
    }
    rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur >= want)
        return 0;
    long room = (long)rl.rlim_cur - FD_SPARE;
    fprintf(stderr,
            "kks-terminal load: %d terminals and %d held connections need %llu file descriptors; "
            "the limit here is %llu (hard), so at most %ld in all. Raise it (ulimit -n, or "
            "LimitNOFILE) or ask for fewer.\n",
            o->terminals, o->hold, (unsigned long long)want, (unsigned long long)rl.rlim_max,
            room > 0 ? room : 0);
    return -1;
}

/* ---- terminals ---- */

/* The certificates of the terminals that have none yet, made in one batch.
 * Returns how many were made, or -1. */
static int make_certs(const char *pki, const lterm *t, int n)
{
    const char **ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    int k = 0;
    if (!ids)
        return -1;
    for (int i = 0; i < n; i++) {
        char crt[1200];
        snprintf(crt, sizeof crt, "%s/terminals/%s.crt", pki, t[i].id);
        if (access(crt, R_OK) < 0)
            ids[k++] = t[i].id;
    }
    int rc = k ? kks_pki_terminals(pki, ids, (size_t)k) : 0;
    free(ids);
    if (rc < 0) {
        ld_say("kks-terminal load: cannot make terminal certificates in %s: %s\n", pki,
                kks_strerror(rc));
        return -1;
    }
    return k;
}

static int term_open(gen *g, lterm *t, const char *pki, const char *sw, char *why, size_t cap)
{
    char name[64], crt[1200];
    kks_client_opts co = {.expect_role = KKS_ROLE_SWITCH, .reconnect = 1, .handshake_ms = 60000};
    t->g = g;
    snprintf(crt, sizeof crt, "%s/terminals/%s.crt", pki, t->id);
    if (access(crt, R_OK) < 0) {
        snprintf(why, cap, "no certificate for %s in %s", t->id, pki);
        return -1;
    }
    snprintf(name, sizeof name, "terminals/%s", t->id);
    if (kks_tls_ctx_from_pki(&t->ctx, 0, pki, name) < 0 || kc_tpk_load(pki, t->id, t->tpk) < 0 ||
        kks_client_new(g->loop, t->ctx, sw, &co, &t->cl) < 0) {
        snprintf(why, cap, "terminal %s: no credentials in %s", t->id, pki);
        return -1;
    }
    return 0;
}

static void term_close(lterm *t)
{
    kks_client_free(t->cl);
    t->cl = NULL;
}

static void term_free_ctx(lterm *t)
{
    if (t->ctx)
        SSL_CTX_free(t->ctx);
    t->ctx = NULL;
    OPENSSL_cleanse(t->tpk, sizeof t->tpk);
}

/* ---- measurement ---- */

static void sec_finish(gen *g, kl_second *s)
{
    s->p50 = kr_hist_quantile(&g->sec, 0.5);
    s->p90 = kr_hist_quantile(&g->sec, 0.9);
    s->p99 = kr_hist_quantile(&g->sec, 0.99);
    s->p999 = kr_hist_quantile(&g->sec, 0.999);
    s->max = g->sec.total ? g->sec.max : 0;
    kr_hist_init(&g->sec);
}

/* The second (counted from the start of the measured part) that now falls
 * in; the seconds before it are closed, those without answers too. */
static kl_second *second_at(gen *g, uint64_t now)
{
    uint64_t idx = now > g->tm ? (now - g->tm) / NS : 0, last = (g->tend - g->tm + NS - 1) / NS;
    if (idx >= last) /* answers after the end: the last second's */
        idx = last ? last - 1 : 0;
    while (g->nsecs <= idx) {
        if (g->nsecs)
            sec_finish(g, &g->secs[g->nsecs - 1]);
        if (g->nsecs == g->capsecs) {
            size_t nc = g->capsecs ? g->capsecs * 2 : 64;
            kl_second *v = realloc(g->secs, nc * sizeof *v);
            if (!v)
                return NULL;
            g->secs = v;
            g->capsecs = nc;
        }
        memset(&g->secs[g->nsecs], 0, sizeof g->secs[0]);
        g->nsecs++;
    }
    return &g->secs[g->nsecs - 1];
}

static void record(gen *g, lterm *t, int status, const char *rc, uint64_t now)
{
    if (t->due < g->tm) {
        g->warm++;
        return;
    }
    kl_second *s = second_at(g, now);
    if (!s)
        return;
    if (status < 0) {
        g->errors++;
        s->errors++;
        return;
    }
    uint64_t lat = now - t->due;
    int code = rc && rc[0] >= '0' && rc[0] <= '9' && rc[1] >= '0' && rc[1] <= '9' && !rc[2]
                   ? (rc[0] - '0') * 10 + (rc[1] - '0')
                   : 96;
    g->answered++;
    s->answered++;
    g->codes[code]++;
    s->codes[code]++;
    if (code == 0) {
        g->approved++;
        s->approved++;
    }
    kr_hist_add(&g->all, lat);
    kr_hist_add(&g->sec, lat);
    if (t->sent - t->due > LATE_NS)
        s->behind++;
}

/* ---- requests ---- */

static void send_one(gen *g, lterm *t, uint64_t due);

static lterm *pop_free(gen *g)
{
    lterm *t = g->free;
    if (t)
        g->free = t->next_free;
    return t;
}

static void push_free(gen *g, lterm *t)
{
    t->next_free = g->free;
    g->free = t;
}

/* The open model's due requests, started on free terminals. */
static void start_due(gen *g, uint64_t now)
{
    while (!g->stop && g->t0 + g->k * g->period <= now && g->t0 + g->k * g->period < g->tend) {
        lterm *t = pop_free(g);
        if (!t)
            return;
        uint64_t due = g->t0 + g->k * g->period;
        g->k++;
        if (now - due > LATE_NS) {
            g->late_gen++;
            g->late_gen10 += now - due > BEHIND_NS;
            if (now - due > g->late_gen_max)
                g->late_gen_max = now - due;
        }
        send_one(g, t, due);
    }
}

static void on_reply(int status, const Kks__Envelope *rep, void *ud)
{
    lterm *t = ud;
    gen *g = t->g;
    uint64_t now = uv_hrtime();
    const char *rc = NULL;
    if (status == 0 && rep->body_case == KKS__ENVELOPE__BODY_TXN_REPLY)
        rc = rep->txn_reply->rc;
    else if (status == 0)
        status = KKS_EPROTO;
    if (status < 0 && !g->first_error[0])
        snprintf(g->first_error, sizeof g->first_error, "%s: %s", t->id,
                 rep && rep->body_case == KKS__ENVELOPE__BODY_ERROR && rep->error->message
                     ? rep->error->message
                     : kks_strerror(status));
    t->busy = 0;
    g->inflight--;
    if (g->phase == 0) { /* activation */
        g->act_done++;
        g->act_left--;
        if (rc && strcmp(rc, "00") == 0)
            g->act_ok++;
        else if (!g->first_error[0])
            snprintf(g->first_error, sizeof g->first_error, "activation of a card: %s",
                     rc ? rc : kks_strerror(status));
        if (t->failed_now) { /* the rest of its cards fail too, not one call nested each */
            size_t left = t->act_end - t->act_next;
            g->act_done += left;
            g->act_left -= left;
            t->act_next = t->act_end;
        } else if (t->act_next < t->act_end)
            send_one(g, t, now);
        return;
    }
    record(g, t, status, rc, now);
    if (t->failed_now) /* see failed_now: the terminal takes no more requests */
        return;
    if (g->stop) {
        push_free(g, t);
        return;
    }
    if (g->o.closed) {
        if (now < g->tend)
            send_one(g, t, now);
        else
            push_free(g, t);
        return;
    }
    /* open: the oldest due request goes at once on this terminal */
    uint64_t due = g->t0 + g->k * g->period;
    if (due <= now && due < g->tend) {
        g->k++;
        if (now - due > LATE_NS)
            g->waited_term++;
        send_one(g, t, due);
    } else
        push_free(g, t);
}

/* A request that could not be sent: counted as its reply would be, but the
 * terminal's next request is not started from here. From on_reply it was, and
 * each failure nested a call: a connection gone down under a 10 s backlog of
 * due requests (the open model on an overloaded machine) overflowed the stack.
 * The terminal is not used again: its connection refused the request (it is
 * going down, and nothing reconnects it), or the request could not be built.
 * The open model's ticker starts what is due on the terminals left; what none
 * could start is reported unsent. */
static void failed_now(lterm *t, int status)
{
    t->failed_now = 1;
    on_reply(status, NULL, t);
    t->failed_now = 0;
}

static size_t pick(gen *g, const size_t *set, size_t n)
{
    return n ? set[rnd(g) % n] : (size_t)(rnd(g) % g->cards.n);
}

static void send_one(gen *g, lterm *t, uint64_t due)
{
    kc_txn x = {.terminal = t->id, .local_date = g->date, .wallet = ""};
    kc_txn_req req;
    Kks__Envelope env;
    size_t ci;
    if (g->phase == 0) {
        ci = t->act_next++;
        x.type = "activate";
        x.nik = g->cards.v[ci].nik;
    } else {
        unsigned r = (unsigned)(rnd(g) % 100), acc = 0;
        int type = T__COUNT - 1;
        for (int k = 0; k < T__COUNT; k++) {
            acc += (unsigned)g->o.mix[k];
            if (r < acc) {
                type = k;
                break;
            }
        }
        if (type == T_WITHDRAW && g->pkh_live == 0) {
            g->wd_swapped++; /* no card may withdraw again today: a balance inquiry instead */
            type = T_BALANCE;
        }
        x.type = type_names[type];
        if (type == T_PURCHASE) {
            ci = pick(g, g->bpnt, g->nbpnt);
            snprintf(x.items[0].sku, sizeof x.items[0].sku, "%s",
                     items[rnd(g) % (sizeof items / sizeof items[0])]);
            x.items[0].qty = 1;
            x.n_items = 1;
        } else if (type == T_WITHDRAW) {
            /* a card that may still withdraw today; one at its count leaves the set */
            size_t k = (size_t)(rnd(g) % g->pkh_live);
            ci = g->pkh[k];
            if (++g->wd[ci] >= g->o.card_withdrawals) {
                g->pkh[k] = g->pkh[--g->pkh_live];
                g->pkh[g->pkh_live] = ci;
            }
            x.amount = 50000;
            x.wallet = "pkh";
        } else
            ci = (size_t)(rnd(g) % g->cards.n);
    }
    x.pan = g->cards.v[ci].pan;
    memcpy(x.pin, g->pins[ci], 7);
    if (++t->stan > 999999)
        t->stan = 1;
    x.stan = t->stan;
    t->due = due;
    t->busy = 1;
    g->inflight++;
    g->sent++;
    if (kc_txn_build(&x, t->tpk, &req) < 0) {
        kc_txn_wipe(&x);
        t->sent = uv_hrtime();
        failed_now(t, KKS_EINVAL);
        return;
    }
    kc_txn_wipe(&x);
    kc_txn_envelope(&req, &env);
    t->sent = uv_hrtime();
    int rc = kks_client_call(t->cl, &env, TXN_TIMEOUT_MS, on_reply, t);
    kc_txn_req_wipe(&req);
    if (rc < 0)
        failed_now(t, rc);
}

static void on_tick(uv_timer_t *h)
{
    gen *g = h->data;
    start_due(g, uv_hrtime());
}

static void on_sigint(uv_signal_t *h, int sig)
{
    gen *g = h->data;
    (void)sig;
    g->stop = 1;
}

/* Runs the loop until cond(g) or the deadline (ns, absolute). */
static int run_until(gen *g, int (*cond)(gen *), uint64_t deadline)
{
    while (!cond(g) && uv_hrtime() < deadline)
        uv_run(g->loop, UV_RUN_ONCE);
    return cond(g);
}

static int act_done(gen *g)
{
    return g->act_left == 0;
}

static int nothing_inflight(gen *g)
{
    return g->inflight == 0;
}

static int past_end(gen *g)
{
    return g->stop || uv_hrtime() >= g->tend;
}

static int sample_has_tickets(gen *g)
{
    for (int i = 0; i < g->sample; i++)
        if (g->held[i].cl && !kks_client_has_session(g->held[i].cl))
            return 0;
    return 1;
}

static int held_up(gen *g)
{
    for (int i = 0; i < g->nheld; i++)
        if (g->held[i].cl && !kks_client_is_up(g->held[i].cl))
            return 0;
    return 1;
}

/* The switch's business date, from its answer to a balance inquiry (any
 * answer carries it). 0, or -1 when the switch does not answer. */
static int probe(gen *g, char *why, size_t cap)
{
    lterm *t = &g->t[0];
    Kks__Envelope env, *rep = NULL;
    kc_txn x = {.terminal = t->id, .local_date = g->date, .wallet = "", .type = "balance",
                .pan = g->cards.v[0].pan};
    kc_txn_req req;
    memcpy(x.pin, g->pins[0], 7);
    x.stan = ++t->stan;
    if (kc_txn_build(&x, t->tpk, &req) < 0) {
        snprintf(why, cap, "cannot build a request");
        return -1;
    }
    kc_txn_wipe(&x);
    kc_txn_envelope(&req, &env);
    int rc = kks_client_call_wait(t->cl, &env, 30000, &rep);
    kc_txn_req_wipe(&req);
    if (rc < 0 || rep->body_case != KKS__ENVELOPE__BODY_TXN_REPLY) {
        snprintf(why, cap, "the switch %s did not answer: %s", kks_client_address(t->cl),
                 rc < 0 ? (*kks_client_last_error(t->cl) ? kks_client_last_error(t->cl)
                                                         : kks_strerror(rc))
                        : "an unexpected reply");
        if (rep)
            kks__envelope__free_unpacked(rep, NULL);
        return -1;
    }
    const char *bd = rep->txn_reply->business_date;
    if (bd && strlen(bd) == 10)
        memcpy(g->date, bd, 11);
    kks__envelope__free_unpacked(rep, NULL);
    return 0;
}

/* ---- the switch's memory (the embedded world's, from /proc) ---- */

static long rss_kib(int pid)
{
    char path[64], line[256];
    long v = -1;
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &v) == 1)
            break;
    fclose(f);
    return v;
}

/* ---- results ---- */

static const char *code_text(int code)
{
    char rc[3] = {(char)('0' + code / 10), (char)('0' + code % 10), 0};
    const char *t = kks_rc_meaning(rc);
    return t ? t : "";
}

typedef struct verdict {
    char text[3][160];
    int n, broken;
} verdict;

static void thresholds(const gen *g, double secs, verdict *v)
{
    double p99 = (double)kr_hist_quantile(&g->all, 0.99) / 1e6;
    double rate = secs > 0 ? (double)g->approved / secs : 0;
    memset(v, 0, sizeof *v);
    if (g->o.max_p99_ms >= 0) {
        int ok = p99 <= g->o.max_p99_ms;
        snprintf(v->text[v->n++], 160, "p99 <= %g ms: %s (%.2f ms)", g->o.max_p99_ms,
                 ok ? "ok" : "BROKEN", p99);
        v->broken += !ok;
    }
    if (g->o.min_rate >= 0) {
        int ok = rate >= g->o.min_rate;
        snprintf(v->text[v->n++], 160, "approved >= %g/s: %s (%.1f/s)", g->o.min_rate,
                 ok ? "ok" : "BROKEN", rate);
        v->broken += !ok;
    }
    if (g->o.max_errors >= 0) {
        uint64_t e = g->errors + g->never;
        int ok = e <= (uint64_t)g->o.max_errors;
        snprintf(v->text[v->n++], 160, "transport errors <= %lld: %s (%" PRIu64 ")",
                 g->o.max_errors, ok ? "ok" : "BROKEN", e);
        v->broken += !ok;
    }
}

static int fell_behind(const gen *g)
{
    uint64_t n = g->answered + g->errors;
    /* more than 1% of the requests started over 10 ms late with a terminal
     * free, or the loop's thread busy all the time */
    return g->late_gen10 > n / 100 || (g->wall > 0 && (g->cpu1 - g->cpu0) / g->wall > 0.95);
}

static void ms_str(uint64_t ns, char *out, size_t cap)
{
    snprintf(out, cap, "%.3f", (double)ns / 1e6);
}

typedef struct holdres {
    int asked, up, certs_made, reconnects, resumed, with_ticket;
    double cert_secs;
    long rss_before, rss_after;
    double secs;
} holdres;

static json_t *result_json(const gen *g, double secs, const holdres *h, const verdict *v,
                           const char *world)
{
    json_t *codes = json_object(), *lat = json_object(), *th = json_array();
    for (int k = 0; k < 100; k++)
        if (g->codes[k]) {
            char rc[3] = {(char)('0' + k / 10), (char)('0' + k % 10), 0};
            json_object_set_new(codes, rc, json_integer((json_int_t)g->codes[k]));
        }
    static const struct {
        const char *name;
        double q;
    } qs[] = {{"p50", .5}, {"p90", .9}, {"p99", .99}, {"p99_9", .999}, {"max", 1}};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
        json_object_set_new(lat, qs[i].name,
                            json_real((double)kr_hist_quantile(&g->all, qs[i].q) / 1e6));
    json_object_set_new(lat, "mean", json_real(g->all.total ? g->all.sum / (double)g->all.total / 1e6
                                                            : 0.0));
    for (int i = 0; i < v->n; i++)
        json_array_append_new(th, json_string(v->text[i]));
    json_t *j = json_pack(
        "{s:s,s:s,s:i,s:i,s:s,s:f,s:f,s:f,s:I,s:I,s:I,s:I,s:f,s:f,s:o,s:o,s:I,s:I}", "switch",
        world, "model", g->o.closed ? "closed" : "open", "terminals", g->nt, "cards",
        (int)g->cards.n, "mix", g->o.mix_text, "rate_target", g->o.rate, "duration_s", secs,
        "warmup_s", g->o.warmup, "sent", (json_int_t)g->sent, "answered",
        (json_int_t)g->answered, "approved", (json_int_t)g->approved, "transport_errors",
        (json_int_t)(g->errors + g->never), "answered_per_s",
        secs > 0 ? (double)g->answered / secs : 0.0, "approved_per_s",
        secs > 0 ? (double)g->approved / secs : 0.0, "latency_ms", lat, "codes", codes,
        "late_starts_generator", (json_int_t)g->late_gen, "late_starts_waiting_terminal",
        (json_int_t)g->waited_term);
    json_object_set_new(j, "generator_cpu",
                        json_real(g->wall > 0 ? (g->cpu1 - g->cpu0) / g->wall : 0.0));
    json_object_set_new(j, "generator_fell_behind", json_boolean(fell_behind(g)));
    json_object_set_new(j, "withdrawals_made_balance", json_integer((json_int_t)g->wd_swapped));
    json_object_set_new(j, "thresholds", th);
    json_object_set_new(j, "thresholds_broken", json_integer(v->broken));
    if (h->asked) {
        json_t *hj = json_pack("{s:i,s:i,s:f,s:i,s:f,s:i,s:i}", "asked", h->asked, "connected",
                               h->up, "seconds_to_connect", h->secs, "certificates_made",
                               h->certs_made, "seconds_to_make_certificates", h->cert_secs,
                               "reconnects", h->reconnects, "resumed", h->resumed);
        json_object_set_new(hj, "had_ticket", json_integer(h->with_ticket));
        if (h->rss_before > 0 && h->rss_after > 0 && h->up > 0) {
            json_object_set_new(hj, "switch_rss_kib_before", json_integer(h->rss_before));
            json_object_set_new(hj, "switch_rss_kib_after", json_integer(h->rss_after));
            json_object_set_new(hj, "switch_kib_per_connection",
                                json_real((double)(h->rss_after - h->rss_before) / h->up));
        }
        json_object_set_new(j, "hold", hj);
    }
    return j;
}

static void print_text(FILE *f, const gen *g, double secs, const holdres *h, const verdict *v,
                       const char *world)
{
    char p[5][24];
    static const double qs[] = {.5, .9, .99, .999, 1};
    for (int i = 0; i < 5; i++)
        ms_str(kr_hist_quantile(&g->all, qs[i]), p[i], sizeof p[i]);
    fprintf(f, "kks-terminal load: %d terminals, %s, mix %s, %.0f s measured after %.0f s "
               "warm-up, %zu cards, switch %s\n",
            g->nt, g->o.closed ? "closed loop" : "open model", g->o.mix_text, secs, g->o.warmup,
            g->cards.n, world);
    if (!g->o.closed)
        fprintf(f, "  schedule   %.1f requests/s intended, %" PRIu64 " started\n", g->o.rate,
                g->sent);
    fprintf(f,
            "  requests   answered %" PRIu64 " (%.1f/s), approved %" PRIu64
            " (%.1f/s), transport errors %" PRIu64 "\n",
            g->answered, secs > 0 ? (double)g->answered / secs : 0, g->approved,
            secs > 0 ? (double)g->approved / secs : 0, g->errors + g->never);
    fprintf(f, "  latency    p50 %s ms  p90 %s ms  p99 %s ms  p99.9 %s ms  max %s ms (%s)\n", p[0],
            p[1], p[2], p[3], p[4], g->o.closed ? "from the send" : "from the due time");
    fprintf(f, "  codes     ");
    for (int k = 0; k < 100; k++)
        if (g->codes[k])
            fprintf(f, " %02d x %" PRIu64 " (%s)", k, g->codes[k], code_text(k));
    fprintf(f, "\n");
    fprintf(f, "  generator  CPU %.0f%% of one core; ",
            g->wall > 0 ? 100 * (g->cpu1 - g->cpu0) / g->wall : 0.0);
    if (fell_behind(g))
        fprintf(f, "FELL BEHIND its schedule: %" PRIu64 " requests started > 10 ms late with a "
                   "terminal free (max %.1f ms): the figures understate what the switch can do\n",
                g->late_gen10, (double)g->late_gen_max / 1e6);
    else
        fprintf(f, "kept its schedule (%" PRIu64 " starts > 1 ms late with a terminal free, max "
                   "%.1f ms)\n", g->late_gen, (double)g->late_gen_max / 1e6);
    if (!g->o.closed && g->waited_term)
        fprintf(f, "  terminals  %" PRIu64 " requests waited > 1 ms for a free terminal (counted "
                   "in their latency)\n",
                g->waited_term);
    if (g->never)
        fprintf(f, "  unsent     %" PRIu64 " due requests never started (the run ended)\n",
                g->never);
    if (g->wd_swapped)
        fprintf(f, "  cards      %" PRIu64 " withdrawals became balance inquiries: every PKH card "
                   "had made its %d withdrawals of the day (more --cards, or the next day)\n",
                g->wd_swapped, g->o.card_withdrawals);
    if (g->first_error[0])
        fprintf(f, "  first error %s\n", g->first_error);
    if (h->asked) {
        fprintf(f, "  hold       %d of %d idle connections up in %.1f s", h->up, h->asked, h->secs);
        if (h->rss_before > 0 && h->rss_after > 0 && h->up > 0)
            fprintf(f, "; switch RSS %ld -> %ld KiB = %.1f KiB per connection\n", h->rss_before,
                    h->rss_after, (double)(h->rss_after - h->rss_before) / h->up);
        else
            fprintf(f, "; the switch's memory is known for the embedded world only\n");
        fprintf(f, "  reconnects %d of the held connections dropped and made again: %d resumed "
                   "their TLS session (%d had received a ticket before the drop)\n",
                h->reconnects, h->resumed, h->with_ticket);
    }
    for (int i = 0; i < v->n; i++)
        fprintf(f, "  threshold  %s\n", v->text[i]);
}

static int write_report(const gen *g, double secs, const holdres *h, const verdict *v,
                        const char *world)
{
    char title[128], b[16][200];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(title, sizeof title, "kks-terminal load, %Y-%m-%d %H:%M UTC", &tm);
    kr_kv set[12], sum[16];
    size_t ns = 0, nm = 0;
    snprintf(b[0], 200, "%d", g->nt);
    snprintf(b[1], 200, "%s", g->o.closed ? "closed loop" : "open model");
    snprintf(b[2], 200, "%.1f requests/s", g->o.rate);
    snprintf(b[3], 200, "%.0f s after %.0f s warm-up", secs, g->o.warmup);
    snprintf(b[4], 200, "%zu", g->cards.n);
    set[ns++] = (kr_kv){"switch", world};
    set[ns++] = (kr_kv){"terminals", b[0]};
    set[ns++] = (kr_kv){"model", b[1]};
    if (!g->o.closed)
        set[ns++] = (kr_kv){"rate", b[2]};
    set[ns++] = (kr_kv){"mix", g->o.mix_text};
    set[ns++] = (kr_kv){"duration", b[3]};
    set[ns++] = (kr_kv){"cards", b[4]};
    snprintf(b[5], 200, "%" PRIu64 " (%.1f/s)", g->approved,
             secs > 0 ? (double)g->approved / secs : 0);
    snprintf(b[6], 200, "%" PRIu64 " (%.1f/s)", g->answered,
             secs > 0 ? (double)g->answered / secs : 0);
    snprintf(b[7], 200, "%" PRIu64, g->errors + g->never);
    snprintf(b[8], 200, "p50 %.3f, p90 %.3f, p99 %.3f, p99.9 %.3f, max %.3f (%s)",
             (double)kr_hist_quantile(&g->all, .5) / 1e6,
             (double)kr_hist_quantile(&g->all, .9) / 1e6,
             (double)kr_hist_quantile(&g->all, .99) / 1e6,
             (double)kr_hist_quantile(&g->all, .999) / 1e6,
             (double)kr_hist_quantile(&g->all, 1) / 1e6,
             g->o.closed ? "from the send" : "from the due time");
    snprintf(b[9], 200, "%.0f%% of one core; %s", g->wall > 0 ? 100 * (g->cpu1 - g->cpu0) / g->wall : 0.0,
             fell_behind(g) ? "FELL BEHIND its schedule: the figures understate the switch"
                            : "kept its schedule");
    sum[nm++] = (kr_kv){"approved", b[5]};
    sum[nm++] = (kr_kv){"answered", b[6]};
    sum[nm++] = (kr_kv){"transport errors", b[7]};
    sum[nm++] = (kr_kv){"latency, ms", b[8]};
    sum[nm++] = (kr_kv){"generator", b[9]};
    if (h->asked) {
        if (h->rss_before > 0 && h->rss_after > 0 && h->up > 0)
            snprintf(b[10], 200, "%d of %d up; switch RSS %ld -> %ld KiB, %.1f KiB each", h->up,
                     h->asked, h->rss_before, h->rss_after,
                     (double)(h->rss_after - h->rss_before) / h->up);
        else
            snprintf(b[10], 200, "%d of %d up", h->up, h->asked);
        sum[nm++] = (kr_kv){"held connections", b[10]};
        snprintf(b[11], 200, "%d dropped and made again, %d resumed their TLS session (%d had a "
                 "ticket)", h->reconnects, h->resumed, h->with_ticket);
        sum[nm++] = (kr_kv){"reconnects", b[11]};
    }
    for (int i = 0; i < v->n && nm < 16; i++)
        sum[nm++] = (kr_kv){"threshold", v->text[i]};
    kl_report r = {.title = title, .settings = set, .nsettings = ns, .summary = sum,
                   .nsummary = nm, .secs = g->secs, .nsecs = g->nsecs, .all = &g->all,
                   .codes = g->codes, .errors = g->errors + g->never};
    char err[300];
    if (kl_report_html(&r, g->o.report, err, sizeof err) < 0) {
        ld_say("kks-terminal load: the report: %s\n", err);
        return -1;
    }
    return 0;
}

/* ---- STANs: unique per terminal and day across runs ---- */

/* DIR/stan holds "YYYY-MM-DD NEXT": the first STAN the next run on that date
 * may use (every terminal of a run starts from it). */
static uint32_t stan_base(const char *state, const char *date)
{
    char path[1100], d[16];
    unsigned long next = 0;
    snprintf(path, sizeof path, "%s/stan", state);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%15s %lu", d, &next) != 2 || strcmp(d, date) != 0)
            next = 0;
        fclose(f);
    }
    return next >= 1 && next <= 999999 ? (uint32_t)next : 1;
}

static void stan_save(const char *state, const char *date, const gen *g)
{
    char path[1100], tmp[1120];
    uint32_t top = 0;
    for (int i = 0; i < g->nt; i++)
        top = g->t[i].stan > top ? g->t[i].stan : top;
    snprintf(path, sizeof path, "%s/stan", state);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    /* past 999999 the day's STANs start again from 1: said when it happens */
    if (top >= 999999)
        fprintf(stderr, "kks-terminal load: the terminals used every STAN of %s; the next run "
                        "on this day repeats them (the switch answers 94)\n", date);
    fprintf(f, "%s %lu\n", date, top >= 999999 ? 1ul : (unsigned long)top + 1);
    if (fclose(f) == 0)
        rename(tmp, path);
}

/* ---- withdrawals per card and day, across runs ---- */

/* DIR/withdrawals: "YYYY-MM-DD N WORLD" then one count per card, in the
 * order of cards.csv (N cards); WORLD is the cards' (ld_cards.world). Another
 * day, world or card count starts at zero. */
static void wd_load(const char *state, const char *world, gen *g)
{
    char path[1100], d[16], a[80];
    size_t n = 0;
    snprintf(path, sizeof path, "%s/withdrawals", state);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (fscanf(f, "%15s %zu %79s", d, &n, a) == 3 && strcmp(d, g->date) == 0 &&
        n == g->cards.n && strcmp(a, world) == 0)
        for (size_t i = 0; i < n; i++) {
            unsigned v;
            if (fscanf(f, "%u", &v) != 1)
                break;
            g->wd[i] = (uint8_t)(v > 255 ? 255 : v);
        }
    fclose(f);
}

static void wd_save(const char *state, const char *world, const gen *g)
{
    char path[1100], tmp[1120];
    snprintf(path, sizeof path, "%s/withdrawals", state);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "%s %zu %s\n", g->date, g->cards.n, world);
    for (size_t i = 0; i < g->cards.n; i++)
        fprintf(f, "%u\n", g->wd[i]);
    if (fclose(f) == 0)
        rename(tmp, path);
}

/* ---- the run ---- */

static void wib_today(char out[11])
{
    time_t now = time(NULL) + 7 * 3600;
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

static int hold_connections(gen *g, const char *pki, const char *sw, int switch_pid, holdres *h)
{
    char why[300];
    uint64_t t0 = uv_hrtime();
    h->asked = g->o.hold;
    h->rss_before = rss_kib(switch_pid);
    g->held = calloc((size_t)g->o.hold, sizeof *g->held);
    if (!g->held)
        return -1;
    for (int i = 0; i < g->o.hold; i++)
        snprintf(g->held[i].id, sizeof g->held[i].id, "EW-HOLD-%05d", i + 1);
    int made = make_certs(pki, g->held, g->o.hold);
    if (made < 0)
        return -1;
    h->cert_secs = (double)(uv_hrtime() - t0) / 1e9;
    h->certs_made = made;
    t0 = uv_hrtime();
    fprintf(stderr, "opening %d idle terminal connections (%d certificates made in %.1f s)...\n",
            g->o.hold, made, h->cert_secs);
    for (int i = 0; i < g->o.hold && !g->stop; i++) {
        lterm *t = &g->held[i];
        if (term_open(g, t, pki, sw, why, sizeof why) < 0) {
            ld_say("kks-terminal load: %s\n", why);
            return -1;
        }
        g->nheld = i + 1;
        if ((i + 1) % HOLD_WAVE == 0 || i + 1 == g->o.hold)
            run_until(g, held_up, uv_hrtime() + 30 * NS);
    }
    run_until(g, held_up, uv_hrtime() + 30 * NS);
    for (int i = 0; i < g->nheld; i++)
        h->up += g->held[i].cl && kks_client_is_up(g->held[i].cl);
    h->secs = (double)(uv_hrtime() - t0) / 1e9;
    kc_pause(g->loop, 1000); /* let the switch settle its buffers */
    h->rss_after = rss_kib(switch_pid);
    /* reconnects: a sample of the held connections dropped, as a network
     * would, and made again: they offer the session the switch gave them
     * (its ticket comes after the handshake: waited for, a few seconds) */
    int sample = g->nheld < HOLD_WAVE ? g->nheld : HOLD_WAVE;
    g->sample = sample;
    run_until(g, sample_has_tickets, uv_hrtime() + 10 * NS);
    unsigned hs0 = 0, rs0 = 0, hs1 = 0, rs1 = 0, a, b;
    for (int i = 0; i < sample; i++) {
        kks_client_tls_stats(g->held[i].cl, &a, &b);
        hs0 += a, rs0 += b;
        h->with_ticket += kks_client_has_session(g->held[i].cl);
        kks_client_drop(g->held[i].cl);
    }
    kc_pause(g->loop, 50);
    run_until(g, held_up, uv_hrtime() + 30 * NS);
    for (int i = 0; i < sample; i++) {
        kks_client_tls_stats(g->held[i].cl, &a, &b);
        hs1 += a, rs1 += b;
    }
    h->reconnects = (int)(hs1 - hs0);
    h->resumed = (int)(rs1 - rs0);
    return 0;
}

static int load_run(int argc, char **argv, int *printed)
{
    ld_opts o;
    gen *g = NULL;
    kc_world w;
    int world = 0, rc = parse_opts(argc, argv, &o), activate = 0;
    char why[1200], state[1024], world_desc[300];
    holdres h = {0};
    uv_signal_t sig;
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (fd_budget(&o) < 0)
        return TERM_EXIT_USAGE;
    if (o.report) { /* a report that cannot be written is known before the run */
        FILE *f = fopen(o.report, "a");
        if (!f) {
            ld_say("kks-terminal load: cannot write the report %s: %s\n", o.report,
                    strerror(errno));
            return TERM_EXIT_USAGE;
        }
        fclose(f);
    }
    /* never the working directory: a rerun from elsewhere finds its cards */
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    if (o.state)
        snprintf(state, sizeof state, "%s", o.state);
    else if (xdg && *xdg == '/')
        snprintf(state, sizeof state, "%s/kks/load", xdg);
    else if (home && *home == '/')
        snprintf(state, sizeof state, "%s/.local/state/kks/load", home);
    else {
        ld_say("kks-terminal load: no --state DIR, XDG_STATE_HOME or HOME\n");
        return TERM_EXIT_USAGE;
    }

    g = calloc(1, sizeof *g);
    if (!g)
        return TERM_EXIT_INTERNAL;
    g->loop = uv_default_loop();
    g->o = o;
    g->rnd = 0x9E3779B97F4A7C15ull ^ uv_hrtime();
    kr_hist_init(&g->all);
    kr_hist_init(&g->sec);
    wib_today(g->date);
    uv_signal_init(g->loop, &sig);
    sig.data = g;
    uv_signal_start(&sig, on_sigint, SIGINT);

    const char *sw = o.sw, *issuer = o.issuer, *pki = o.pki;
    char bin[KC_PATH_MAX];
    if (kc_bin_dir(bin, sizeof bin) < 0) {
        ld_say("kks-terminal load: cannot find the directory of this program\n");
        rc = TERM_EXIT_INTERNAL;
        goto out;
    }
    if (!sw) {
        /* the world's PKI lives in the state directory: terminal certificates
         * are made once, not every run */
        char wpki[1100];
        snprintf(wpki, sizeof wpki, "%s/pki", state);
        if (ld_mkdir_p(state) < 0) {
            ld_say("kks-terminal load: cannot make the state directory %s: %s\n",
                    state, strerror(errno));
            rc = TERM_EXIT_USAGE;
            goto out;
        }
        kc_world_opts wo = {.pki = wpki, .seeds = o.seeds};
        fprintf(stderr, "starting the embedded world (a private issuer and switch)...\n");
        if (kc_world_start(&w, g->loop, &wo) < 0) {
            ld_say("kks-terminal load: the embedded world did not start: %s\n", w.why);
            rc = TERM_EXIT_PEER;
            goto out;
        }
        world = 1;
        sw = w.addr[KC_SWITCH];
        issuer = w.addr[KC_ISSUER];
        pki = w.pki;
        snprintf(world_desc, sizeof world_desc, "%s (embedded world)", sw);
    } else
        snprintf(world_desc, sizeof world_desc, "%s", sw);

    /* cards */
    ld_world lw = {.loop = g->loop, .bin = bin, .pki = pki, .issuer = issuer, .sw = sw,
                   .state = state, .today = g->date, .say = stderr};
    if (ld_cards_get(&lw, o.cards, o.fresh || world, &g->cards, &activate, why, sizeof why) < 0) {
        ld_say("kks-terminal load: %s\n", why);
        rc = TERM_EXIT_PEER;
        goto out;
    }
    g->pins = malloc(g->cards.n * sizeof *g->pins);
    g->pkh = malloc(g->cards.n * sizeof *g->pkh);
    g->bpnt = malloc(g->cards.n * sizeof *g->bpnt);
    g->t = calloc((size_t)o.terminals, sizeof *g->t);
    g->wd = calloc(g->cards.n ? g->cards.n : 1, 1);
    if (!g->pins || !g->pkh || !g->bpnt || !g->t || !g->wd) {
        rc = TERM_EXIT_INTERNAL;
        goto out;
    }
    for (size_t i = 0; i < g->cards.n; i++) {
        ld_pin(&g->cards, g->cards.v[i].pan, g->pins[i]);
        if (g->cards.v[i].pkh)
            g->pkh[g->npkh++] = i;
        if (g->cards.v[i].bpnt)
            g->bpnt[g->nbpnt++] = i;
    }

    /* terminals: certificates made once, kept in the PKI */
    fprintf(stderr, "connecting %d terminals...\n", o.terminals);
    uint32_t stan0 = stan_base(state, g->date);
    for (int i = 0; i < o.terminals; i++)
        snprintf(g->t[i].id, sizeof g->t[i].id, "EW-LOAD-%05d", i + 1);
    if (make_certs(pki, g->t, o.terminals) < 0) {
        rc = TERM_EXIT_INTERNAL;
        goto out;
    }
    for (int i = 0; i < o.terminals; i++) {
        lterm *t = &g->t[i];
        t->stan = stan0;
        if (term_open(g, t, pki, sw, why, sizeof why) < 0) {
            ld_say("kks-terminal load: %s\n", why);
            rc = TERM_EXIT_INTERNAL;
            goto out;
        }
        g->nt = i + 1;
    }
    if (probe(g, why, sizeof why) < 0) {
        ld_say("kks-terminal load: %s\n", why);
        rc = TERM_EXIT_PEER;
        goto out;
    }

    wd_load(state, g->cards.world, g);
    for (size_t i = 0; i < g->npkh; i++) /* the cards that may still withdraw today first */
        if (g->wd[g->pkh[i]] < o.card_withdrawals) {
            size_t t = g->pkh[g->pkh_live];
            g->pkh[g->pkh_live++] = g->pkh[i];
            g->pkh[i] = t;
        }
    if (activate) {
        fprintf(stderr, "activating %zu cards...\n", g->cards.n);
        size_t per = (g->cards.n + (size_t)g->nt - 1) / (size_t)g->nt;
        g->act_left = g->cards.n;
        for (int i = 0; i < g->nt; i++) {
            lterm *t = &g->t[i];
            t->act_next = (size_t)i * per < g->cards.n ? (size_t)i * per : g->cards.n;
            t->act_end = (size_t)(i + 1) * per < g->cards.n ? (size_t)(i + 1) * per : g->cards.n;
            if (t->act_next < t->act_end)
                send_one(g, t, uv_hrtime());
        }
        run_until(g, act_done, uv_hrtime() + 600 * NS);
        if (g->act_ok < g->cards.n) {
            ld_say("kks-terminal load: %zu of %zu cards activated (%s)\n", g->act_ok,
                    g->cards.n, g->first_error);
            rc = TERM_EXIT_PEER;
            goto out;
        }
        stan_save(state, g->date, g);
        if (ld_cards_save(&lw, &g->cards, why, sizeof why) < 0)
            fprintf(stderr, "kks-terminal load: %s (the cards will be prepared again)\n", why);
        g->first_error[0] = '\0';
    }

    if (o.hold > 0 &&
        hold_connections(g, pki, sw, world ? w.proc[KC_SWITCH].h.pid : 0, &h) < 0) {
        rc = TERM_EXIT_INTERNAL;
        goto out;
    }

    /* the run */
    g->phase = 1;
    g->t0 = uv_hrtime() + 10 * MS;
    g->tm = g->t0 + (uint64_t)(o.warmup * 1e9);
    g->tend = g->tm + (uint64_t)(o.duration * 1e9);
    g->period = o.closed ? 0 : (uint64_t)(1e9 / o.rate);
    if (!o.closed && g->period == 0)
        g->period = 1;
    g->cpu0 = cpu_now();
    g->sent = 0;
    fprintf(stderr, "running: %.0f s warm-up, %.0f s measured...\n", o.warmup, o.duration);
    if (o.closed) {
        for (int i = 0; i < g->nt; i++)
            send_one(g, &g->t[i], uv_hrtime());
    } else {
        for (int i = g->nt - 1; i >= 0; i--)
            push_free(g, &g->t[i]);
        uv_timer_init(g->loop, &g->tick);
        g->tick.data = g;
        uv_timer_start(&g->tick, on_tick, 1, 1);
    }
    run_until(g, past_end, g->tend + NS);
    if (!o.closed) {
        /* requests due before the end still start, as terminals free up */
        g->phase = 2;
        uint64_t deadline = uv_hrtime() + DRAIN_NS;
        while (!g->stop && g->t0 + g->k * g->period < g->tend && uv_hrtime() < deadline)
            uv_run(g->loop, UV_RUN_ONCE);
        uv_timer_stop(&g->tick);
        uv_close((uv_handle_t *)&g->tick, NULL);
        if (g->t0 + g->k * g->period < g->tend)
            g->never = (g->tend - (g->t0 + g->k * g->period) + g->period - 1) / g->period;
    }
    run_until(g, nothing_inflight, uv_hrtime() + DRAIN_NS);
    g->cpu1 = cpu_now();
    uint64_t end = g->stop ? uv_hrtime() : g->tend;
    g->wall = (double)(uv_hrtime() - g->t0) / 1e9;
    double secs = end > g->tm ? (double)(end - g->tm) / 1e9 : 0;
    if (g->nsecs)
        sec_finish(g, &g->secs[g->nsecs - 1]);
    g->phase = 3;
    stan_save(state, g->date, g);
    wd_save(state, g->cards.world, g);

    verdict v;
    thresholds(g, secs, &v);
    if ((*printed = o.json)) {
        json_t *j = result_json(g, secs, &h, &v, world_desc);
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        json_decref(j);
        if (s)
            puts(s);
        free(s);
    } else
        print_text(stdout, g, secs, &h, &v, world_desc);
    fflush(stdout);
    rc = 0;
    if (o.report && write_report(g, secs, &h, &v, world_desc) < 0)
        rc = TERM_EXIT_INTERNAL;
    else if (o.report)
        fprintf(stderr, "report: %s\n", o.report);
    if (rc == 0 && v.broken)
        rc = 1;
    if (rc == 0 && g->answered == 0)
        rc = TERM_EXIT_PEER;
out:
    if (g) {
        for (int i = 0; i < g->nheld; i++)
            term_close(&g->held[i]);
        for (int i = 0; i < g->nt; i++)
            term_close(&g->t[i]);
        uv_close((uv_handle_t *)&sig, NULL);
        uv_run(g->loop, UV_RUN_NOWAIT);
        if (world)
            kc_world_stop(&w);
        uv_run(g->loop, UV_RUN_DEFAULT);
        for (int i = 0; i < g->nheld; i++)
            term_free_ctx(&g->held[i]);
        for (int i = 0; i < g->nt; i++)
            term_free_ctx(&g->t[i]);
        if (g->pins)
            OPENSSL_cleanse(g->pins, g->cards.n * sizeof *g->pins);
        free(g->pins);
        free(g->pkh);
        free(g->bpnt);
        free(g->wd);
        free(g->t);
        free(g->held);
        free(g->secs);
        ld_cards_free(&g->cards);
        free(g);
    }
    return rc;
}

int load_cli(int argc, char **argv)
{
    int printed = 0, json = 0, rc;
    for (int i = 1; i < argc; i++)
        json |= strcmp(argv[i], "--json") == 0;
    ld_said[0] = '\0';
    rc = load_run(argc, argv, &printed);
    if (rc > 0 && json && !printed) /* an error before there was a result */
        kks_cli_error_json(stdout, ld_said[0] ? ld_said : kks_cli_exit_name(rc), rc);
    return rc;
}
