/* kksctl lookup and complaint: the complaints desk (layanan pengaduan).
 *
 * The issuer is the authority for the registry, cards and complaints; the
 * switch for accounts, credits, the journal and the ledger. kksctl asks both
 * when it knows both, and says which one it could not reach. What it shows
 * is built once as JSON (the same objects as --json and as a complaint's
 * stored evidence) and printed for people from that. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "kks_desk.h"
#include "kks_err.h"
#include "kks_log.h"
#include "kks_money.h"
#include "kks_rc.h"
#include "kks_registry.h"
#include "kks_seeds.h"

#define DESK_TIMEOUT_MS 15000
#define DESK_MAX_KK 8

/* ---- asking a peer, keeping why it could not be asked ---- */

/* Like ctl_request, without printing: EXIT_OK with *rep, else the exit code
 * with why in words. */
static int ask(ctl *c, unsigned role, Kks__Envelope *req, Kks__Envelope **rep, char *why,
               size_t cap)
{
    const char *addr = role == KKS_ROLE_ISSUER ? c->issuer : c->sw;
    int ec = EXIT_OK, rc;
    kks_client *cl;
    *rep = NULL;
    if (!addr) {
        snprintf(why, cap, "not asked: no address (--%s HOST:PORT or KKS_%s)",
                 kks_role_name(role), role == KKS_ROLE_ISSUER ? "ISSUER" : "SWITCH");
        return EXIT_USAGE;
    }
    if (!(cl = ctl_peer(c, role, &ec))) {
        snprintf(why, cap, "%s: cannot connect (see above)", addr);
        return ec;
    }
    rc = kks_client_call_wait(cl, req, DESK_TIMEOUT_MS, rep);
    if (rc < 0) {
        const char *e = kks_client_last_error(cl);
        snprintf(why, cap, "%s: %s", addr, *e ? e : kks_strerror(rc));
        return EXIT_PEER;
    }
    if ((*rep)->body_case == KKS__ENVELOPE__BODY_ERROR) {
        snprintf(why, cap, "%s says: %s", addr, (*rep)->error->message);
        ec = (*rep)->error->code == KKS_EPEERROLE ? EXIT_PEER : EXIT_INTERNAL;
        kks__envelope__free_unpacked(*rep, NULL);
        *rep = NULL;
        return ec;
    }
    return EXIT_OK;
}

static void unreached(json_t **list, unsigned role, const char *why)
{
    kks_json_append(list, json_pack("{s:s,s:o}", "peer", kks_role_name(role), "why",
                                    kks_json_str(why)));
}

/* ---- the switch's views as JSON ---- */

static json_t *account_json(const Kks__DeskAccountReply *r)
{
    json_t *o = kks_json_pb(&r->base, "kk rc reason"), *progs = json_array(),
           *credits = json_array(), *moves = json_array();
    kks_json_set(&o, "balances", json_pack("{s:I,s:I}", "pkh", (json_int_t)r->pkh, "bpnt",
                                           (json_int_t)r->bpnt));
    for (size_t i = 0; progs && i < r->n_programs; i++)
        kks_json_append(&progs, kks_json_str(r->programs[i]));
    for (size_t i = 0; credits && i < r->n_credits; i++)
        kks_json_append(&credits, kks_json_pb(&r->credits[i]->base,
                                              "program period first last amount at"));
    for (size_t i = 0; moves && i < r->n_movements; i++)
        kks_json_append(&moves, kks_json_pb(&r->movements[i]->base, "at wallet amount kind ref"));
    kks_json_set(&o, "programs", progs);
    kks_json_set(&o, "credits", credits);
    kks_json_set(&o, "movements", moves);
    return o;
}

static json_t *txn_json(const char *rrn, const Kks__TxnLookupReply *r)
{
    json_t *o = json_pack("{s:s}", "rrn", rrn), *rows = json_array(), *xs = json_array();
    for (size_t i = 0; rows && i < r->n_rows; i++)
        kks_json_append(&rows, kks_json_pb(&r->rows[i]->base,
                                           "rrn terminal local_date stan type pan_masked kk rc "
                                           "amount wallet auth_code paid_to business_date at "
                                           "reversed reversed_on settle_batch "
                                           "reversal_settle_batch"));
    for (size_t i = 0; xs && i < r->n_transfers; i++)
        kks_json_append(&xs, kks_json_pb(&r->transfers[i]->base,
                                         "key from_kind from_owner to_kind to_owner amount kind "
                                         "at"));
    kks_json_set(&o, "journal", rows);
    kks_json_set(&o, "transfers", xs);
    return o;
}

/* The accounts of kks at the switch: an array, or NULL with why set (the
 * switch could not be asked). */
static json_t *accounts_of(ctl *c, char kks[][17], int n, int *ec, char *why, size_t cap)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) {
        Kks__Envelope req = KKS__ENVELOPE__INIT, *rep;
        Kks__DeskAccountRequest dr = KKS__DESK_ACCOUNT_REQUEST__INIT;
        dr.kk = kks[i];
        dr.limit = 10;
        req.body_case = KKS__ENVELOPE__BODY_DESK_ACCOUNT_REQUEST;
        req.desk_account_request = &dr;
        if ((*ec = ask(c, KKS_ROLE_SWITCH, &req, &rep, why, cap)) != EXIT_OK) {
            json_decref(a);
            return NULL;
        }
        kks_json_append(&a, account_json(rep->desk_account_reply));
        kks__envelope__free_unpacked(rep, NULL);
    }
    return a;
}

/* ---- printing for people ---- */

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static json_int_t jint(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static const char *money(json_int_t v, char buf[48])
{
    kks_rupiah((int64_t)v, '.', buf, 48);
    return buf;
}

static const char *masked(const char *pan, char out[20])
{
    if (!*pan)
        return "";
    kks_pan_mask(pan, out);
    return out;
}

static void print_family(const json_t *f)
{
    const json_t *reg = json_object_get(f, "registry"), *cards = json_object_get(f, "cards");
    static const char *const comp[] = {"pkh_pregnant", "pkh_early_childhood", "pkh_sd", "pkh_smp",
                                       "pkh_sma", "pkh_disability", "pkh_elderly"};
    char when[32], m1[20], m2[20];
    size_t i, k;
    ctl_wib(jstr(f, "enrolled_at"), when);
    printf("family KK %s (enrolled %s)\n", jstr(reg, "kk"), when);
    printf("  holder    %s, NIK %s, %s, born %s\n", jstr(reg, "name"), jstr(reg, "nik"),
           jstr(reg, "sex"), jstr(reg, "birth_date"));
    printf("  address   %s, kel. %s, kec. %s, city %s\n", jstr(reg, "address"),
           jstr(reg, "kelurahan"), jstr(reg, "kecamatan"), jstr(reg, "city_code"));
    printf("  decile %lld, bank %s, BPNT %s, PKH", (long long)jint(reg, "decile"),
           jstr(reg, "bank"), jint(reg, "bpnt") ? "yes" : "no");
    for (i = 0, k = 0; i < sizeof comp / sizeof comp[0]; i++)
        if (jint(reg, comp[i]))
            printf("%s %s x%lld", k++ ? "," : "", comp[i] + 4, (long long)jint(reg, comp[i]));
    printf("%s\n", k ? "" : " none");
    printf("  cards (%zu):\n", json_array_size(cards));
    for (i = 0; i < json_array_size(cards); i++) {
        const json_t *cd = json_array_get(cards, i), *h = json_object_get(cd, "history");
        const char *exp = jstr(cd, "expiry");
        printf("    %s  %-11s valid thru %.2s/%.2s", masked(jstr(cd, "pan"), m1),
               jstr(cd, "state"), strlen(exp) == 7 ? exp + 5 : "", strlen(exp) == 7 ? exp + 2 : "");
        if (*jstr(cd, "replaces"))
            printf("  replaces %s", masked(jstr(cd, "replaces"), m2));
        if (*jstr(cd, "replaced_by"))
            printf("  replaced by %s", masked(jstr(cd, "replaced_by"), m2));
        printf("\n");
        for (k = 0; k < json_array_size(h); k++) {
            const json_t *e = json_array_get(h, k);
            const char *detail = jstr(e, "detail");
            char dm[20];
            ctl_wib(jstr(e, "at"), when);
            /* a replacement's detail is the other card's PAN */
            if (kks_pan_valid(detail))
                detail = masked(detail, dm);
            printf("      %s  %-18s %s%s%s  by %s%s%s%s%s\n", when, jstr(e, "event"),
                   jstr(e, "from"), *jstr(e, "from") ? " -> " : "", jstr(e, "to"),
                   jstr(e, "actor"), *jstr(e, "site") ? " at " : "", jstr(e, "site"),
                   *detail ? "; " : "", detail);
        }
    }
}

static void print_account(const json_t *a)
{
    const json_t *b = json_object_get(a, "balances"), *p = json_object_get(a, "programs"),
                 *cr = json_object_get(a, "credits"), *mv = json_object_get(a, "movements");
    char m1[48], m2[48], when[32];
    size_t i;
    if (strcmp(jstr(a, "rc"), KKS_RC_APPROVED) != 0) {
        printf("account of KK %s at the switch: %s (%s)\n", jstr(a, "kk"), jstr(a, "reason"),
               jstr(a, "rc"));
        return;
    }
    printf("account of KK %s at the switch, programmes:", jstr(a, "kk"));
    for (i = 0; i < json_array_size(p); i++)
        printf(" %s", json_string_value(json_array_get(p, i)));
    printf("\n  PKH (tunai) %s   BPNT (sembako) %s\n", money(jint(b, "pkh"), m1),
           money(jint(b, "bpnt"), m2));
    printf("  credits (%zu):\n", json_array_size(cr));
    for (i = 0; i < json_array_size(cr); i++) {
        const json_t *c = json_array_get(cr, i);
        ctl_wib(jstr(c, "at"), when);
        printf("    %-4s %-14s %s..%s %14s  credited %s\n", jstr(c, "program"),
               jstr(c, "period"), jstr(c, "first"), jstr(c, "last"), money(jint(c, "amount"), m1),
               when);
    }
    printf("  last movements (%zu):\n", json_array_size(mv));
    for (i = 0; i < json_array_size(mv); i++) {
        const json_t *m = json_array_get(mv, i);
        ctl_wib(jstr(m, "at"), when);
        printf("    %s  %-4s %14s  %-10s %s\n", when, jstr(m, "wallet"),
               money(jint(m, "amount"), m1), jstr(m, "kind"), jstr(m, "ref"));
    }
}

static void print_transaction(const json_t *t)
{
    const json_t *rows = json_object_get(t, "journal"), *xs = json_object_get(t, "transfers");
    char m1[48], when[32];
    size_t i;
    printf("transaction RRN %s at the switch:\n", jstr(t, "rrn"));
    for (i = 0; i < json_array_size(rows); i++) {
        const json_t *r = json_array_get(rows, i);
        ctl_wib(jstr(r, "at"), when);
        printf("  journal  %s  %s STAN %06lld (%s)  %s  card %s  KK %s\n"
               "           rc %s  %s %s  paid to %s  business date %s\n"
               "           %s; settlement batch %lld\n",
               when, jstr(r, "terminal"), (long long)jint(r, "stan"), jstr(r, "local_date"),
               jstr(r, "type"), jstr(r, "pan_masked"), jstr(r, "kk"), jstr(r, "rc"),
               money(jint(r, "amount"), m1), jstr(r, "wallet"),
               *jstr(r, "paid_to") ? jstr(r, "paid_to") : "-", jstr(r, "business_date"),
               json_is_true(json_object_get(r, "reversed")) ? "REVERSED" : "not reversed",
               (long long)jint(r, "settle_batch"));
        if (json_is_true(json_object_get(r, "reversed")))
            printf("           reversed on %s\n", jstr(r, "reversed_on"));
    }
    for (i = 0; i < json_array_size(xs); i++) {
        const json_t *x = json_array_get(xs, i);
        ctl_wib(jstr(x, "at"), when);
        printf("  transfer %s  %s  %s:%s -> %s:%s  %s\n", when, jstr(x, "kind"),
               jstr(x, "from_kind"), jstr(x, "from_owner"), jstr(x, "to_kind"),
               jstr(x, "to_owner"), money(jint(x, "amount"), m1));
    }
}

/* families (issuer) and accounts (switch), each account under its family */
static void print_findings(const json_t *families, const json_t *accounts)
{
    size_t i, k;
    for (i = 0; i < json_array_size(families); i++) {
        const json_t *f = json_array_get(families, i);
        const char *kk = jstr(json_object_get(f, "registry"), "kk");
        print_family(f);
        for (k = 0; k < json_array_size(accounts); k++)
            if (strcmp(jstr(json_array_get(accounts, k), "kk"), kk) == 0)
                print_account(json_array_get(accounts, k));
    }
    if (json_array_size(families) == 0)
        for (k = 0; k < json_array_size(accounts); k++)
            print_account(json_array_get(accounts, k));
}

static void print_unreached(const json_t *u)
{
    for (size_t i = 0; i < json_array_size(u); i++)
        printf("NOT REACHED: %s: %s\n", jstr(json_array_get(u, i), "peer"),
               jstr(json_array_get(u, i), "why"));
}

/* ---- lookup ---- */

/* Asks the issuer for the families of nik or kk. EXIT_OK with *rep (whose rc
 * may say not registered), else the exit code with why. */
static int issuer_lookup(ctl *c, const char *nik, const char *kk, Kks__Envelope **rep, char *why,
                         size_t cap)
{
    Kks__Envelope req = KKS__ENVELOPE__INIT;
    Kks__LookupRequest lr = KKS__LOOKUP_REQUEST__INIT;
    int ec;
    lr.nik = (char *)(nik ? nik : "");
    lr.kk = (char *)(kk ? kk : "");
    req.body_case = KKS__ENVELOPE__BODY_LOOKUP_REQUEST;
    req.lookup_request = &lr;
    if ((ec = ask(c, KKS_ROLE_ISSUER, &req, rep, why, cap)) != EXIT_OK)
        return ec;
    if ((*rep)->body_case != KKS__ENVELOPE__BODY_LOOKUP_REPLY) {
        snprintf(why, cap, "unexpected reply from the issuer");
        kks__envelope__free_unpacked(*rep, NULL);
        *rep = NULL;
        return EXIT_INTERNAL;
    }
    return EXIT_OK;
}

static json_t *families_json(const Kks__LookupReply *r, char kks[][17], int *nkk)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < r->n_families; i++) {
        kks_json_append(&a, kks_desk_family_json(r->families[i]));
        if (*nkk < DESK_MAX_KK && r->families[i]->n_fields > KKS_REG_KK)
            snprintf(kks[(*nkk)++], 17, "%s", r->families[i]->fields[KKS_REG_KK]);
    }
    return a;
}

int cmd_lookup(ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"nik", required_argument, 0, 'n'},    {"kk", required_argument, 0, 'k'},
        {"issuer", required_argument, 0, 'i'}, {"switch", required_argument, 0, 's'},
        {"json", no_argument, 0, 'j'},         {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    static const char use[] =
        "usage: kksctl lookup (--nik NIK | --kk KK) [--issuer A] [--switch A] [--json]\n"
        "  the family (registry row), its holder, every card it has had and its account";
    const char *nik = NULL, *kk = NULL;
    char kks[DESK_MAX_KK][17], why[300];
    int o, nkk = 0, ec = EXIT_OK, found = 0;
    Kks__Envelope *rep = NULL;
    json_t *out, *fams = json_array(), *accts = NULL, *unr = json_array();

    while ((o = ctl_getopt(argc, argv, opts)) != -1) {
        switch (o) {
        case 'n': nik = optarg; break;
        case 'k': kk = optarg; break;
        case 'i': c->issuer = optarg; break;
        case 's': c->sw = optarg; break;
        case 'j': c->json = 1; break;
        case 'V': json_decref(fams); json_decref(unr); return kks_version_print(stdout, "kksctl");
        case 'h': puts(use); json_decref(fams); json_decref(unr); return EXIT_OK;
        default: json_decref(fams); json_decref(unr); return EXIT_USAGE;
        }
    }
    if (optind != argc || !nik == !kk || !kks_digits(nik ? nik : kk, 16)) {
        if (optind == argc && (nik || kk))
            ctl_say("kksctl: NIK and KK are 16 digits\n");
        ctl_say("%s\n", use);
        json_decref(fams);
        json_decref(unr);
        return EXIT_USAGE;
    }
    if (!c->issuer && !c->sw) {
        ctl_say("kksctl: no peer to ask: give --issuer and --switch (or KKS_ISSUER, KKS_SWITCH)\n");
        json_decref(fams);
        json_decref(unr);
        return EXIT_USAGE;
    }
    if (kk)
        snprintf(kks[nkk++], 17, "%s", kk);
    int iec = issuer_lookup(c, nik, kk, &rep, why, sizeof why);
    if (iec != EXIT_OK) {
        unreached(&unr, KKS_ROLE_ISSUER, why);
        ec = EXIT_PEER;
    } else {
        json_decref(fams);
        nkk = 0;
        fams = families_json(rep->lookup_reply, kks, &nkk);
        if (kk && nkk == 0)
            snprintf(kks[nkk++], 17, "%s", kk);
        found = strcmp(rep->lookup_reply->rc, KKS_RC_APPROVED) == 0;
    }
    if (nkk == 0 && iec == EXIT_OK) {
        accts = json_array(); /* nobody to ask the switch about */
    } else if (nkk == 0) {
        snprintf(why, sizeof why, "not asked: the family's KK comes from the issuer");
        unreached(&unr, KKS_ROLE_SWITCH, why);
    } else {
        int sec;
        accts = accounts_of(c, kks, nkk, &sec, why, sizeof why);
        if (!accts) {
            unreached(&unr, KKS_ROLE_SWITCH, why);
            ec = EXIT_PEER;
        } else {
            for (size_t i = 0; i < json_array_size(accts); i++)
                found |= strcmp(jstr(json_array_get(accts, i), "rc"), KKS_RC_APPROVED) == 0;
        }
    }
    if (ec == EXIT_OK && !found)
        ec = EXIT_DECLINED;
    const char *reason = rep ? rep->lookup_reply->reason : "the issuer was not reached";
    if (c->json) {
        out = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o}", "rc",
                        rep ? rep->lookup_reply->rc : "", "reason", kks_json_str(reason),
                        "query", nik ? json_pack("{s:s}", "nik", nik) : json_pack("{s:s}", "kk", kk),
                        "families", fams ? fams : json_null(), "accounts",
                        accts ? accts : json_null(), "unreached", unr ? unr : json_null());
        if (ctl_json_print(out) != EXIT_OK)
            ec = EXIT_INTERNAL;
    } else {
        if (rep && !found)
            printf("%s (%s)\n", reason, rep->lookup_reply->rc);
        else if (rep && strcmp(rep->lookup_reply->rc, KKS_RC_APPROVED) != 0)
            printf("%s (%s)\n", reason, rep->lookup_reply->rc);
        print_findings(fams, accts);
        print_unreached(unr);
        json_decref(fams);
        json_decref(accts);
        json_decref(unr);
    }
    if (rep)
        kks__envelope__free_unpacked(rep, NULL);
    return ec;
}

/* ---- complaints ---- */

static int complaint_call(ctl *c, Kks__ComplaintRequest *cr, Kks__Envelope **rep)
{
    Kks__Envelope req = KKS__ENVELOPE__INIT;
    int ec;
    req.body_case = KKS__ENVELOPE__BODY_COMPLAINT_REQUEST;
    req.complaint_request = cr;
    if ((ec = ctl_request(c, KKS_ROLE_ISSUER, &req, rep)) != EXIT_OK)
        return ec;
    if ((*rep)->body_case != KKS__ENVELOPE__BODY_COMPLAINT_REPLY) {
        ctl_say("%s", "kksctl: unexpected reply from the issuer\n");
        kks__envelope__free_unpacked(*rep, NULL);
        *rep = NULL;
        return EXIT_INTERNAL;
    }
    return EXIT_OK;
}

static json_t *complaint_json(const Kks__Complaint *m, int with_evidence)
{
    json_t *o = kks_json_pb(&m->base, "id nik kk kind rrn note state opened_at opened_by due "
                                      "overdue closed_at closed_by resolution");
    if (with_evidence) {
        json_t *ev = json_loads(m->evidence, 0, NULL);
        kks_json_set(&o, "evidence", ev ? ev : json_null());
    }
    return o;
}

/* A refusal, or a reply with no complaint: prints it; the exit code. */
static int complaint_refused(ctl *c, const Kks__ComplaintReply *r)
{
    if (c->json)
        return ctl_json_print(kks_json_pb(&r->base, "rc reason")) == EXIT_OK ? EXIT_DECLINED
                                                                              : EXIT_INTERNAL;
    ctl_say("kksctl: %s (%s)\n", r->reason, r->rc);
    return EXIT_DECLINED;
}

static void print_complaint(const Kks__Complaint *m)
{
    char when[32];
    ctl_wib(m->opened_at, when);
    printf("complaint %llu  %s  %s\n", (unsigned long long)m->id, m->kind,
           strcmp(m->state, "open") == 0 ? (m->overdue ? "OPEN, OVERDUE" : "open") : "closed");
    printf("  NIK       %s%s%s\n", m->nik, *m->kk ? ", KK " : " (not registered)", m->kk);
    if (*m->rrn)
        printf("  RRN       %s\n", m->rrn);
    printf("  note      %s\n", m->note);
    printf("  opened    %s by %s; due %s\n", when, m->opened_by, m->due);
    if (*m->closed_at) {
        ctl_wib(m->closed_at, when);
        printf("  closed    %s by %s\n  resolution %s\n", when, m->closed_by, m->resolution);
    }
}

static void print_evidence(const char *text)
{
    json_t *ev = json_loads(text, 0, NULL), *sw, *iss;
    char when[32];
    if (!ev) {
        printf("evidence: (unreadable)\n");
        return;
    }
    ctl_wib(jstr(ev, "gathered_at"), when);
    iss = json_object_get(ev, "issuer");
    sw = json_object_get(ev, "switch");
    printf("evidence gathered %s:\n", when);
    if (!json_is_true(json_object_get(iss, "registered")))
        printf("NIK %s is NOT REGISTERED: no enrolled family has it\n", jstr(ev, "nik"));
    print_findings(json_object_get(iss, "families"), json_object_get(sw, "accounts"));
    if (json_object_get(sw, "transaction"))
        print_transaction(json_object_get(sw, "transaction"));
    if (!json_is_object(sw))
        printf("switch: not asked\n");
    else if (*jstr(sw, "unreached"))
        printf("switch NOT REACHED: %s\n", jstr(sw, "unreached"));
    json_decref(ev);
}

static int complaint_open(ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"nik", required_argument, 0, 'n'},  {"kind", required_argument, 0, 'k'},
        {"rrn", required_argument, 0, 'r'},  {"note", required_argument, 0, 'o'},
        {"issuer", required_argument, 0, 'i'}, {"switch", required_argument, 0, 's'},
        {"json", no_argument, 0, 'j'},       {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    static const char use[] =
        "usage: kksctl complaint open --nik NIK --kind data|lost-card|disbursement|transaction\n"
        "                             [--rrn RRN] --note TEXT [--json]\n"
        "  a transaction complaint names its RRN; the evidence is gathered now from the\n"
        "  issuer (registry, cards) and the switch (account, credits, the RRN's journal)";
    const char *nik = NULL, *kind = NULL, *rrn = "", *note = NULL;
    char kks[DESK_MAX_KK][17], why[300];
    int o, nkk = 0, ec;
    Kks__Envelope *lrep = NULL, *trep = NULL, *rep = NULL;
    Kks__ComplaintRequest cr = KKS__COMPLAINT_REQUEST__INIT;
    json_t *sw = NULL;
    char *swtext = NULL;

    while ((o = ctl_getopt(argc, argv, opts)) != -1) {
        switch (o) {
        case 'n': nik = optarg; break;
        case 'k': kind = optarg; break;
        case 'r': rrn = optarg; break;
        case 'o': note = optarg; break;
        case 'i': c->issuer = optarg; break;
        case 's': c->sw = optarg; break;
        case 'j': c->json = 1; break;
        case 'V': return kks_version_print(stdout, "kksctl");
        case 'h': puts(use); return EXIT_OK;
        default: ctl_say("%s\n", use); return EXIT_USAGE;
        }
    }
    if (optind != argc || !nik || !kind || !note) {
        ctl_say("%s\nkksctl: --nik, --kind and --note are required\n", use);
        return EXIT_USAGE;
    }
    if (!kks_digits(nik, 16)) {
        ctl_say("kksctl: NIK must be 16 digits\n");
        return EXIT_USAGE;
    }
    if (kks_desk_kind(kind) < 0) {
        ctl_say("kksctl: unknown kind '%.20s': data, lost-card, disbursement or "
                "transaction\n", kind);
        return EXIT_USAGE;
    }
    if (kks_desk_text_check("note", note, KKS_DESK_NOTE_MAX, why, sizeof why) < 0) {
        ctl_say("kksctl: %s\n", why);
        return EXIT_USAGE;
    }
    if (kks_desk_kind(kind) == KKS_DESK_TRANSACTION && !*rrn) {
        ctl_say("kksctl: a transaction complaint needs --rrn RRN (on the receipt)\n");
        return EXIT_USAGE;
    }
    if (*rrn && !kks_digits(rrn, 12)) {
        ctl_say("kksctl: an RRN is 12 digits\n");
        return EXIT_USAGE;
    }
    /* the families of the NIK, for the switch's part */
    if ((ec = issuer_lookup(c, nik, NULL, &lrep, why, sizeof why)) != EXIT_OK) {
        ctl_say("kksctl: issuer %s; nothing opened\n", why);
        return ec;
    }
    json_decref(families_json(lrep->lookup_reply, kks, &nkk));
    ec = EXIT_OK;
    if (*rrn) { /* the transaction must exist, and be this family's */
        Kks__Envelope req = KKS__ENVELOPE__INIT;
        Kks__TxnLookupRequest tl = KKS__TXN_LOOKUP_REQUEST__INIT;
        tl.rrn = (char *)rrn;
        req.body_case = KKS__ENVELOPE__BODY_TXN_LOOKUP_REQUEST;
        req.txn_lookup_request = &tl;
        if ((ec = ask(c, KKS_ROLE_SWITCH, &req, &trep, why, sizeof why)) != EXIT_OK) {
            ctl_say("kksctl: the RRN cannot be checked: switch %s; nothing opened\n", why);
            goto out;
        }
        const Kks__TxnLookupReply *t = trep->txn_lookup_reply;
        if (strcmp(t->rc, KKS_RC_APPROVED) != 0) {
            ctl_say("kksctl: %s (%s); nothing opened\n", t->reason, t->rc);
            ec = EXIT_DECLINED;
            goto out;
        }
        int mine = 0;
        for (size_t i = 0; i < t->n_rows; i++)
            for (int k = 0; k < nkk; k++)
                mine |= strcmp(t->rows[i]->kk, kks[k]) == 0;
        if (!mine) {
            ctl_say("kksctl: RRN %s is not a transaction of %s; nothing opened\n", rrn,
                    nkk ? "this NIK's family" : "a registered family");
            ec = EXIT_DECLINED;
            goto out;
        }
    }
    json_t *accts = nkk ? accounts_of(c, kks, nkk, &ec, why, sizeof why) : json_array();
    ec = EXIT_OK;
    if (accts)
        sw = json_pack("{s:o}", "accounts", accts);
    else
        sw = json_pack("{s:o}", "unreached", kks_json_str(why));
    if (sw && trep)
        kks_json_set(&sw, "transaction", txn_json(rrn, trep->txn_lookup_reply));
    if (!sw || !(swtext = json_dumps(sw, KKS_JSON_FLAGS))) {
        ctl_say("%s", "kksctl: out of memory\n");
        ec = EXIT_INTERNAL;
        goto out;
    }
    if (!accts && !c->json)
        fprintf(stderr, "kksctl: warning: the switch was not reached (%s); the complaint is "
                        "opened without the account's evidence\n", why);
    cr.op = "open";
    cr.nik = (char *)nik;
    cr.kind = (char *)kind;
    cr.rrn = (char *)rrn;
    cr.note = (char *)note;
    cr.switch_evidence = swtext;
    if ((ec = complaint_call(c, &cr, &rep)) != EXIT_OK)
        goto out;
    const Kks__ComplaintReply *r = rep->complaint_reply;
    if (strcmp(r->rc, KKS_RC_APPROVED) != 0 || r->n_complaints != 1) {
        ec = complaint_refused(c, r);
        goto out;
    }
    if (c->json) {
        json_t *j = kks_json_pb(&r->base, "rc reason");
        kks_json_set(&j, "complaint", complaint_json(r->complaints[0], 1));
        ec = ctl_json_print(j);
    } else {
        printf("%s\n", r->reason);
        print_complaint(r->complaints[0]);
        print_evidence(r->complaints[0]->evidence);
    }
out:
    json_decref(sw);
    free(swtext);
    if (lrep)
        kks__envelope__free_unpacked(lrep, NULL);
    if (trep)
        kks__envelope__free_unpacked(trep, NULL);
    if (rep)
        kks__envelope__free_unpacked(rep, NULL);
    return ec;
}

static int complaint_list(ctl *c, int open_only)
{
    uint32_t offset = 0, total = 1;
    json_t *all = json_array();
    int ec = EXIT_OK, header = 0;
    char today[11] = "";
    while (offset < total) {
        Kks__ComplaintRequest cr = KKS__COMPLAINT_REQUEST__INIT;
        Kks__Envelope *rep;
        cr.op = "list";
        cr.open_only = open_only;
        cr.offset = offset;
        if ((ec = complaint_call(c, &cr, &rep)) != EXIT_OK)
            break;
        const Kks__ComplaintReply *r = rep->complaint_reply;
        if (strcmp(r->rc, KKS_RC_APPROVED) != 0) {
            ec = complaint_refused(c, r);
            kks__envelope__free_unpacked(rep, NULL);
            break;
        }
        total = r->total;
        snprintf(today, sizeof today, "%s", r->today);
        for (size_t i = 0; i < r->n_complaints; i++) {
            const Kks__Complaint *m = r->complaints[i];
            char when[32];
            if (c->json) {
                kks_json_append(&all, complaint_json(m, 0));
                continue;
            }
            if (!header++)
                printf("%-5s %-12s %-16s %-16s %-10s %-13s %s\n", "ID", "KIND", "NIK", "KK",
                       "DUE", "STATE", "OPENED");
            ctl_wib(m->opened_at, when);
            printf("%-5llu %-12s %-16s %-16s %-10s %-13s %s by %s\n", (unsigned long long)m->id,
                   m->kind, m->nik, *m->kk ? m->kk : "(unregistered)", m->due,
                   strcmp(m->state, "open") != 0 ? "closed" : m->overdue ? "OPEN, OVERDUE" : "open",
                   when, m->opened_by);
        }
        offset += (uint32_t)r->n_complaints;
        int empty = r->n_complaints == 0;
        kks__envelope__free_unpacked(rep, NULL);
        if (empty)
            break;
    }
    if (ec != EXIT_OK) {
        json_decref(all);
        return ec;
    }
    if (c->json)
        return ctl_json_print(json_pack("{s:s,s:s,s:I,s:o}", "rc", KKS_RC_APPROVED, "today", today,
                                        "total", (json_int_t)json_array_size(all), "complaints",
                                        all));
    json_decref(all);
    if (!header)
        printf("no %scomplaints\n", open_only ? "open " : "");
    else
        printf("%u complaint%s; business date %s\n", total, total == 1 ? "" : "s", today);
    return EXIT_OK;
}

static int parse_id(const char *s, uint64_t *id)
{
    int64_t v;
    if (kks_parse_digits(s, 1, INT64_MAX / 2, &v) < 0) {
        ctl_say("kksctl: a complaint ID is a number, not '%.20s'\n", s);
        return -1;
    }
    *id = (uint64_t)v;
    return 0;
}

static int complaint_one(ctl *c, const char *op, const char *idtext, const char *resolution)
{
    Kks__ComplaintRequest cr = KKS__COMPLAINT_REQUEST__INIT;
    Kks__Envelope *rep;
    char why[200];
    int ec;
    if (parse_id(idtext, &cr.id) < 0)
        return EXIT_USAGE;
    if (resolution &&
        kks_desk_text_check("resolution", resolution, KKS_DESK_NOTE_MAX, why, sizeof why) < 0) {
        ctl_say("kksctl: %s\n", why);
        return EXIT_USAGE;
    }
    cr.op = (char *)op;
    cr.resolution = (char *)(resolution ? resolution : "");
    if ((ec = complaint_call(c, &cr, &rep)) != EXIT_OK)
        return ec;
    const Kks__ComplaintReply *r = rep->complaint_reply;
    if (strcmp(r->rc, KKS_RC_APPROVED) != 0 || r->n_complaints != 1) {
        ec = complaint_refused(c, r);
    } else if (c->json) {
        json_t *j = kks_json_pb(&r->base, "rc reason");
        kks_json_set(&j, "complaint", complaint_json(r->complaints[0], !resolution));
        ec = ctl_json_print(j);
    } else {
        if (resolution)
            printf("%s\n", r->reason);
        print_complaint(r->complaints[0]);
        if (!resolution)
            print_evidence(r->complaints[0]->evidence);
    }
    kks__envelope__free_unpacked(rep, NULL);
    return ec;
}

int cmd_complaint(ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"open", no_argument, 0, 'o'},         {"resolution", required_argument, 0, 'r'},
        {"issuer", required_argument, 0, 'i'}, {"switch", required_argument, 0, 's'},
        {"json", no_argument, 0, 'j'},         {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    static const char use[] =
        "usage: kksctl complaint open --nik NIK --kind data|lost-card|disbursement|transaction\n"
        "                             [--rrn RRN] --note TEXT\n"
        "       kksctl complaint list [--open]         overdue first\n"
        "       kksctl complaint show ID\n"
        "       kksctl complaint close ID --resolution TEXT\n"
        "  (each with [--issuer A] [--switch A] [--json])";
    const char *resolution = NULL;
    int o, open_only = 0;
    if (argc < 2) {
        ctl_say("%s\n", use);
        return EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--version") == 0)
        return kks_version_print(stdout, "kksctl");
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        puts(use);
        return EXIT_OK;
    }
    if (strcmp(sub, "open") == 0)
        return complaint_open(c, argc - 1, argv + 1);
    argc--;
    argv++;
    while ((o = ctl_getopt(argc, argv, opts)) != -1) {
        switch (o) {
        case 'o': open_only = 1; break;
        case 'r': resolution = optarg; break;
        case 'i': c->issuer = optarg; break;
        case 's': c->sw = optarg; break;
        case 'j': c->json = 1; break;
        case 'V': return kks_version_print(stdout, "kksctl");
        case 'h': puts(use); return EXIT_OK;
        default: ctl_say("%s\n", use); return EXIT_USAGE;
        }
    }
    if (strcmp(sub, "list") == 0 && optind == argc && !resolution)
        return complaint_list(c, open_only);
    if (strcmp(sub, "show") == 0 && optind + 1 == argc && !resolution && !open_only)
        return complaint_one(c, "show", argv[optind], NULL);
    if (strcmp(sub, "close") == 0 && optind + 1 == argc && !open_only) {
        if (!resolution) {
            ctl_say("kksctl: complaint close needs --resolution TEXT\n");
            return EXIT_USAGE;
        }
        return complaint_one(c, "close", argv[optind], resolution);
    }
    ctl_say("%s\n", use);
    return EXIT_USAGE;
}
