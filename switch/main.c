/* kks-switch: the transaction switch. Authority for money; routes card
 * requests by BIN to an issuer. Accepts terminals and operators (SPEC §4) and
 * keeps one mutual-TLS link to each issuer, reconnecting when it drops. */
#include <assert.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "kks_cli.h"
#include "kks_err.h"
#include "kks_db.h"
#include "kks_frame.h"
#include "kks_pki.h"
#include "kks_log.h"
#include "kks_rc.h"
#include "switch.h"
#include "kks_seeds.h"

#define LINK_HEARTBEAT_MS 5000

static const char usage[] =
    "usage: kks-switch --listen HOST:PORT --db FILE --pki DIR --issuer HOST:PORT\n"
    "                  [--route BIN=HOST:PORT]... [--ready-file FILE] [--metrics HOST:PORT]\n"
    "                  [--seeds DIR] [--today YYYY-MM-DD]\n"
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
    "  --seeds DIR        programme policy (default: $KKS_SEEDS, else the installed\n"
    "                     share/kks/seeds, else the source tree's)\n"
    "  --today D          fix the business date (tests, training); default: today in WIB\n"
    "  --version          the version and the default seeds directory\n";


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

/* A ledger check in progress is given up (answered with an error) rather
 * than waited for: it may have minutes to go. */
static void on_stopping(kks_daemon *d)
{
    ledger_checks_stop(d->app);
}

static void on_stopped(kks_daemon *d)
{
    sw *s = d->app;
    kks_group_free(s->group); /* commits what is held */
    for (int i = 0; i < s->nlinks; i++) {
        kks_client_free(s->links[i].cl);
        s->links[i].cl = NULL;
    }
}

/* Adds the --issuer and --route links to s; 0, or the exit code after
 * logging why. */
static int add_links(sw *s, const char *issuer, const char **routes, int nroutes)
{
    char msg[600];
    if (issuer) {
        link *l = link_for(s, issuer);
        if (!l) {
            snprintf(msg, sizeof msg, "bad --issuer %.200s", issuer);
            return kks_daemon_usage("kks-switch", msg);
        }
        l->is_default = 1;
    }
    for (int i = 0; i < nroutes; i++) {
        const char *eq = strchr(routes[i], '=');
        link *l;
        if (!eq || !bin_valid(routes[i], (size_t)(eq - routes[i])) || !(l = link_for(s, eq + 1))) {
            snprintf(msg, sizeof msg,
                     "bad --route %.200s (expected BIN=HOST:PORT, BIN 6 or 8 digits)", routes[i]);
            return kks_daemon_usage("kks-switch", msg);
        }
        ((char *)routes[i])[eq - routes[i]] = '\0'; /* BIN, in argv */
        l->bins[l->nbins++] = routes[i];
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'},  {"db", required_argument, 0, 'd'},
        {"pki", required_argument, 0, 'p'},     {"ready-file", required_argument, 0, 'r'},
        {"metrics", required_argument, 0, 'm'}, {"issuer", required_argument, 0, 'i'},
        {"route", required_argument, 0, 'R'},   {"seeds", required_argument, 0, 's'},
        {"today", required_argument, 0, 't'},   {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    const char *listen = NULL, *dbpath = NULL, *pki = getenv("KKS_PKI"), *ready = NULL,
               *metrics = NULL, *issuer = getenv("KKS_ISSUER"),
               *seeds = kks_seeds_default(NULL);
    char err[512], msg[600];
    const char *routes[MAX_ROUTES];
    int nroutes = 0, o, rc;
    /* Static, as is what hangs off them: what a failed start leaves behind
     * is not a leak but the process's own, and it exits at once. */
    static sw s;
    static SSL_CTX *server_ctx;
    struct sockaddr_storage lsa;

    kks_log_init("switch");
    opterr = 0; /* a bad option is a log line, not getopt's plain text */
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'l': listen = optarg; break;
        case 'd': dbpath = optarg; break;
        case 'p': pki = optarg; break;
        case 'r': ready = optarg; break;
        case 'm': metrics = optarg; break;
        case 'i': issuer = optarg; break;
        case 's': seeds = optarg; break;
        case 't':
            if (rules_day_number(optarg) == INT32_MIN || strlen(optarg) != 10) {
                snprintf(msg, sizeof msg, "bad --today %.40s (expected YYYY-MM-DD)", optarg);
                return kks_daemon_usage("kks-switch", msg);
            }
            memcpy(s.today, optarg, 11);
            break;
        case 'R':
            if (nroutes == MAX_ROUTES)
                return kks_daemon_usage("kks-switch", "too many --route");
            routes[nroutes++] = optarg;
            break;
        case 'V': return kks_version_print(stdout, "kks-switch");
        case 'h': fputs(usage, stdout); return 0;
        default: return kks_daemon_bad_option("kks-switch", o, argv);
        }
    }
    if (optind != argc)
        return kks_daemon_usage("kks-switch", "unexpected arguments after the options");
    if (!listen || !dbpath || !pki || (!issuer && nroutes == 0))
        return kks_daemon_usage("kks-switch",
                                "--listen, --db, --pki and --issuer (or --route) are required");
    if ((rc = add_links(&s, issuer, routes, nroutes)) != 0)
        return rc;
    if (kks_addr_parse(listen, &lsa) < 0) {
        snprintf(msg, sizeof msg, "bad --listen %.200s (expected HOST:PORT)", listen);
        return kks_daemon_usage("kks-switch", msg);
    }
    /* The PKI files are the user's to fix (each failure is logged). */
    if (kks_tls_ctx_from_pki(&server_ctx, 1, pki, "switch") < 0 ||
        kks_tls_ctx_from_pki(&s.client_ctx, 0, pki, "switch") < 0 ||
        kks_pki_load_key(pki, "tmk", s.tmk, sizeof s.tmk) < 0 ||
        kks_pki_load_key(pki, "zpk", s.zpk, sizeof s.zpk) < 0)
        return KKS_EXIT_USAGE;
    s.d.loop = uv_default_loop();
    if ((rc = sw_open(&s, s.d.loop, dbpath, seeds, err, sizeof err)) < 0) {
        if (rc == KKS_EINVAL)
            return kks_daemon_usage("kks-switch", err);
        kks_error("cannot start", "error", err);
        return KKS_EXIT_INTERNAL;
    }
    s.d.app = &s;
    s.d.on_stopping = on_stopping;
    s.d.on_stopped = on_stopped;
    s.d.metrics_source = swm_render;
    s.d.metrics_ud = &s.metrics;
    snprintf(s.metrics.wal_path, sizeof s.metrics.wal_path, "%s-wal", dbpath);
    for (int i = 0; i < s.nlinks; i++) {
        kks_client_opts co = {
            .expect_role = KKS_ROLE_ISSUER,
            .reconnect = 1,
            .heartbeat_ms = LINK_HEARTBEAT_MS,
            .max_frame = KKS_FRAME_MAX, /* the issuer's cap for a switch */
        };
        if ((rc = kks_client_new(s.d.loop, s.client_ctx, s.links[i].addr, &co, &s.links[i].cl)) < 0) {
            snprintf(msg, sizeof msg, "bad issuer address %.200s: %s", s.links[i].addr,
                     kks_strerror(rc));
            return kks_daemon_usage("kks-switch", msg);
        }
    }
    kks_server_opts so = {
        .accept_roles = KKS_ROLE_TERMINAL | KKS_ROLE_OPERATOR,
        .on_request = sw_on_request,
        .ud = &s,
    };
    if ((rc = kks_server_new(s.d.loop, server_ctx, listen, &so, &s.d.srv)) < 0 ||
        (rc = kks_daemon_start(&s.d, metrics, ready)) < 0)
        return kks_daemon_exit_code(rc);
    uv_run(s.d.loop, UV_RUN_DEFAULT);
    kks_server_free(s.d.srv);
    sw_close(&s);
    uv_loop_close(s.d.loop);
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(s.client_ctx);
    return 0;
}
