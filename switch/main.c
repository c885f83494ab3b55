/* kks-switch: the transaction switch. Authority for money; routes card
 * requests by BIN to an issuer. Accepts terminals and operators (SPEC §4) and
 * keeps one mutual-TLS link to each issuer, reconnecting when it drops. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "kks_err.h"
#include "kks_db.h"
#include "kks_frame.h"
#include "kks_pki.h"
#include "kks_log.h"
#include "switch.h"

#define LINK_PING_MS 2000
#define LINK_HEARTBEAT_MS 5000

static const char usage[] =
    "usage: kks-switch --listen HOST:PORT --db FILE --pki DIR --issuer HOST:PORT\n"
    "                  [--route BIN=HOST:PORT]... [--ready-file FILE] [--metrics HOST:PORT]\n"
    "                  [--seeds DIR]\n"
    "\n"
    "The KKS transaction switch. Serves terminals and operators over mutual TLS and\n"
    "routes card requests to issuers by BIN.\n"
    "  --listen A         address to listen on (port 0 picks one)\n"
    "  --db FILE          SQLite database (created if missing)\n"
    "  --pki DIR          PKI directory (uses DIR/switch.crt, switch.key, ca.crt); or KKS_PKI\n"
    "  --issuer A         the default issuer route; or KKS_ISSUER\n"
    "  --route BIN=A      the issuer for cards of this 6- or 8-digit BIN (repeatable)\n"
    "  --ready-file F     written with the bound address once listening\n"
    "  --metrics A        serve Prometheus metrics over HTTP on A\n"
    "  --seeds DIR        programme policy (default: the source tree's seeds/)\n";


static link *link_for(sw *s, const char *addr)
{
    for (int i = 0; i < s->nlinks; i++)
        if (strcmp(s->links[i].addr, addr) == 0)
            return &s->links[i];
    if (s->nlinks == MAX_LINKS || strlen(addr) >= KKS_ADDR_MAX)
        return NULL;
    link *l = &s->links[s->nlinks++];
    snprintf(l->addr, sizeof l->addr, "%s", addr);
    return l;
}

static int bin_valid(const char *bin, size_t n)
{
    if (n != 6 && n != 8)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (bin[i] < '0' || bin[i] > '9')
            return 0;
    return 1;
}

/* ---- Ping: the switch asks each issuer link and reports what it saw. ---- */

typedef struct ping_ctx {
    kks_conn *c;
    uint64_t id;
    int remaining;
    uint64_t started;
    sw *s;
    Kks__Link links[MAX_LINKS];
    Kks__Link *plinks[MAX_LINKS];
    char strs[MAX_LINKS][3][KKS_ID_MAX];
    char errs[MAX_LINKS][128];
    uint64_t sent_at[MAX_LINKS];
} ping_ctx;

static void ping_finish(ping_ctx *p)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__Pong pong = KKS__PONG__INIT;
    pong.role = "switch";
    pong.identity = "switch";
    pong.version = KKS_VERSION;
    pong.n_links = (size_t)p->s->nlinks;
    pong.links = p->plinks;
    rep.body_case = KKS__ENVELOPE__BODY_PONG;
    rep.pong = &pong;
    kks_conn_reply(p->c, p->id, &rep);
    kks_conn_unref(p->c);
    free(p);
}

struct ping_link {
    ping_ctx *p;
    int i;
};

static void on_link_pong(int status, const Kks__Envelope *rep, void *ud)
{
    struct ping_link *pl = ud;
    ping_ctx *p = pl->p;
    Kks__Link *l = &p->links[pl->i];
    if (status == 0 && rep->body_case == KKS__ENVELOPE__BODY_PONG) {
        snprintf(p->strs[pl->i][0], KKS_ID_MAX, "%s", rep->pong->role);
        snprintf(p->strs[pl->i][1], KKS_ID_MAX, "%s", rep->pong->identity);
        snprintf(p->strs[pl->i][2], KKS_ID_MAX, "%s", rep->pong->version);
        l->up = 1;
        l->rtt_us = (uint32_t)((uv_hrtime() - p->sent_at[pl->i]) / 1000);
    } else {
        snprintf(p->errs[pl->i], sizeof p->errs[pl->i], "%s",
                 status < 0 ? kks_strerror(status) : "unexpected reply");
    }
    free(pl);
    if (--p->remaining == 0)
        ping_finish(p);
}

static void handle_ping(sw *s, kks_conn *c, uint64_t id)
{
    ping_ctx *p = calloc(1, sizeof *p);
    if (!p) {
        Kks__Envelope rep = KKS__ENVELOPE__INIT;
        Kks__Error er = KKS__ERROR__INIT;
        er.code = KKS_ENOMEM;
        er.message = (char *)kks_strerror(KKS_ENOMEM);
        rep.body_case = KKS__ENVELOPE__BODY_ERROR;
        rep.error = &er;
        kks_conn_reply(c, id, &rep);
        return;
    }
    kks_conn_ref(c);
    p->c = c;
    p->id = id;
    p->s = s;
    p->remaining = 1; /* held until every link has been asked */
    for (int i = 0; i < s->nlinks; i++) {
        link *lk = &s->links[i];
        Kks__Link *l = &p->links[i];
        kks__link__init(l);
        p->plinks[i] = l;
        l->address = lk->addr;
        l->bins = (char **)lk->bins;
        l->n_bins = (size_t)lk->nbins;
        l->is_default = lk->is_default;
        l->role = p->strs[i][0];
        l->identity = p->strs[i][1];
        l->version = p->strs[i][2];
        l->error = p->errs[i];
        Kks__Envelope req = KKS__ENVELOPE__INIT;
        Kks__Ping ping = KKS__PING__INIT;
        req.body_case = KKS__ENVELOPE__BODY_PING;
        req.ping = &ping;
        struct ping_link *pl = malloc(sizeof *pl);
        if (!pl) {
            snprintf(p->errs[i], sizeof p->errs[i], "%s", kks_strerror(KKS_ENOMEM));
            continue;
        }
        pl->p = p;
        pl->i = i;
        p->sent_at[i] = uv_hrtime();
        int rc = kks_client_call(lk->cl, &req, LINK_PING_MS, on_link_pong, pl);
        if (rc < 0) {
            const char *why = kks_client_last_error(lk->cl);
            snprintf(p->errs[i], sizeof p->errs[i], "%s", *why ? why : kks_strerror(rc));
            free(pl);
            continue;
        }
        p->remaining++;
    }
    if (--p->remaining == 0)
        ping_finish(p);
}

static void dispatch(sw *s, kks_conn *c, const Kks__Envelope *req);

static void on_request(kks_conn *c, const Kks__Envelope *req, void *ud)
{
    sw *s = ud;
    dispatch(s, c, req);
    kks_db_reset_all(ledger_db(s->ledger)); /* no read transaction outlives the request */
}

static void dispatch(sw *s, kks_conn *c, const Kks__Envelope *req)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__Error er = KKS__ERROR__INIT;

    switch (req->body_case) {
    case KKS__ENVELOPE__BODY_PING:
        handle_ping(s, c, req->id);
        return;
    case KKS__ENVELOPE__BODY_TXN:
    case KKS__ENVELOPE__BODY_REVERSAL:
    case KKS__ENVELOPE__BODY_TERMINAL_SETTLE:
        if (kks_conn_role(c) != KKS_ROLE_TERMINAL) {
            er.code = KKS_EPEERROLE;
            er.message = "transactions come from terminals";
            break;
        }
        if (req->body_case == KKS__ENVELOPE__BODY_TXN)
            txn_handle(s, c, req);
        else if (req->body_case == KKS__ENVELOPE__BODY_REVERSAL)
            reversal_handle(s, c, req);
        else
            terminal_settle_handle(s, c, req);
        return;
    case KKS__ENVELOPE__BODY_SETTLE:
    case KKS__ENVELOPE__BODY_CREDIT_BATCH:
    case KKS__ENVELOPE__BODY_LEDGER_CHECK:
    case KKS__ENVELOPE__BODY_ACCOUNT_REQUEST:
        if (kks_conn_role(c) != KKS_ROLE_OPERATOR) {
            er.code = KKS_EPEERROLE;
            er.message = "credit runs and ledger views are for operators";
            break;
        }
        if (req->body_case == KKS__ENVELOPE__BODY_SETTLE)
            settle_handle(s, c, req);
        else if (req->body_case == KKS__ENVELOPE__BODY_CREDIT_BATCH)
            credit_handle(s, c, req);
        else if (req->body_case == KKS__ENVELOPE__BODY_LEDGER_CHECK)
            ledger_check_handle(s, c, req);
        else
            account_handle(s, c, req);
        return;
    default:
        er.code = KKS_EUNEXPECTED;
        er.message = "the switch does not handle this message";
        break;
    }
    rep.body_case = KKS__ENVELOPE__BODY_ERROR;
    rep.error = &er;
    kks_conn_reply(c, req->id, &rep);
}

static void on_stopped(kks_daemon *d)
{
    sw *s = d->app;
    kks_group_free(ledger_group(s->ledger)); /* commits what is held */
    for (int i = 0; i < s->nlinks; i++) {
        kks_client_free(s->links[i].cl);
        s->links[i].cl = NULL;
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'},  {"db", required_argument, 0, 'd'},
        {"pki", required_argument, 0, 'p'},     {"ready-file", required_argument, 0, 'r'},
        {"metrics", required_argument, 0, 'm'}, {"issuer", required_argument, 0, 'i'},
        {"route", required_argument, 0, 'R'},   {"seeds", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *listen = NULL, *dbpath = NULL, *pki = getenv("KKS_PKI"), *ready = NULL,
               *metrics = NULL, *issuer = getenv("KKS_ISSUER"),
               *seeds = KKS_DEFAULT_SEEDS;
    char err[512];
    const char *routes[MAX_ROUTES];
    int nroutes = 0, o, rc;
    static sw s;
    SSL_CTX *server_ctx;

    kks_log_init("switch");
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'l': listen = optarg; break;
        case 'd': dbpath = optarg; break;
        case 'p': pki = optarg; break;
        case 'r': ready = optarg; break;
        case 'm': metrics = optarg; break;
        case 'i': issuer = optarg; break;
        case 's': seeds = optarg; break;
        case 'R':
            if (nroutes == MAX_ROUTES) {
                fputs("kks-switch: too many --route\n", stderr);
                return 2;
            }
            routes[nroutes++] = optarg;
            break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind != argc || !listen || !dbpath || !pki || (!issuer && nroutes == 0)) {
        fputs("kks-switch: --listen, --db, --pki and --issuer (or --route) are required\n",
              stderr);
        fputs(usage, stderr);
        return 2;
    }
    if (issuer) {
        link *l = link_for(&s, issuer);
        if (!l) {
            fprintf(stderr, "kks-switch: bad --issuer %s\n", issuer);
            return 2;
        }
        l->is_default = 1;
    }
    for (int i = 0; i < nroutes; i++) {
        const char *eq = strchr(routes[i], '=');
        link *l;
        if (!eq || !bin_valid(routes[i], (size_t)(eq - routes[i])) || !(l = link_for(&s, eq + 1))) {
            fprintf(stderr, "kks-switch: bad --route %s (expected BIN=HOST:PORT, BIN 6 or 8 digits)\n",
                    routes[i]);
            return 2;
        }
        ((char *)routes[i])[eq - routes[i]] = '\0'; /* BIN, in argv */
        l->bins[l->nbins++] = routes[i];
    }
    struct sockaddr_storage lsa;
    if (kks_addr_parse(listen, &lsa) < 0) {
        fprintf(stderr, "%s: bad --listen %s (expected HOST:PORT)\n", argv[0], listen);
        return 2;
    }
    if (kks_tls_ctx_from_pki(&server_ctx, 1, pki, "switch") < 0 ||
        kks_tls_ctx_from_pki(&s.client_ctx, 0, pki, "switch") < 0)
        return 2;
    if (kks_policy_load(&s.policy, seeds, err, sizeof err) < 0) {
        fprintf(stderr, "kks-switch: seeds: %s\n", err);
        return 2;
    }
    if (kks_catalog_load(&s.catalog, seeds, err, sizeof err) < 0 ||
        kks_terminals_load(&s.terminals, seeds, err, sizeof err) < 0) {
        fprintf(stderr, "kks-switch: seeds: %s\n", err);
        return 2;
    }
    if (kks_pki_load_key(pki, "tmk", s.tmk, sizeof s.tmk) < 0 ||
        kks_pki_load_key(pki, "zpk", s.zpk, sizeof s.zpk) < 0)
        return 2;
    s.d.loop = uv_default_loop();
    if (ledger_open(dbpath, s.d.loop, &s.ledger) < 0)
        return 4;
    kks_group_set_failure(ledger_group(s.ledger), uncommitted_reply);
    if ((rc = auth_init(&s, seeds, err, sizeof err)) < 0) {
        fprintf(stderr, "kks-switch: %s\n", err);
        return rc == KKS_EDB ? 4 : 2;
    }
    s.d.app = &s;
    s.d.on_stopped = on_stopped;
    for (int i = 0; i < s.nlinks; i++) {
        kks_client_opts co = {
            .expect_role = KKS_ROLE_ISSUER,
            .reconnect = 1,
            .heartbeat_ms = LINK_HEARTBEAT_MS,
            .max_frame = KKS_FRAME_MAX, /* the issuer's cap for a switch */
        };
        if ((rc = kks_client_new(s.d.loop, s.client_ctx, s.links[i].addr, &co, &s.links[i].cl)) < 0) {
            fprintf(stderr, "kks-switch: bad issuer address %s: %s\n", s.links[i].addr,
                    kks_strerror(rc));
            return 2;
        }
    }
    kks_server_opts so = {
        .accept_roles = KKS_ROLE_TERMINAL | KKS_ROLE_OPERATOR,
        .on_request = on_request,
        .ud = &s,
    };
    if ((rc = kks_server_new(s.d.loop, server_ctx, listen, &so, &s.d.srv)) < 0)
        return rc == KKS_EADDR ? 2 : 4;
    if (kks_daemon_start(&s.d, metrics, ready) < 0)
        return 4;
    uv_run(s.d.loop, UV_RUN_DEFAULT);
    kks_server_free(s.d.srv);
    auth_close(&s);
    ledger_close(s.ledger);
    OPENSSL_cleanse(s.tmk, sizeof s.tmk);
    OPENSSL_cleanse(s.zpk, sizeof s.zpk);
    uv_loop_close(s.d.loop);
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(s.client_ctx);
    return 0;
}
