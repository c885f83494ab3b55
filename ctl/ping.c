/* kksctl ping: asks each peer given for its role, identity, version and its
 * database's identity; the switch also reports each issuer link as it saw it
 * just now. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "kks_err.h"
#include "kks_seeds.h"

#define PING_TIMEOUT_MS 5000

/* The BINs routed over a link, joined with commas; returns the length. */
static size_t join_bins(const Kks__Link *l, char bins[256])
{
    size_t n = 0;
    bins[0] = '\0';
    for (size_t b = 0; b < l->n_bins && n < 256; b++)
        n += (size_t)snprintf(bins + n, 256 - n, "%s%s", b ? "," : "", l->bins[b]);
    return n;
}

/* The switch's issuer links as JSON, bins joined as on screen. */
static json_t *links_json(const Kks__Pong *p)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < p->n_links; i++) {
        const Kks__Link *l = p->links[i];
        char bins[256];
        json_t *o = kks_json_pb(&l->base, "address");
        join_bins(l, bins);
        kks_json_set(&o, "bins", kks_json_str(bins));
        kks_json_set_pb(&o, &l->base, "default=is_default up role identity version rtt_us error");
        kks_json_append(&a, o);
    }
    return a;
}

static void print_links(const Kks__Pong *p)
{
    for (size_t i = 0; i < p->n_links; i++) {
        const Kks__Link *l = p->links[i];
        char bins[256];
        size_t n = join_bins(l, bins);
        printf("  issuer link %s (%s%s%s): ", l->address, l->is_default ? "default route" : "",
               l->is_default && n ? ", BIN " : (n ? "BIN " : ""), bins);
        if (l->up)
            printf("up, %s \"%s\" %s, %.1f ms\n", l->role, l->identity, l->version,
                   l->rtt_us / 1000.0);
        else
            printf("DOWN: %s\n", l->error && *l->error ? l->error : "no answer");
    }
}

/* Pings one peer; returns the exit code for it. With --json, appends the
 * peer's object to *peers instead of printing. */
static int ping_one(ctl *c, const char *what, const char *addr, unsigned role, json_t **peers)
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
        json_t *o = json_pack("{s:o,s:o,s:b}", "peer", kks_json_str(what), "address",
                              kks_json_str(addr), "ok", rc == 0);
        if (rc == 0) {
            kks_json_set_pb(&o, &rep->pong->base, "role identity version database");
            kks_json_set(&o, "links", links_json(rep->pong));
        } else {
            const char *why = kks_client_last_error(cl);
            kks_json_set(&o, "error", kks_json_str(*why ? why : kks_strerror(rc)));
        }
        kks_json_append(peers, o);
    } else if (rc == 0) {
        printf("%-7s %s: %s \"%s\" version %s, database %s\n", what, addr, rep->pong->role,
               rep->pong->identity, rep->pong->version,
               *rep->pong->database ? rep->pong->database : "(not said)");
        print_links(rep->pong);
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
        {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'},         {0, 0, 0, 0},
    };
    int o, ec = EXIT_OK, r;
    json_t *peers;
    while ((o = ctl_getopt(argc, argv, opts)) != -1) {
        switch (o) {
        case 's': c->sw = optarg; break;
        case 'i': c->issuer = optarg; break;
        case 'p': c->pki = optarg; break;
        case 'j': c->json = 1; break;
        case 'V': return kks_version_print(stdout, "kksctl");
        case 'h':
            puts("usage: kksctl ping [--switch A] [--issuer A] [--pki DIR] [--json]");
            return EXIT_OK;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc || (!c->sw && !c->issuer)) {
        ctl_say("%s", "usage: kksctl ping [--switch A] [--issuer A]: give at least one peer\n");
        return EXIT_USAGE;
    }
    peers = json_array();
    if (c->sw) {
        r = ping_one(c, "switch", c->sw, KKS_ROLE_SWITCH, &peers);
        ec = r > ec ? r : ec;
    }
    if (c->issuer) {
        r = ping_one(c, "issuer", c->issuer, KKS_ROLE_ISSUER, &peers);
        ec = r > ec ? r : ec;
    }
    if (c->json) {
        r = ctl_json_print(json_pack("{s:o}", "peers", peers));
        ec = r > ec ? r : ec;
    } else {
        json_decref(peers);
    }
    return ec;
}
