/* kksctl ping: asks each peer given for its role, identity and version; the
 * switch also reports each issuer link as it saw it just now. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "kks_err.h"
#include "kks_log.h"

#define PING_TIMEOUT_MS 5000

static void json_str(const char *key, const char *v, int comma)
{
    char buf[512];
    kks_json_escape(buf, sizeof buf, v ? v : "");
    printf("\"%s\":%s%s", key, buf, comma ? "," : "");
}

static void print_links(const Kks__Pong *p, int json)
{
    for (size_t i = 0; i < p->n_links; i++) {
        const Kks__Link *l = p->links[i];
        char bins[256] = "";
        size_t n = 0;
        for (size_t b = 0; b < l->n_bins && n < sizeof bins; b++)
            n += (size_t)snprintf(bins + n, sizeof bins - n, "%s%s", b ? "," : "", l->bins[b]);
        if (json) {
            printf("%s{", i ? "," : "");
            json_str("address", l->address, 1);
            json_str("bins", bins, 1);
            printf("\"default\":%s,\"up\":%s,", l->is_default ? "true" : "false",
                   l->up ? "true" : "false");
            json_str("role", l->role, 1);
            json_str("identity", l->identity, 1);
            json_str("version", l->version, 1);
            printf("\"rtt_us\":%u,", l->rtt_us);
            json_str("error", l->error, 0);
            printf("}");
            continue;
        }
        printf("  issuer link %s (%s%s%s): ", l->address, l->is_default ? "default route" : "",
               l->is_default && n ? ", BIN " : (n ? "BIN " : ""), bins);
        if (l->up)
            printf("up, %s \"%s\" %s, %.1f ms\n", l->role, l->identity, l->version,
                   l->rtt_us / 1000.0);
        else
            printf("DOWN: %s\n", l->error && *l->error ? l->error : "no answer");
    }
}

/* Pings one peer; returns the exit code for it. */
static int ping_one(ctl *c, const char *what, const char *addr, unsigned role, int first)
{
    Kks__Envelope req = KKS__ENVELOPE__INIT, *rep = NULL;
    Kks__Ping ping = KKS__PING__INIT;
    int ec = EXIT_OK, rc;
    kks_client *cl = ctl_connect(c, addr, role, &ec);
    if (!cl)
        return ec;
    req.body_case = KKS__ENVELOPE__BODY_PING;
    req.ping = &ping;
    rc = kks_client_call_wait(cl, &req, PING_TIMEOUT_MS, &rep);
    if (rc == 0 && rep->body_case != KKS__ENVELOPE__BODY_PONG)
        rc = KKS_EUNEXPECTED;
    if (c->json) {
        printf("%s{", first ? "" : ",");
        json_str("peer", what, 1);
        json_str("address", addr, 1);
        if (rc == 0) {
            printf("\"ok\":true,");
            json_str("role", rep->pong->role, 1);
            json_str("identity", rep->pong->identity, 1);
            json_str("version", rep->pong->version, 1);
            printf("\"links\":[");
            print_links(rep->pong, 1);
            printf("]}");
        } else {
            const char *why = kks_client_last_error(cl);
            printf("\"ok\":false,");
            json_str("error", *why ? why : kks_strerror(rc), 0);
            printf("}");
        }
    } else if (rc == 0) {
        printf("%-7s %s: %s \"%s\" version %s\n", what, addr, rep->pong->role,
               rep->pong->identity, rep->pong->version);
        print_links(rep->pong, 0);
    } else {
        const char *why = kks_client_last_error(cl);
        printf("%-7s %s: UNREACHABLE: %s\n", what, addr, *why ? why : kks_strerror(rc));
    }
    if (rc < 0)
        ec = EXIT_PEER;
    else
        for (size_t i = 0; i < rep->pong->n_links; i++)
            if (!rep->pong->links[i]->up)
                ec = EXIT_PEER; /* a switch that cannot reach an issuer is not all right */
    if (rep)
        kks__envelope__free_unpacked(rep, NULL);
    kks_client_free(cl);
    return ec;
}

int cmd_ping(ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"switch", required_argument, 0, 's'}, {"issuer", required_argument, 0, 'i'},
        {"pki", required_argument, 0, 'p'},    {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
    };
    int o, ec = EXIT_OK, n = 0, r;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 's': c->sw = optarg; break;
        case 'i': c->issuer = optarg; break;
        case 'p': c->pki = optarg; break;
        case 'j': c->json = 1; break;
        case 'h':
            puts("usage: kksctl ping [--switch A] [--issuer A] [--pki DIR] [--json]");
            return EXIT_OK;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc || (!c->sw && !c->issuer)) {
        fputs("usage: kksctl ping [--switch A] [--issuer A]: give at least one peer\n", stderr);
        return EXIT_USAGE;
    }
    if (c->json)
        printf("{\"peers\":[");
    if (c->sw) {
        r = ping_one(c, "switch", c->sw, KKS_ROLE_SWITCH, n++ == 0);
        ec = r > ec ? r : ec;
    }
    if (c->issuer) {
        r = ping_one(c, "issuer", c->issuer, KKS_ROLE_ISSUER, n++ == 0);
        ec = r > ec ? r : ec;
    }
    if (c->json)
        printf("]}\n");
    return ec;
}
