/* kksctl print, handover and card: the card lifecycle from the operator's desk. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "kks_desk.h"
#include "kks_err.h"
#include "kks_rc.h"
#include "kks_registry.h"
#include "kks_seeds.h"

#define PAGE 5000

static int rc_exit(const char *rc)
{
    return strcmp(rc, KKS_RC_APPROVED) == 0 ? EXIT_OK : EXIT_DECLINED;
}

/* Fetches every line of a batch and writes the print file atomically. */
static int write_print_file(ctl *c, uint64_t batch, const char *out)
{
    char tmp[4200];
    FILE *f;
    uint32_t off = 0, total = 1;
    int ec = EXIT_OK;
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600); /* names: personal data */
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        ctl_say("kksctl: cannot write %s: %s\n", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return EXIT_USAGE;
    }
    fprintf(f, "pan,name,expiry,site,batch,kk\n");
    while (off < total) {
        Kks__Envelope req = KKS__ENVELOPE__INIT, *rep;
        Kks__BatchLinesRequest bl = KKS__BATCH_LINES_REQUEST__INIT;
        bl.batch = batch;
        bl.offset = off;
        bl.limit = PAGE;
        req.body_case = KKS__ENVELOPE__BODY_BATCH_LINES_REQUEST;
        req.batch_lines_request = &bl;
        if ((ec = ctl_request(c, KKS_ROLE_ISSUER, &req, &rep)) != EXIT_OK)
            break;
        const Kks__BatchLinesReply *r = rep->batch_lines_reply;
        if (rep->body_case != KKS__ENVELOPE__BODY_BATCH_LINES_REPLY ||
            strcmp(r->rc, KKS_RC_APPROVED) != 0 || (r->n_lines == 0 && off < r->total)) {
            ctl_say("kksctl: cannot read batch %llu\n", (unsigned long long)batch);
            kks__envelope__free_unpacked(rep, NULL);
            ec = EXIT_INTERNAL;
            break;
        }
        total = r->total;
        for (size_t i = 0; i < r->n_lines; i++)
            fprintf(f, "%s,%s,%s,\"%s\",%llu,%s\n", r->lines[i]->pan, r->lines[i]->name,
                    r->lines[i]->expiry, r->lines[i]->site,
                    (unsigned long long)r->lines[i]->batch, r->lines[i]->kk);
        off += (uint32_t)r->n_lines;
        kks__envelope__free_unpacked(rep, NULL);
    }
    if (fclose(f) != 0 && ec == EXIT_OK)
        ec = EXIT_INTERNAL;
    if (ec == EXIT_OK && rename(tmp, out) != 0)
        ec = EXIT_INTERNAL;
    if (ec != EXIT_OK)
        unlink(tmp);
    return ec;
}

int cmd_print(ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"bank", required_argument, 0, 'b'},   {"site", required_argument, 0, 's'},
        {"out", required_argument, 0, 'o'},    {"issuer", required_argument, 0, 'i'},
        {"json", no_argument, 0, 'j'},         {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    const char *bank = NULL, *site = "", *out = NULL;
    char outbuf[64];
    Kks__Envelope req = KKS__ENVELOPE__INIT, *rep;
    Kks__PrintRequest pr = KKS__PRINT_REQUEST__INIT;
    int o, ec;
    while ((o = ctl_getopt(argc, argv, opts)) != -1) {
        switch (o) {
        case 'b': bank = optarg; break;
        case 's': site = optarg; break;
        case 'o': out = optarg; break;
        case 'i': c->issuer = optarg; break;
        case 'j': c->json = 1; break;
        case 'V': return kks_version_print(stdout, "kksctl");
        case 'h': puts("usage: kksctl print --bank CODE [--site NAME] [--out FILE] [--json]");
            return EXIT_OK;
        default: return EXIT_USAGE;
        }
    }
    if (!bank || optind != argc) {
        ctl_say("%s", "usage: kksctl print --bank CODE [--site NAME] [--out FILE] [--json]\n");
        return EXIT_USAGE;
    }
    pr.bank = (char *)bank;
    pr.site = (char *)site;
    req.body_case = KKS__ENVELOPE__BODY_PRINT_REQUEST;
    req.print_request = &pr;
    if ((ec = ctl_request(c, KKS_ROLE_ISSUER, &req, &rep)) != EXIT_OK)
        return ec;
    const Kks__PrintReply *r = rep->print_reply;
    ec = rc_exit(r->rc);
    if (ec == EXIT_OK) {
        if (!out) {
            snprintf(outbuf, sizeof outbuf, "print-%s-%llu.csv", bank,
                     (unsigned long long)r->batch);
            out = outbuf;
        }
        ec = write_print_file(c, r->batch, out);
    }
    if (c->json) {
        json_t *j = kks_json_pb(&r->base, "rc reason batch cards");
        kks_json_set(&j, "file", kks_json_str(ec == EXIT_OK ? out : ""));
        if (ctl_json_print(j) != EXIT_OK && ec == EXIT_OK)
            ec = EXIT_INTERNAL;
    } else if (rc_exit(r->rc) == EXIT_OK) {
        printf("print batch %llu: %u cards of %s; print file %s\n", (unsigned long long)r->batch,
               r->cards, bank, ec == EXIT_OK ? out : "(not written)");
    } else {
        printf("not printed (%s): %s\n", r->rc, r->reason);
    }
    kks__envelope__free_unpacked(rep, NULL);
    return ec;
}

#define DOCS_MAX 32

/* Splits --docs ktp,kk,undangan into names (in place); blanks around a name
 * are dropped. Returns the count, or -1 when there are too many. */
static int split_docs(char *list, char *names[DOCS_MAX])
{
    int n = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        size_t l = strlen(t);
        while (l && t[l - 1] == ' ')
            t[--l] = '\0';
        if (!*t)
            continue;
        if (n == DOCS_MAX)
            return -1;
        names[n++] = t;
    }
    return n;
}

/* The documents a refusal names as missing, for a person. */
static void print_missing(char **missing, size_t n)
{
    if (n == 0)
        return;
    printf("missing documents:");
    for (size_t i = 0; i < n; i++)
        printf(" %s", missing[i]);
    printf("\n");
}

/* A JSON array of names: the n strings, or the comma-separated list csv. */
static json_t *json_names(char **names, size_t n, const char *csv)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        kks_json_append(&a, kks_json_str(names[i]));
    while (a && csv && *csv) {
        size_t l = strcspn(csv, ",");
        kks_json_append(&a, json_stringn(csv, l));
        csv += l + (csv[l] == ',');
    }
    return a;
}

int cmd_handover(ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"batch", required_argument, 0, 'b'}, {"pan", required_argument, 0, 'p'},
        {"site", required_argument, 0, 's'},  {"issuer", required_argument, 0, 'i'},
        {"docs", required_argument, 0, 'D'},  {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'}, {0, 0, 0, 0},
    };
    static const char use[] = "usage: kksctl handover (--batch ID | --pan PAN) --site NAME "
                              "--docs LIST [--json]\n"
                              "  --docs the documents the family brought, comma-separated "
                              "(e.g. undangan,ktp,kk)";
    Kks__Envelope req = KKS__ENVELOPE__INIT, *rep;
    Kks__HandoverRequest hr = KKS__HANDOVER_REQUEST__INIT;
    const char *batch = NULL, *pan = NULL, *site = NULL;
    char *docs[DOCS_MAX];
    int o, ec, ndocs = 0;
    while ((o = ctl_getopt(argc, argv, opts)) != -1) {
        switch (o) {
        case 'D':
            if ((ndocs = split_docs(optarg, docs)) < 0) {
                ctl_say("kksctl: --docs: at most %d documents\n", DOCS_MAX);
                return EXIT_USAGE;
            }
            break;
        case 'b': batch = optarg; break;
        case 'p': pan = optarg; break;
        case 's': site = optarg; break;
        case 'i': c->issuer = optarg; break;
        case 'j': c->json = 1; break;
        case 'V': return kks_version_print(stdout, "kksctl");
        case 'h': puts(use); return EXIT_OK;
        default: return EXIT_USAGE;
        }
    }
    if (!site || !*site || (!batch == !pan) || optind != argc) {
        ctl_say("%s\n", use);
        return EXIT_USAGE;
    }
    if (batch) {
        char *end;
        unsigned long long b = strtoull(batch, &end, 10);
        if (*end || !*batch || b == 0) {
            ctl_say("kksctl: --batch must be a batch number\n");
            return EXIT_USAGE;
        }
        hr.batch = b;
    }
    hr.pan = (char *)(pan ? pan : "");
    hr.site = (char *)site;
    hr.docs = docs;
    hr.n_docs = (size_t)ndocs;
    req.body_case = KKS__ENVELOPE__BODY_HANDOVER_REQUEST;
    req.handover_request = &hr;
    if ((ec = ctl_request(c, KKS_ROLE_ISSUER, &req, &rep)) != EXIT_OK)
        return ec;
    const Kks__HandoverReply *r = rep->handover_reply;
    ec = rc_exit(r->rc);
    if (c->json) {
        json_t *j = kks_json_pb(&r->base, "rc reason cards");
        kks_json_set(&j, "missing", json_names(r->missing, r->n_missing, NULL));
        if (ctl_json_print(j) != EXIT_OK)
            ec = EXIT_INTERNAL;
    } else {
        printf("%s (%s)\n", r->reason, r->rc);
        print_missing(r->missing, r->n_missing);
    }
    kks__envelope__free_unpacked(rep, NULL);
    return ec;
}

/* Shows the reply; returns EXIT_OK, or EXIT_INTERNAL when --json could not be written. */
static int show_card(ctl *c, const Kks__CardReply *r)
{
    const Kks__Card *k = r->card;
    if (c->json) {
        json_t *o = kks_json_pb(&r->base, "rc reason");
        kks_json_set(&o, "missing", json_names(r->missing, r->n_missing, NULL));
        if (k)
            kks_json_set(&o, "card", kks_desk_card_json(k));
        return ctl_json_print(o);
    }
    printf("%s (%s)\n", r->reason, r->rc);
    print_missing(r->missing, r->n_missing);
    if (!k)
        return EXIT_OK;
    printf("card      %s\nholder    %s\nKK        %s\nbank      %s\nstate     %s\n"
           "valid thru %.2s/%.2s\n",
           k->pan, k->name, k->kk, k->bank, k->state, k->expiry + 5, k->expiry + 2);
    if (k->batch)
        printf("batch     %llu\n", (unsigned long long)k->batch);
    if (*k->replaces)
        printf("replaces  %s\n", k->replaces);
    if (*k->replaced_by)
        printf("replaced by %s\n", k->replaced_by);
    printf("history:\n");
    for (size_t i = 0; i < k->n_history; i++) {
        const Kks__CardEvent *e = k->history[i];
        char when[32];
        ctl_wib(e->at, when);
        printf("  %s  %-18s %s%s%s  by %s%s%s%s%s%s%s\n", when, e->event, e->from_state,
               *e->from_state ? " -> " : "", e->to_state, e->actor, *e->site ? " at " : "",
               e->site, *e->detail ? "; " : "", e->detail, *e->docs ? "; documents " : "",
               e->docs);
    }
    return EXIT_OK;
}

int cmd_card(ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"police-report", required_argument, 0, 'r'}, {"site", required_argument, 0, 's'},
        {"issuer", required_argument, 0, 'i'},        {"json", no_argument, 0, 'j'},
        {"docs", required_argument, 0, 'D'},          {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    static const char use[] =
        "usage: kksctl card show|lost|stolen|replace|damaged|renew|unblock PAN "
        "[--police-report REF] [--docs LIST] [--site NAME] [--json]\n"
        "  lost|stolen  the card stops working (needs --police-report)\n"
        "  replace      a new card for a lost or stolen one\n"
        "  damaged      the damaged card is surrendered: it stops, a new card is issued\n"
        "  renew        a new card for an expired (or soon expiring) one\n"
        "  --docs       the documents seen, comma-separated (e.g. surat-kehilangan,ktp,kk,"
        "buku-tabungan)";
    static const char *const ops[] = {"show",    "lost",  "stolen", "replace",
                                      "damaged", "renew", "unblock"};
    Kks__Envelope req = KKS__ENVELOPE__INIT, *rep;
    Kks__CardRequest cr = KKS__CARD_REQUEST__INIT;
    const char *report = "", *site = "";
    char *docs[DOCS_MAX];
    int o, ec, known = 0, ndocs = 0;
    while ((o = ctl_getopt(argc, argv, opts)) != -1) {
        switch (o) {
        case 'D':
            if ((ndocs = split_docs(optarg, docs)) < 0) {
                ctl_say("kksctl: --docs: at most %d documents\n", DOCS_MAX);
                return EXIT_USAGE;
            }
            break;
        case 'r': report = optarg; break;
        case 's': site = optarg; break;
        case 'i': c->issuer = optarg; break;
        case 'j': c->json = 1; break;
        case 'V': return kks_version_print(stdout, "kksctl");
        case 'h': puts(use); return EXIT_OK;
        default: return EXIT_USAGE;
        }
    }
    if (optind + 2 != argc) {
        ctl_say("%s\n", use);
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        known |= strcmp(argv[optind], ops[i]) == 0;
    if (!known) {
        ctl_say("kksctl: unknown card command %s\n%s\n", argv[optind], use);
        return EXIT_USAGE;
    }
    if ((strcmp(argv[optind], "lost") == 0 || strcmp(argv[optind], "stolen") == 0) && !*report) {
        ctl_say("kksctl: card %s needs --police-report REF (surat keterangan "
                        "kehilangan)\n", argv[optind]);
        return EXIT_USAGE;
    }
    cr.op = argv[optind];
    cr.pan = argv[optind + 1];
    cr.police_report = (char *)report;
    cr.site = (char *)site;
    cr.docs = docs;
    cr.n_docs = (size_t)ndocs;
    req.body_case = KKS__ENVELOPE__BODY_CARD_REQUEST;
    req.card_request = &cr;
    if ((ec = ctl_request(c, KKS_ROLE_ISSUER, &req, &rep)) != EXIT_OK)
        return ec;
    ec = rc_exit(rep->card_reply->rc);
    if (show_card(c, rep->card_reply) != EXIT_OK)
        ec = EXIT_INTERNAL;
    kks__envelope__free_unpacked(rep, NULL);
    return ec;
}
