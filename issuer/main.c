/* kks-issuer: the card issuer. Authority for a card (PAN -> family, status, PIN).
 * Accepts the switch and operators (SPEC §4). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "issuer.h"
#include "kks_cli.h"
#include "kks_err.h"
#include "kks_log.h"
#include "kks_pki.h"
#include "kks_rc.h"
#include "kks_registry.h"
#include "kks_seeds.h"

static const char usage[] =
    "usage: kks-issuer --listen HOST:PORT --db FILE --pki DIR [--ready-file FILE]\n"
    "                  [--metrics HOST:PORT] [--seeds DIR] [--today YYYY-MM-DD]\n"
    "\n"
    "The KKS card issuer. Serves the switch and operators over mutual TLS.\n"
    "  --listen A      address to listen on (port 0 picks one)\n"
    "  --db FILE       SQLite database (created if missing)\n"
    "  --pki DIR       PKI directory (uses DIR/issuer.crt, issuer.key, ca.crt); or KKS_PKI\n"
    "  --ready-file F  written with the bound address once listening\n"
    "  --metrics A     serve Prometheus metrics over HTTP on A\n"
    "  --seeds DIR     banks, regions, card and complaint policy (default: $KKS_SEEDS,\n"
    "                  else the installed share/kks/seeds, else the source tree's)\n"
    "  --today D       fix the business date (card expiry, complaint due dates), for tests\n"
    "                  and training\n"
    "  --version       the version and the default seeds directory\n";

static void dispatch(issuer *is, kks_conn *c, const Kks__Envelope *req);

static void on_request(kks_conn *c, const Kks__Envelope *req, void *ud)
{
    issuer *is = ud;
    dispatch(is, c, req);
    kks_db_reset_all(is->db); /* no read transaction outlives the request */
}

static void dispatch(issuer *is, kks_conn *c, const Kks__Envelope *req)
{
    int op = kks_conn_role(c) == KKS_ROLE_OPERATOR;
    switch (req->body_case) {
    case KKS__ENVELOPE__BODY_PING: {
        Kks__Envelope rep = KKS__ENVELOPE__INIT;
        Kks__Pong pong = KKS__PONG__INIT;
        pong.role = "issuer";
        pong.identity = "issuer";
        pong.version = KKS_VERSION;
        pong.database = is->identity;
        rep.body_case = KKS__ENVELOPE__BODY_PONG;
        rep.pong = &pong;
        kks_conn_reply(c, req->id, &rep);
        return;
    }
    case KKS__ENVELOPE__BODY_ENROLL_BATCH:
        if (op)
            enroll_handle(is, c, req);
        else
            kks_conn_reply_error(c, req->id, KKS_EPEERROLE, "enrolment is for operators");
        return;
    case KKS__ENVELOPE__BODY_CARD_REQUEST:
    case KKS__ENVELOPE__BODY_PRINT_REQUEST:
    case KKS__ENVELOPE__BODY_BATCH_LINES_REQUEST:
    case KKS__ENVELOPE__BODY_HANDOVER_REQUEST:
        if (op)
            cards_handle(is, c, req);
        else
            kks_conn_reply_error(c, req->id, KKS_EPEERROLE, "card management is for operators");
        return;
    case KKS__ENVELOPE__BODY_LOOKUP_REQUEST:
    case KKS__ENVELOPE__BODY_COMPLAINT_REQUEST:
        if (op)
            desk_handle(is, c, req);
        else
            kks_conn_reply_error(c, req->id, KKS_EPEERROLE, "the complaints desk is for operators");
        return;
    case KKS__ENVELOPE__BODY_PIN_SET:
    case KKS__ENVELOPE__BODY_PIN_VERIFY:
    case KKS__ENVELOPE__BODY_PIN_CHANGE:
        if (kks_conn_role(c) == KKS_ROLE_SWITCH)
            cards_handle(is, c, req);
        else
            kks_conn_reply_error(c, req->id, KKS_EPEERROLE, "PIN operations come from the switch");
        return;
    default:
        kks_conn_reply_error(c, req->id, KKS_EUNEXPECTED, "the issuer does not handle this message");
        return;
    }
}

/* A reply whose transaction did not commit (disk full, I/O error: nothing of
 * it was written; kks_group.h): the replies that carry a response code say
 * 96 as the handlers do for a failed statement, so that the switch passes 96
 * on to the terminal; the others keep the group's Error. */
static void uncommitted_reply(kks_conn *c, uint64_t id, const Kks__Envelope *rep)
{
    static const char why[] = "system malfunction; nothing changed";
    Kks__Envelope out = KKS__ENVELOPE__INIT;
    Kks__PinReply pr = KKS__PIN_REPLY__INIT;
    Kks__CardReply cr = KKS__CARD_REPLY__INIT;
    Kks__PrintReply pp = KKS__PRINT_REPLY__INIT;
    Kks__HandoverReply hr = KKS__HANDOVER_REPLY__INIT;
    out.body_case = rep->body_case;
    switch (rep->body_case) {
    case KKS__ENVELOPE__BODY_PIN_REPLY:
        pr.rc = KKS_RC_SYSTEM;
        pr.reason = (char *)why;
        pr.kk = rep->pin_reply->kk;
        out.pin_reply = &pr;
        break;
    case KKS__ENVELOPE__BODY_CARD_REPLY:
        cr.rc = KKS_RC_SYSTEM;
        cr.reason = (char *)why;
        out.card_reply = &cr;
        break;
    case KKS__ENVELOPE__BODY_PRINT_REPLY:
        pp.rc = KKS_RC_SYSTEM;
        pp.reason = (char *)why;
        out.print_reply = &pp;
        break;
    case KKS__ENVELOPE__BODY_HANDOVER_REPLY:
        hr.rc = KKS_RC_SYSTEM;
        hr.reason = (char *)why;
        out.handover_reply = &hr;
        break;
    default:
        kks_conn_reply_error(c, id, KKS_EDB,
                             "database error at commit; nothing of this request was written");
        return;
    }
    kks_conn_reply(c, id, &out);
}

static void on_stopped(kks_daemon *d)
{
    issuer *is = d->app;
    kks_group_free(is->group); /* commits what is held, then its handles close */
    is->group = NULL;
}

/* Everything main() checks before it opens anything; 0, or the exit code
 * after logging why. */
static int check_args(issuer *is, const char *listen, const char *dbpath, const char *pki,
                      const char *today, const char *seeds)
{
    struct sockaddr_storage lsa;
    char err[512], msg[600];
    if (!listen || !dbpath || !pki)
        return kks_daemon_usage("kks-issuer", "--listen, --db and --pki are required");
    if (kks_addr_parse(listen, &lsa) < 0) {
        snprintf(msg, sizeof msg, "bad --listen %.200s (expected HOST:PORT)", listen);
        return kks_daemon_usage("kks-issuer", msg);
    }
    if (today) {
        int y, m, d;
        if (kks_ymd_parse(today, &y, &m, &d) < 0) {
            snprintf(msg, sizeof msg, "bad --today %.40s (expected YYYY-MM-DD)", today);
            return kks_daemon_usage("kks-issuer", msg);
        }
        snprintf(is->today, sizeof is->today, "%s", today);
        is->fixed_today = 1;
    }
    if (kks_seeds_load(&is->seeds, seeds, err, sizeof err) < 0 ||
        kks_docs_load(&is->docs, seeds, err, sizeof err) < 0 ||
        kks_desk_policy_load(&is->desk, seeds, err, sizeof err) < 0) {
        snprintf(msg, sizeof msg, "seeds: %s", err);
        return kks_daemon_usage("kks-issuer", msg);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'}, {"db", required_argument, 0, 'd'},
        {"pki", required_argument, 0, 'p'},    {"ready-file", required_argument, 0, 'r'},
        {"metrics", required_argument, 0, 'm'}, {"seeds", required_argument, 0, 's'},
        {"today", required_argument, 0, 't'},  {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    const char *listen = NULL, *dbpath = NULL, *pki = getenv("KKS_PKI"), *ready = NULL,
               *metrics = NULL, *seeds = kks_seeds_default(NULL), *today = NULL;
    /* Static, as is what hangs off them: what a failed start leaves behind
     * is not a leak but the process's own, and it exits at once. */
    static issuer is;
    static SSL_CTX *ctx;
    int o, rc, ec;

    kks_log_init("issuer");
    opterr = 0; /* a bad option is a log line, not getopt's plain text */
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'l': listen = optarg; break;
        case 'd': dbpath = optarg; break;
        case 'p': pki = optarg; break;
        case 'r': ready = optarg; break;
        case 'm': metrics = optarg; break;
        case 's': seeds = optarg; break;
        case 't': today = optarg; break;
        case 'V': return kks_version_print(stdout, "kks-issuer");
        case 'h': fputs(usage, stdout); return 0;
        default: return kks_daemon_bad_option("kks-issuer", o, argv);
        }
    }
    if (optind != argc)
        return kks_daemon_usage("kks-issuer", "unexpected arguments after the options");
    if ((ec = check_args(&is, listen, dbpath, pki, today, seeds)) != 0)
        return ec;
    /* The PKI files are the user's to fix (each failure is logged). */
    if (kks_tls_ctx_from_pki(&ctx, 1, pki, "issuer") < 0 ||
        kks_pki_load_key(pki, "zpk", is.zpk, sizeof is.zpk) < 0 ||
        kks_pki_load_key(pki, "pvk", is.pvk, sizeof is.pvk) < 0)
        return KKS_EXIT_USAGE;
    if ((rc = store_open(&is, dbpath)) < 0) /* a path that cannot be opened is the user's */
        return rc == KKS_EINVAL ? KKS_EXIT_USAGE : KKS_EXIT_INTERNAL;
    kks_group_set_failure(is.group, uncommitted_reply);
    is.d.loop = uv_default_loop();
    is.d.app = &is;
    is.d.on_stopped = on_stopped;
    kks_server_opts so = {
        .accept_roles = KKS_ROLE_SWITCH | KKS_ROLE_OPERATOR,
        .on_request = on_request,
        .ud = &is,
    };
    if ((rc = kks_server_new(is.d.loop, ctx, listen, &so, &is.d.srv)) < 0 ||
        (rc = kks_daemon_start(&is.d, metrics, ready)) < 0)
        return kks_daemon_exit_code(rc);
    uv_run(is.d.loop, UV_RUN_DEFAULT);
    kks_server_free(is.d.srv);
    store_close(&is);
    OPENSSL_cleanse(is.zpk, sizeof is.zpk);
    OPENSSL_cleanse(is.pvk, sizeof is.pvk);
    uv_loop_close(is.d.loop);
    SSL_CTX_free(ctx);
    return 0;
}
