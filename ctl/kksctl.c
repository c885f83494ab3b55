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
    "  period run --families N [--seed S] [--month YYYY-MM] [--report FILE.html]\n"
    "                                  a national period in one command: generate,\n"
    "                                  enrol, open accounts, PKH and BPNT manifests, credit\n"    "  ledger check                    verify the ledger's invariants\n"
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
    "Exit codes: 0 done, 1 declined, 2 usage error, 3 cannot reach a peer, 4 internal error.\n"
    "With --json stdout is one JSON object, a failure too: {\"error\":\"...\",\"exit\":N}.\n";

kks_client *ctl_connect(ctl *c, const char *addr, unsigned role, int *exit_code)
{
    kks_client *cl;
    kks_client_opts o = {.expect_role = role};
    int rc;
    if (!c->pki) {
        ctl_say("kksctl: no PKI directory: give --pki DIR or set KKS_PKI\n");
        *exit_code = EXIT_USAGE;
        return NULL;
    }
    if (!c->ctx && kks_tls_ctx_from_pki(&c->ctx, 0, c->pki, "operator") < 0) {
        ctl_say("kksctl: cannot load the operator credentials from %s\n", c->pki);
        *exit_code = EXIT_USAGE;
        return NULL;
    }
    if ((rc = kks_client_new(c->loop, c->ctx, addr, &o, &cl)) < 0) {
        ctl_say("kksctl: %s: %s\n", addr, kks_strerror(rc));
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
        ctl_say("kksctl: no %s address: give --%s HOST:PORT or set KKS_%s\n",
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
    return ctl_request_for(c, role, req, rep, CTL_TIMEOUT_MS);
}

int ctl_request_for(ctl *c, unsigned role, Kks__Envelope *req, Kks__Envelope **rep,
                    unsigned timeout_ms)
{
    int ec = EXIT_OK, rc;
    kks_client *cl = ctl_peer(c, role, &ec);
    *rep = NULL;
    if (!cl)
        return ec;
    rc = kks_client_call_wait(cl, req, timeout_ms, rep);
    if (rc < 0) {
        const char *why = kks_client_last_error(cl);
        ctl_say("kksctl: %s %s: %s\n", kks_role_name(role), kks_client_address(cl),
                *why ? why : kks_strerror(rc));
        return EXIT_PEER;
    }
    if ((*rep)->body_case == KKS__ENVELOPE__BODY_ERROR) {
        const Kks__Error *e = (*rep)->error;
        ctl_say("kksctl: %s says: %s\n", kks_role_name(role),
                e->message ? e->message : kks_strerror(e->code));
        ec = e->code == KKS_EPEERROLE || e->code == KKS_ESHUTDOWN ? EXIT_PEER : EXIT_INTERNAL;
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

/* Whether the command printed JSON of its own, or other data, on stdout
 * (then main() adds no error object). */
static int stdout_taken;

void ctl_stdout_taken(void)
{
    stdout_taken = 1;
}

int ctl_json_print(json_t *v)
{
    int rc;
    stdout_taken = 1;
    if ((rc = kks_json_print(stdout, v)) == 0)
        return EXIT_OK;
    ctl_say("kksctl: cannot write the JSON output: %s\n", kks_strerror(rc));
    return EXIT_INTERNAL;
}

int ctl_getopt(int argc, char **argv, const struct option *opts)
{
    int o;
    opterr = 0;
    o = getopt_long(argc, argv, ":h", opts, NULL);
    if (o == '?' || o == ':') {
        char msg[80];
        kks_cli_bad_option(o, argv, msg, sizeof msg);
        ctl_say("kksctl %s: %s\n", argv[0], msg);
        return '?';
    }
    return o;
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

/* What pki init and pki terminal made: a line for people, or with --json
 * {"dir":DIR,"files":[paths...]}. */
static int pki_made(ctl *c, const char *dir, const char *const *files, size_t n, const char *text)
{
    json_t *o, *a;
    if (!c->json) {
        puts(text);
        return EXIT_OK;
    }
    a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        kks_json_append(&a, kks_json_str(p));
    }
    o = json_pack("{s:o,s:o}", "dir", kks_json_str(dir), "files", a);
    return ctl_json_print(o);
}

/* The options pki init and pki terminal share; returns 0 to go on, else 1
 * with *ec the exit code (help, version or a usage error). */
static int pki_option(ctl *c, int o, const char *use, int *ec)
{
    switch (o) {
    case 'j': c->json = 1; return 0;
    case 'V': *ec = kks_version_print(stdout, "kksctl"); return 1;
    case 'h': puts(use); *ec = EXIT_OK; return 1;
    default: *ec = EXIT_USAGE; return 1;
    }
}

/* Says why pki init or pki terminal failed (what: the directory, or the ID
 * for KKS_EINVAL); the exit code. */
static int pki_failed(const char *what, int rc)
{
    switch (rc) {
    case KKS_EEXISTS:
        ctl_say("kksctl: %s already holds a PKI; remove it first to make a new one\n", what);
        return EXIT_USAGE;
    case KKS_EINVAL:
        ctl_say("kksctl: %s: not a terminal ID (EW-..., ATM-..., BR-...)\n", what);
        return EXIT_USAGE;
    case KKS_EPKI:
        ctl_say("kksctl: %s: no CA here; run kksctl pki init first\n", what);
        return EXIT_USAGE;
    default:
        ctl_say("kksctl: cannot make the PKI in %s: %s\n", what, kks_strerror(rc));
        return EXIT_INTERNAL;
    }
}

static int cmd_pki_init(ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {{"dir", required_argument, 0, 'd'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {"version", no_argument, 0, 'V'},
                                         {0, 0, 0, 0}};
    static const char use[] = "usage: kksctl pki init --dir DIR [--json]";
    static const char *const files[] = {"ca.crt",       "ca.key",       "issuer.crt",
                                        "issuer.key",   "switch.crt",   "switch.key",
                                        "operator.crt", "operator.key", "keys/tmk.key",
                                        "keys/zpk.key", "keys/pvk.key"};
    const char *dir = NULL;
    char text[4300];
    int o, rc, ec;
    while ((o = ctl_getopt(argc, argv, opts)) != -1) {
        if (o == 'd')
            dir = optarg;
        else if (pki_option(c, o, use, &ec))
            return ec;
    }
    if (!dir || optind != argc) {
        ctl_say("%s\n", use);
        return EXIT_USAGE;
    }
    if ((rc = kks_pki_init(dir)) < 0)
        return pki_failed(dir, rc);
    snprintf(text, sizeof text,
             "PKI created in %s: CA, issuer, switch and operator certificates; keys/tmk.key, "
             "keys/zpk.key, keys/pvk.key",
             dir);
    return pki_made(c, dir, files, sizeof files / sizeof files[0], text);
}

static int cmd_pki_terminal(ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {{"dir", required_argument, 0, 'd'},
                                         {"id", required_argument, 0, 'i'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {"version", no_argument, 0, 'V'},
                                         {0, 0, 0, 0}};
    static const char use[] =
        "usage: kksctl pki terminal --dir DIR --id ID [--json]   (ID: EW-..., ATM-..., BR-...)";
    const char *dir = NULL, *id = NULL;
    char crt[200], key[200], tpk[200], text[4300];
    int o, rc, ec;
    while ((o = ctl_getopt(argc, argv, opts)) != -1) {
        if (o == 'd')
            dir = optarg;
        else if (o == 'i')
            id = optarg;
        else if (pki_option(c, o, use, &ec))
            return ec;
    }
    if (!dir || !id || optind != argc) {
        ctl_say("%s\n", use);
        return EXIT_USAGE;
    }
    if ((rc = kks_pki_terminal(dir, id)) < 0)
        return pki_failed(rc == KKS_EINVAL ? id : dir, rc);
    snprintf(crt, sizeof crt, "terminals/%.100s.crt", id);
    snprintf(key, sizeof key, "terminals/%.100s.key", id);
    snprintf(tpk, sizeof tpk, "terminals/%.100s.tpk", id);
    snprintf(text, sizeof text, "terminal %s: %s/terminals/%s.crt and .key", id, dir, id);
    return pki_made(c, dir, (const char *const[]){crt, key, tpk}, 3, text);
}

static const char pki_usage[] =
    "usage: kksctl pki init --dir DIR | kksctl pki terminal --dir DIR --id ID";

int cmd_pki(ctl *c, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "init") == 0)
        return cmd_pki_init(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "terminal") == 0)
        return cmd_pki_terminal(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "--version") == 0)
        return kks_version_print(stdout, "kksctl");
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        puts(pki_usage);
        return EXIT_OK;
    }
    if (argc >= 2)
        ctl_say("kksctl pki: unknown command %.40s\n", argv[1]);
    ctl_say("%s\n", pki_usage);
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

/* Runs the command named by argv[0]; EXIT_USAGE after saying why when there
 * is none of that name. */
static int run_command(ctl *c, int argc, char **argv)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        int rc;
        if (strcmp(argv[0], commands[i].name) != 0)
            continue;
        c->loop = uv_default_loop();
        optind = 0; /* reset getopt for the command's own options */
        rc = commands[i].fn(c, argc, argv);
        kks_client_free(c->issuer_cl);
        kks_client_free(c->switch_cl);
        uv_run(c->loop, UV_RUN_DEFAULT); /* let closing handles finish */
        uv_loop_close(c->loop);
        SSL_CTX_free(c->ctx);
        return rc;
    }
    ctl_say("kksctl: unknown command %.40s\n", argv[0]);
    fputs(usage, stderr);
    return EXIT_USAGE;
}

/* --json anywhere on the line (before a lone "--"): a usage error found
 * before the command reads its own --json is then an error object too. */
static int wants_json(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--json") == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pki", required_argument, 0, 'p'},    {"switch", required_argument, 0, 's'},
        {"issuer", required_argument, 0, 'i'}, {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},         {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    ctl c = {.pki = getenv("KKS_PKI"), .sw = getenv("KKS_SWITCH"), .issuer = getenv("KKS_ISSUER"),
             .json = wants_json(argc, argv)};
    int o, rc = EXIT_OK;
    char msg[80];

    kks_log_init("kksctl");
    kks_log_set_level(KKS_LOG_ERROR);
    opterr = 0;
    /* Global options come before the command ("+": stop at the first word). */
    while (rc == EXIT_OK && (o = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (o) {
        case 'p': c.pki = optarg; break;
        case 's': c.sw = optarg; break;
        case 'i': c.issuer = optarg; break;
        case 'j': c.json = 1; break;
        case 'V': return kks_version_print(stdout, "kksctl");
        case 'h': fputs(usage, stdout); return EXIT_OK;
        default:
            kks_cli_bad_option(o, argv, msg, sizeof msg);
            ctl_say("kksctl: %s\n", msg);
            fputs(usage, stderr);
            rc = EXIT_USAGE;
        }
    }
    if (rc == EXIT_OK && optind >= argc) {
        ctl_say("kksctl: no command given\n");
        fputs(usage, stderr);
        rc = EXIT_USAGE;
    }
    if (rc == EXIT_OK)
        rc = run_command(&c, argc - optind, argv + optind);
    if (rc != EXIT_OK && c.json && !stdout_taken)
        kks_cli_error_json(stdout, *ctl_said() ? ctl_said() : kks_cli_exit_name(rc), rc);
    return rc;
}
