/* kks-issuer: the card issuer. Authority for a card (PAN -> family, status, PIN).
 * Accepts the switch and operators (SPEC §4). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kks_daemon.h"
#include "kks_db.h"
#include "kks_err.h"
#include "kks_log.h"

static const char usage[] =
    "usage: kks-issuer --listen HOST:PORT --db FILE --pki DIR [--ready-file FILE]\n"
    "                  [--metrics HOST:PORT]\n"
    "\n"
    "The KKS card issuer. Serves the switch and operators over mutual TLS.\n"
    "  --listen A      address to listen on (port 0 picks one)\n"
    "  --db FILE       SQLite database (created if missing)\n"
    "  --pki DIR       PKI directory (uses DIR/issuer.crt, issuer.key, ca.crt); or KKS_PKI\n"
    "  --ready-file F  written with the bound address once listening\n"
    "  --metrics A     serve Prometheus metrics over HTTP on A\n";

/* Schema migrations, oldest first (kks_db.h). */
static const char *const migrations[] = {
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);",
};

typedef struct issuer {
    kks_daemon d;
    sqlite3 *db;
} issuer;

static void on_request(kks_conn *c, const Kks__Envelope *req, void *ud)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__Pong pong = KKS__PONG__INIT;
    Kks__Error er = KKS__ERROR__INIT;

    switch (req->body_case) {
    case KKS__ENVELOPE__BODY_PING:
        pong.role = "issuer";
        pong.identity = "issuer";
        pong.version = KKS_VERSION;
        rep.body_case = KKS__ENVELOPE__BODY_PONG;
        rep.pong = &pong;
        break;
    default:
        er.code = KKS_EUNEXPECTED;
        er.message = "the issuer does not handle this message";
        rep.body_case = KKS__ENVELOPE__BODY_ERROR;
        rep.error = &er;
        break;
    }
    kks_conn_reply(c, req->id, &rep);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'}, {"db", required_argument, 0, 'd'},
        {"pki", required_argument, 0, 'p'},    {"ready-file", required_argument, 0, 'r'},
        {"metrics", required_argument, 0, 'm'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *listen = NULL, *dbpath = NULL, *pki = getenv("KKS_PKI"), *ready = NULL,
               *metrics = NULL;
    issuer is = {0};
    SSL_CTX *ctx;
    int o, rc;

    kks_log_init("issuer");
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'l': listen = optarg; break;
        case 'd': dbpath = optarg; break;
        case 'p': pki = optarg; break;
        case 'r': ready = optarg; break;
        case 'm': metrics = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind != argc || !listen || !dbpath || !pki) {
        fputs("kks-issuer: --listen, --db and --pki are required\n", stderr);
        fputs(usage, stderr);
        return 2;
    }
    struct sockaddr_storage lsa;
    if (kks_addr_parse(listen, &lsa) < 0) {
        fprintf(stderr, "%s: bad --listen %s (expected HOST:PORT)\n", argv[0], listen);
        return 2;
    }
    if ((rc = kks_tls_ctx_from_pki(&ctx, 1, pki, "issuer")) < 0)
        return 2;
    if (kks_db_open(dbpath, migrations, sizeof migrations / sizeof migrations[0], &is.db) < 0)
        return 4;
    is.d.loop = uv_default_loop();
    is.d.app = &is;
    kks_server_opts so = {
        .accept_roles = KKS_ROLE_SWITCH | KKS_ROLE_OPERATOR,
        .on_request = on_request,
        .ud = &is,
    };
    if ((rc = kks_server_new(is.d.loop, ctx, listen, &so, &is.d.srv)) < 0)
        return rc == KKS_EADDR ? 2 : 4;
    if (kks_daemon_start(&is.d, metrics, ready) < 0)
        return 4;
    uv_run(is.d.loop, UV_RUN_DEFAULT);
    kks_server_free(is.d.srv);
    kks_db_close(is.db);
    uv_loop_close(is.d.loop);
    SSL_CTX_free(ctx);
    return 0;
}
