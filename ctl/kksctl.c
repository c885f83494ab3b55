/* kksctl: the operator console. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "kks_err.h"
#include "kks_log.h"
#include "kks_pki.h"

static const char usage[] =
    "usage: kksctl [--pki DIR] [--switch HOST:PORT] [--issuer HOST:PORT] [--json] COMMAND ...\n"
    "\n"
    "The KKS operator console.\n"
    "  pki init --dir DIR              make a development CA, certificates and PIN keys\n"
    "  pki terminal --dir DIR --id ID  make a terminal's certificate and key\n"
    "  ping                            role and version of each peer given\n"
    "\n"
    "Peers and credentials come from --switch, --issuer, --pki or the environment\n"
    "variables KKS_SWITCH, KKS_ISSUER, KKS_PKI; kksctl uses DIR/operator.crt and .key.\n"
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

static int cmd_pki_init(int argc, char **argv)
{
    static const struct option opts[] = {{"dir", required_argument, 0, 'd'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *dir = NULL;
    int o, rc;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (o == 'd')
            dir = optarg;
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
                                         {0, 0, 0, 0}};
    const char *dir = NULL, *id = NULL;
    int o, rc;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (o == 'd')
            dir = optarg;
        else if (o == 'i')
            id = optarg;
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

int cmd_pki(ctl *c, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "init") == 0)
        return cmd_pki_init(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "terminal") == 0)
        return cmd_pki_terminal(argc - 1, argv + 1);
    fputs("usage: kksctl pki init --dir DIR | kksctl pki terminal --dir DIR --id ID\n", stderr);
    return EXIT_USAGE;
}

static const struct {
    const char *name;
    int (*fn)(ctl *, int, char **);
} commands[] = {
    {"pki", cmd_pki},
    {"ping", cmd_ping},
};

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pki", required_argument, 0, 'p'},    {"switch", required_argument, 0, 's'},
        {"issuer", required_argument, 0, 'i'}, {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
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
        uv_run(c.loop, UV_RUN_DEFAULT); /* let closing handles finish */
        uv_loop_close(c.loop);
        SSL_CTX_free(c.ctx);
        return rc;
    }
    fprintf(stderr, "kksctl: unknown command %s\n", argv[optind]);
    fputs(usage, stderr);
    return EXIT_USAGE;
}
