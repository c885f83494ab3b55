/* kksctl: the operator console. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "kks_err.h"
#include "kks_log.h"
#include "kks_pki.h"
#include "kks_seeds.h"

static const char usage[] =
    "usage: kksctl [--pki DIR] [--switch HOST:PORT] [--issuer HOST:PORT] [--json] COMMAND ...\n"
    "\n"
    "The KKS operator console.\n"
    "  pki init --dir DIR              make a development CA, certificates and PIN keys\n"
    "  pki terminal --dir DIR --id ID  make a terminal's certificate and key\n"
    "  ping                            role and version of each peer given\n"
    "  enroll FILE.csv                 enrol a registry extract; a card per family, and\n"
    "                                  (with a switch) the families' accounts\n"
    "  accounts open FILE.csv          open the accounts of an extract enrolled earlier\n"
    "  print --bank CODE [--site S] [--out FILE]   print all ISSUED cards of a bank\n"
    "  handover (--batch ID | --pan PAN) --site S --docs LIST  hand cards over to families\n"
    "  card show|lost|stolen|replace|damaged|renew|unblock PAN [--police-report REF]\n"
    "       [--docs LIST]            the card's life at the bank's desk\n"
    "  gen population --families N [--seed S] [--city CODE]   synthetic DTSEN extract on stdout\n"
    "  manifest --program pkh|bpnt --period P --registry FILE [--seeds DIR]  manifest on stdout\n"
    "  credit-run FILE.csv [--report FILE.html] [--metrics A] [--batch N]\n"
    "                                  stream a manifest to the switch (exactly once);\n"
    "                                  the figures, the switch's memory, an HTML report\n"
    "  ledger check                    verify the ledger's invariants\n"
    "  account show KK                 a family's wallets and last movements\n"
    "  settle --date YYYY-MM-DD [--out-dir DIR]   settle a business day (CSV and JSON)\n"
    "  lookup (--nik NIK | --kk KK)    the family, its cards and its account (both daemons)\n"
    "  complaint open --nik NIK --kind data|lost-card|disbursement|transaction [--rrn RRN]\n"
    "            --note TEXT           open a complaint with the evidence gathered now\n"
    "  complaint list [--open] | show ID | close ID --resolution TEXT   the complaints desk\n"
    "\n"
    "Peers and credentials come from --switch, --issuer, --pki or the environment\n"
    "variables KKS_SWITCH, KKS_ISSUER, KKS_PKI; kksctl uses DIR/operator.crt and .key.\n"
    "credit-run reads the switch's metrics address from --metrics or KKS_SWITCH_METRICS.\n"
    "--version (here or after any command) prints the version and the seeds directory\n"
    "in use: --seeds DIR, else $KKS_SEEDS, else the installed share/kks/seeds, else the\n"
    "source tree's seeds/.\n"
    "Exit codes: 0 done, 1 declined, 2 usage error, 3 cannot reach a peer, 4 internal error.\n";

kks_client *ctl_connect(ctl *c, const char *addr, unsigned role, int *exit_code)
{
    kks_client *cl;
    kks_client_opts o = {.expect_role = role};
    int rc;
    if (!c->pki) {
        fputs("kksctl: no PKI directory: give --pki DIR or set KKS_PKI\n", stderr);
        *exit_code = EXIT_USAGE;
        return NULL;
    }
    if (!c->ctx && kks_tls_ctx_from_pki(&c->ctx, 0, c->pki, "operator") < 0) {
        fprintf(stderr, "kksctl: cannot load the operator credentials from %s\n", c->pki);
        *exit_code = EXIT_USAGE;
        return NULL;
    }
    if ((rc = kks_client_new(c->loop, c->ctx, addr, &o, &cl)) < 0) {
        fprintf(stderr, "kksctl: %s: %s\n", addr, kks_strerror(rc));
        *exit_code = rc == KKS_EADDR ? EXIT_USAGE : EXIT_INTERNAL;
        return NULL;
    }
    return cl;
}

kks_client *ctl_peer(ctl *c, unsigned role, int *exit_code)
{
    kks_client **slot = role == KKS_ROLE_ISSUER ? &c->issuer_cl : &c->switch_cl;
    const char *addr = role == KKS_ROLE_ISSUER ? c->issuer : c->sw;
    if (*slot)
        return *slot;
    if (!addr) {
        fprintf(stderr, "kksctl: no %s address: give --%s HOST:PORT or set KKS_%s\n",
                kks_role_name(role), kks_role_name(role),
                role == KKS_ROLE_ISSUER ? "ISSUER" : "SWITCH");
        *exit_code = EXIT_USAGE;
        return NULL;
    }
    *slot = ctl_connect(c, addr, role, exit_code);
    return *slot;
}

int ctl_request(ctl *c, unsigned role, Kks__Envelope *req, Kks__Envelope **rep)
{
    int ec = EXIT_OK, rc;
    kks_client *cl = ctl_peer(c, role, &ec);
    *rep = NULL;
    if (!cl)
        return ec;
    rc = kks_client_call_wait(cl, req, CTL_TIMEOUT_MS, rep);
    if (rc < 0) {
        const char *why = kks_client_last_error(cl);
        fprintf(stderr, "kksctl: %s %s: %s\n", kks_role_name(role), kks_client_address(cl),
                *why ? why : kks_strerror(rc));
        return EXIT_PEER;
    }
    if ((*rep)->body_case == KKS__ENVELOPE__BODY_ERROR) {
        const Kks__Error *e = (*rep)->error;
        fprintf(stderr, "kksctl: %s says: %s\n", kks_role_name(role),
                e->message ? e->message : kks_strerror(e->code));
        ec = e->code == KKS_EPEERROLE ? EXIT_PEER : EXIT_INTERNAL;
        kks__envelope__free_unpacked(*rep, NULL);
        *rep = NULL;
        return ec;
    }
    return EXIT_OK;
}

void ctl_wib(const char *utc, char out[32])
{
    struct tm tm = {0};
    time_t t;
    if (!utc || sscanf(utc, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                       &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
        snprintf(out, 32, "%s", utc ? utc : "");
        return;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    t = timegm(&tm) + 7 * 3600;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%d %H:%M WIB", &tm);
}

int ctl_json_print(json_t *v)
{
    int rc = kks_json_print(stdout, v);
    if (rc == 0)
        return EXIT_OK;
    fprintf(stderr, "kksctl: cannot write the JSON output: %s\n", kks_strerror(rc));
    return EXIT_INTERNAL;
}

int ctl_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

json_t *ctl_rejected_json(const ctl_rej *rejs, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        kks_json_append(&a, json_pack("{s:I,s:o}", "line", (json_int_t)rejs[i].line, "reason",
                                      kks_json_str(rejs[i].reason)));
    return a;
}

static int cmd_pki_init(int argc, char **argv)
{
    static const struct option opts[] = {{"dir", required_argument, 0, 'd'},
                                         {"help", no_argument, 0, 'h'},
                                         {"version", no_argument, 0, 'V'},
                                         {0, 0, 0, 0}};
    const char *dir = NULL;
    int o, rc;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (o == 'd')
            dir = optarg;
        else if (o == 'V')
            return kks_version_print(stdout, "kksctl");
        else if (o == 'h') {
            puts("usage: kksctl pki init --dir DIR");
            return EXIT_OK;
        } else
            return EXIT_USAGE;
    }
    if (!dir || optind != argc) {
        fputs("usage: kksctl pki init --dir DIR\n", stderr);
        return EXIT_USAGE;
    }
    rc = kks_pki_init(dir);
    if (rc == KKS_EEXISTS)
        return EXIT_USAGE;
    if (rc < 0)
        return EXIT_INTERNAL;
    printf("PKI created in %s: CA, issuer, switch and operator certificates; keys/tmk.key, "
           "keys/zpk.key, keys/pvk.key\n",
           dir);
    return EXIT_OK;
}

static int cmd_pki_terminal(int argc, char **argv)
{
    static const struct option opts[] = {{"dir", required_argument, 0, 'd'},
                                         {"id", required_argument, 0, 'i'},
                                         {"help", no_argument, 0, 'h'},
                                         {"version", no_argument, 0, 'V'},
                                         {0, 0, 0, 0}};
    const char *dir = NULL, *id = NULL;
    int o, rc;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (o == 'd')
            dir = optarg;
        else if (o == 'i')
            id = optarg;
        else if (o == 'V')
            return kks_version_print(stdout, "kksctl");
        else if (o == 'h') {
            puts("usage: kksctl pki terminal --dir DIR --id ID   (ID: EW-..., ATM-..., BR-...)");
            return EXIT_OK;
        } else
            return EXIT_USAGE;
    }
    if (!dir || !id || optind != argc) {
        fputs("usage: kksctl pki terminal --dir DIR --id ID\n", stderr);
        return EXIT_USAGE;
    }
    rc = kks_pki_terminal(dir, id);
    if (rc == KKS_EINVAL || rc == KKS_EPKI)
        return EXIT_USAGE;
    if (rc < 0)
        return EXIT_INTERNAL;
    printf("terminal %s: %s/terminals/%s.crt and .key\n", id, dir, id);
    return EXIT_OK;
}

static const char pki_usage[] =
    "usage: kksctl pki init --dir DIR | kksctl pki terminal --dir DIR --id ID";

int cmd_pki(ctl *c, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "init") == 0)
        return cmd_pki_init(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "terminal") == 0)
        return cmd_pki_terminal(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "--version") == 0)
        return kks_version_print(stdout, "kksctl");
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        puts(pki_usage);
        return EXIT_OK;
    }
    fprintf(stderr, "%s\n", pki_usage);
    return EXIT_USAGE;
}

static const struct {
    const char *name;
    int (*fn)(ctl *, int, char **);
} commands[] = {
    {"pki", cmd_pki},
    {"ping", cmd_ping},
    {"enroll", cmd_enroll},
    {"accounts", cmd_accounts},
    {"print", cmd_print},
    {"handover", cmd_handover},
    {"card", cmd_card},
    {"gen", cmd_gen},
    {"manifest", cmd_manifest},
    {"credit-run", cmd_credit_run},
    {"period", cmd_period},
    {"ledger", cmd_ledger},
    {"account", cmd_account},
    {"settle", cmd_settle},
    {"lookup", cmd_lookup},
    {"complaint", cmd_complaint},
};

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pki", required_argument, 0, 'p'},    {"switch", required_argument, 0, 's'},
        {"issuer", required_argument, 0, 'i'}, {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},         {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    ctl c = {.pki = getenv("KKS_PKI"), .sw = getenv("KKS_SWITCH"), .issuer = getenv("KKS_ISSUER")};
    int o, rc = EXIT_USAGE;

    kks_log_init("kksctl");
    kks_log_set_level(KKS_LOG_ERROR);
    /* Global options come before the command ("+": stop at the first word). */
    while ((o = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (o) {
        case 'p': c.pki = optarg; break;
        case 's': c.sw = optarg; break;
        case 'i': c.issuer = optarg; break;
        case 'j': c.json = 1; break;
        case 'V': return kks_version_print(stdout, "kksctl");
        case 'h': fputs(usage, stdout); return EXIT_OK;
        default: fputs(usage, stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[optind], commands[i].name) != 0)
            continue;
        c.loop = uv_default_loop();
        argv += optind;
        argc -= optind;
        optind = 0; /* reset getopt for the command's own options */
        rc = commands[i].fn(&c, argc, argv);
        kks_client_free(c.issuer_cl);
        kks_client_free(c.switch_cl);
        uv_run(c.loop, UV_RUN_DEFAULT); /* let closing handles finish */
        uv_loop_close(c.loop);
        SSL_CTX_free(c.ctx);
        return rc;
    }
    fprintf(stderr, "kksctl: unknown command %s\n", argv[optind]);
    fputs(usage, stderr);
    return EXIT_USAGE;
}
