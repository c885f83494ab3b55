/* End to end: the complaints desk. Real issuer, switch, kksctl and
 * kks-terminal on loopback: families enrolled, credited and spending, then
 * kksctl lookup by NIK and KK, complaints of each kind with their evidence,
 * the list (overdue first, after the issuer's business date moves on), bad
 * and hostile input, and a switch that is down. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "e2e_util.h"
#include "kks_rc.h"

#define EW "EW-127101-0001"
#define KK_A "1271011502210001"
#define NIK_A "1271015607820001"
#define KK_B "1271012001190002"
#define NIK_B "1271011205700003"
#define NIK_NONE "1271010101900009" /* in no extract */
#define PIN_A "482915"

static const char extract[] =
    "kk,nik,name,birth_date,sex,address,kelurahan,kecamatan,city_code,decile,bank,pkh_pregnant,"
    "pkh_early_childhood,pkh_sd,pkh_smp,pkh_sma,pkh_disability,pkh_elderly,bpnt\n"
    KK_A "," NIK_A ",Tetty Br Hutapea,1982-07-16,P,Jl. Bhayangkara No. 7,Teladan Barat,"
    "Medan Kota,1271,3,BNI,0,2,0,0,0,0,0,1\n"
    KK_B "," NIK_B ",Togar Simanjuntak,1970-05-12,L,Jl. Sutomo No. 1,Teladan Barat,Medan Kota,"
    "1271,1,BRI,0,0,1,1,0,0,1,1\n";

static char pan_a[20], pan_b[20], rrn[16];

/* The issuer with a business date (NULL: the clock). */
static void start_issuer(const char *today)
{
    char ready[400], db[400];
    snprintf(ready, sizeof ready, "%s/issuer.ready", E.dir);
    snprintf(db, sizeof db, "%s/issuer.db", E.dir);
    unlink(ready);
    char *argv[] = {(char *)e2e_bin("kks-issuer"), "--listen", "127.0.0.1:0", "--db", db,
                    "--pki", E.pki, "--ready-file", ready, today ? "--today" : NULL,
                    (char *)today, NULL};
    E.issuer_pid = e2e_spawn("issuer", argv);
    cr_assert_eq(e2e_wait_ready(ready, E.issuer_pid, E.issuer_addr, sizeof E.issuer_addr), 0,
                 "issuer did not start");
}


#define CTL(out, ...) e2e_ctl(out, 0, __VA_ARGS__)
#define CTLJ(out, ...) e2e_ctl(out, E2E_CTL_JSON, __VA_ARGS__)

static int terminal(char **out, ...)
{
    char *argv[32], state[400];
    int n = 0;
    va_list ap;
    snprintf(state, sizeof state, "%s/term", E.dir);
    const char *pre[] = {e2e_bin("kks-terminal"), "--id", EW, "--switch", E.switch_addr, "--pki",
                         E.pki, "--state", state};
    for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++)
        argv[n++] = (char *)pre[i];
    va_start(ap, out);
    for (const char *a; n < 31 && (a = va_arg(ap, const char *));)
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    return e2e_run(out, argv);
}

static json_t *parse(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s ? s : "", 0, &e);
    cr_assert_not_null(j, "not JSON (%s): %s", e.text, s ? s : "(null)");
    return j;
}

/* j at a path of keys and indexes: "families.0.cards.1.state" */
static json_t *at(json_t *j, const char *path)
{
    char buf[200], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *t = strtok_r(buf, ".", &save); t && j; t = strtok_r(NULL, ".", &save))
        j = json_is_array(j) ? json_array_get(j, (size_t)atoi(t)) : json_object_get(j, t);
    return j;
}

static const char *str_at(json_t *j, const char *path)
{
    const char *s = json_string_value(at(j, path));
    cr_assert_not_null(s, "no string at %s", path);
    return s;
}



/* Two families with handed-over cards, PKH and BPNT credited; A activated and
 * buying eggs (the RRN kept). */
static void world(void)
{
    char path[400], *out = NULL;
    e2e_setup();
    char *tv[] = {(char *)e2e_bin("kksctl"), "pki", "terminal", "--dir", E.pki, "--id", EW, NULL};
    cr_assert_eq(e2e_run(NULL, tv), 0);
    start_issuer(NULL);
    e2e_start_switch();
    snprintf(path, sizeof path, "%s/fam.csv", E.dir);
    e2e_write_file(path, extract);
    cr_assert_eq(CTL(&out, "enroll", path), 0, "%s", out);
    free(out);
    const char *banks[] = {"BNI", "BRI"};
    char *pans[] = {pan_a, pan_b};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/print-%s.csv", E.dir, banks[i]);
        cr_assert_eq(CTL(&out, "print", "--bank", banks[i], "--out", path), 0, "%s", out);
        free(out);
        e2e_first_pan(path, pans[i]);
        cr_assert_eq(CTL(&out, "handover", "--pan", pans[i], "--site", "Kantor Camat Medan Kota",
                         "--docs", "undangan,ktp,kk"),
                     0, "%s", out);
        free(out);
    }
    snprintf(path, sizeof path, "%s/pkh.csv", E.dir);
    e2e_write_file(path, "program,period,kk,amount\npkh,2026-T4," KK_A ",1500000\n"
                     "pkh,2026-T4," KK_B ",1200000\n");
    cr_assert_eq(CTL(&out, "credit-run", path), 0, "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/bpnt.csv", E.dir);
    e2e_write_file(path, "program,period,kk,amount\nbpnt,2026-10..12," KK_A ",600000\n"
                     "bpnt,2026-10..12," KK_B ",600000\n");
    cr_assert_eq(CTL(&out, "credit-run", path), 0, "%s", out);
    free(out);
    cr_assert_eq(terminal(&out, "activate", "--pan", pan_a, "--nik", NIK_A, "--pin", PIN_A,
                          "--json", NULL), 0, "%s", out);
    free(out);
    cr_assert_eq(terminal(&out, "purchase", "--pan", pan_a, "--pin", PIN_A, "--items",
                          "TLR-1KG:2", "--json", NULL), 0, "%s", out);
    json_t *j = parse(out);
    snprintf(rrn, sizeof rrn, "%s", str_at(j, "rrn"));
    json_decref(j);
    free(out);
    cr_assert_eq(strlen(rrn), 12);
}

TestSuite(desk, .init = world, .fini = e2e_teardown, .timeout = 240);

static int list_total(void)
{
    char *out;
    cr_assert_eq(CTLJ(&out, "complaint", "list"), 0, "%s", out);
    json_t *j = parse(out);
    int n = (int)json_integer_value(at(j, "total"));
    json_decref(j);
    free(out);
    return n;
}

Test(desk, lookup_by_nik_and_kk_from_both_daemons)
{
    char *out, masked[20];
    /* text: the family, its card masked, its account with credits per period */
    cr_assert_eq(CTL(&out, "lookup", "--nik", NIK_A), 0, "%s", out);
    snprintf(masked, sizeof masked, "%.6s******%s", pan_a, pan_a + 12);
    cr_assert(strstr(out, "family KK " KK_A), "%s", out);
    cr_assert(strstr(out, "Tetty Br Hutapea, NIK " NIK_A), "%s", out);
    cr_assert(strstr(out, masked), "%s", out);
    cr_assert_null(strstr(out, pan_a), "full PAN in text: %s", out);
    cr_assert(strstr(out, "ACTIVE"), "%s", out);
    cr_assert(strstr(out, "activated"), "history: %s", out);
    cr_assert(strstr(out, "credits (2)"), "%s", out);
    cr_assert(strstr(out, "2026-T4"), "%s", out);
    cr_assert(strstr(out, "2026-10..2026-12"), "%s", out);
    cr_assert(strstr(out, "purchase"), "movements: %s", out);
    cr_assert_null(strstr(out, "NOT REACHED"), "%s", out);
    free(out);
    /* JSON, by NIK */
    cr_assert_eq(CTLJ(&out, "lookup", "--nik", NIK_A), 0, "%s", out);
    json_t *j = parse(out);
    cr_assert_str_eq(str_at(j, "rc"), KKS_RC_APPROVED);
    cr_assert_str_eq(str_at(j, "families.0.registry.kk"), KK_A);
    cr_assert_str_eq(str_at(j, "families.0.registry.nik"), NIK_A);
    cr_assert_eq(json_integer_value(at(j, "families.0.registry.pkh_early_childhood")), 2);
    cr_assert_str_eq(str_at(j, "families.0.cards.0.pan"), pan_a);
    cr_assert_str_eq(str_at(j, "families.0.cards.0.state"), "ACTIVE");
    cr_assert_str_eq(str_at(j, "accounts.0.kk"), KK_A);
    cr_assert_eq(json_array_size(at(j, "accounts.0.credits")), 2);
    cr_assert_str_eq(str_at(j, "accounts.0.credits.0.program"), "pkh");
    cr_assert_str_eq(str_at(j, "accounts.0.credits.1.first"), "2026-10");
    cr_assert_str_eq(str_at(j, "accounts.0.credits.1.last"), "2026-12");
    cr_assert_eq(json_integer_value(at(j, "accounts.0.balances.bpnt")), 600000 - 58000);
    cr_assert_eq(json_array_size(at(j, "unreached")), 0);
    json_decref(j);
    free(out);
    /* JSON, by KK */
    cr_assert_eq(CTLJ(&out, "lookup", "--kk", KK_B), 0, "%s", out);
    j = parse(out);
    cr_assert_str_eq(str_at(j, "families.0.registry.nik"), NIK_B);
    cr_assert_str_eq(str_at(j, "families.0.cards.0.state"), "DISTRIBUTED");
    cr_assert_str_eq(str_at(j, "accounts.0.programs.0"), "pkh");
    json_decref(j);
    free(out);
    /* a NIK in no extract */
    cr_assert_eq(CTL(&out, "lookup", "--nik", NIK_NONE), 1, "%s", out);
    cr_assert(strstr(out, "not registered"), "%s", out);
    free(out);
    cr_assert_eq(CTL(&out, "lookup", "--nik", "12345"), 2);
    free(out);
}

Test(desk, complaints_with_evidence_overdue_first_and_bad_input)
{
    char *out, today_plus[11], note[1200];
    json_t *j;

    /* data not registered: a NIK in no extract */
    cr_assert_eq(CTLJ(&out, "complaint", "open", "--nik", NIK_NONE, "--kind", "data", "--note",
                      "Keluarga tidak ada di DTSEN; surat pengantar kelurahan dibawa"),
                 0, "%s", out);
    j = parse(out);
    cr_assert_eq(json_integer_value(at(j, "complaint.id")), 1);
    cr_assert_str_eq(str_at(j, "complaint.kk"), "");
    cr_assert_str_eq(str_at(j, "complaint.state"), "open");
    cr_assert_str_eq(str_at(j, "complaint.opened_by"), "operator");
    cr_assert(json_is_false(at(j, "complaint.evidence.issuer.registered")), "%s", out);
    cr_assert_eq(json_array_size(at(j, "complaint.evidence.issuer.families")), 0);
    json_decref(j);
    free(out);

    /* lost card: reported, then the complaint sees the card LOST */
    cr_assert_eq(CTL(&out, "card", "lost", pan_b, "--police-report", "SKK/123/XI/2026"), 0, "%s",
                 out);
    free(out);
    cr_assert_eq(CTL(&out, "complaint", "open", "--nik", NIK_B, "--kind", "lost-card", "--note",
                     "Kartu hilang di pasar; minta kartu pengganti"),
                 0, "%s", out);
    cr_assert(strstr(out, "complaint 2 opened (lost-card)"), "%s", out);
    cr_assert(strstr(out, "LOST"), "%s", out);
    cr_assert(strstr(out, "reported_lost"), "%s", out);
    cr_assert(strstr(out, "credits (2)"), "%s", out);
    cr_assert_null(strstr(out, pan_b), "full PAN in text: %s", out);
    free(out);
    cr_assert_eq(CTL(&out, "card", "replace", pan_b, "--docs", "surat-kehilangan,ktp,kk,buku-tabungan"),
                 0, "%s", out);
    free(out);
    cr_assert_eq(CTLJ(&out, "lookup", "--nik", NIK_B), 0, "%s", out);
    j = parse(out);
    cr_assert_eq(json_array_size(at(j, "families.0.cards")), 2, "%s", out);
    cr_assert_str_eq(str_at(j, "families.0.cards.0.state"), "LOST");
    cr_assert_str_eq(str_at(j, "families.0.cards.0.replaced_by"),
                     str_at(j, "families.0.cards.1.pan"));
    cr_assert_str_eq(str_at(j, "families.0.cards.1.replaces"), pan_b);
    json_decref(j);
    free(out);

    /* a transaction: the journal row, its reversal state and the transfer */
    cr_assert_eq(CTLJ(&out, "complaint", "open", "--nik", NIK_A, "--kind", "transaction", "--rrn",
                      rrn, "--note", "Telur tidak diterima tapi saldo terpotong"),
                 0, "%s", out);
    j = parse(out);
    cr_assert_str_eq(str_at(j, "complaint.rrn"), rrn);
    cr_assert_str_eq(str_at(j, "complaint.kk"), KK_A);
    cr_assert_str_eq(str_at(j, "complaint.evidence.switch.transaction.journal.0.rrn"), rrn);
    cr_assert_str_eq(str_at(j, "complaint.evidence.switch.transaction.journal.0.type"),
                     "purchase");
    cr_assert_str_eq(str_at(j, "complaint.evidence.switch.transaction.journal.0.rc"), "00");
    cr_assert(json_is_false(at(j, "complaint.evidence.switch.transaction.journal.0.reversed")));
    cr_assert_eq(json_integer_value(at(j, "complaint.evidence.switch.transaction.journal.0.amount")),
                 58000);
    cr_assert_eq(strncmp(str_at(j, "complaint.evidence.switch.transaction.transfers.0.key"),
                         "txn:" EW ":", 4 + strlen(EW) + 1), 0);
    cr_assert_str_eq(str_at(j, "complaint.evidence.switch.transaction.transfers.0.from_owner"),
                     KK_A);
    cr_assert_str_eq(str_at(j, "complaint.evidence.switch.accounts.0.credits.0.period"),
                     "2026-T4");
    cr_assert_str_eq(str_at(j, "complaint.evidence.issuer.families.0.cards.0.state"), "ACTIVE");
    json_decref(j);
    free(out);
    cr_assert_eq(list_total(), 3);

    /* bad input: a clear error, nothing opened */
    cr_assert_eq(CTL(&out, "complaint", "open", "--nik", NIK_A, "--kind", "grumble", "--note",
                     "x"), 2);
    free(out);
    cr_assert_eq(CTL(&out, "complaint", "open", "--nik", NIK_A, "--kind", "data"), 2);
    free(out);
    cr_assert_eq(CTL(&out, "complaint", "open", "--nik", NIK_A, "--kind", "transaction", "--note",
                     "no rrn"), 2);
    free(out);
    cr_assert_eq(CTL(&out, "complaint", "open", "--nik", NIK_A, "--kind", "transaction", "--rrn",
                     "999999999999", "--note", "no such"), 1);
    free(out);
    cr_assert_eq(CTL(&out, "complaint", "open", "--nik", NIK_B, "--kind", "transaction", "--rrn",
                     rrn, "--note", "not theirs"), 1, "another family's RRN");
    free(out);
    /* hostile text: too long, control characters (a terminal escape), not UTF-8, blank */
    memset(note, 'A', sizeof note - 1);
    note[sizeof note - 1] = '\0';
    const char *hostile[] = {note, "ok\x1b]0;pwned\x07", "caf\xe9", "   ", "line\nbreak"};
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        cr_assert_eq(CTL(&out, "complaint", "open", "--nik", NIK_A, "--kind", "data", "--note",
                         hostile[i]), 2, "hostile note %zu accepted", i);
        free(out);
    }
    cr_assert_eq(list_total(), 3);

    /* the issuer refuses what a peer sends, whatever kksctl checked */
    SSL *ssl = e2e_tls_dial(E.issuer_addr, E.pki, "operator");
    cr_assert_not_null(ssl);
    note[1000] = 'A';
    note[1001] = '\0';
    const struct {
        const char *kind, *rrn, *note, *ev;
    } raw[] = {
        {"data", "", note, ""},                          /* over the cap */
        {"data", "", "Saldo\x1b[2J", ""},                /* control character */
        {"refund", "", "x", ""},                         /* unknown kind */
        {"transaction", "", "x", ""},                    /* no RRN */
        {"transaction", rrn, "x", "{\"accounts\":[]}"},  /* no journal rows of it */
        {"data", "", "x", "[1,2"},                       /* evidence not JSON */
    };
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        Kks__Envelope env = KKS__ENVELOPE__INIT, *rep;
        Kks__ComplaintRequest cr = KKS__COMPLAINT_REQUEST__INIT;
        cr.op = "open";
        cr.nik = NIK_A;
        cr.kind = (char *)raw[i].kind;
        cr.rrn = (char *)raw[i].rrn;
        cr.note = (char *)raw[i].note;
        cr.switch_evidence = (char *)raw[i].ev;
        env.id = i + 1;
        env.body_case = KKS__ENVELOPE__BODY_COMPLAINT_REQUEST;
        env.complaint_request = &cr;
        cr_assert_eq(e2e_send(ssl, &env), 0);
        cr_assert_not_null(rep = e2e_recv(ssl));
        cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_COMPLAINT_REPLY);
        cr_assert_str_neq(rep->complaint_reply->rc, KKS_RC_APPROVED, "raw %zu accepted", i);
        cr_assert_eq(rep->complaint_reply->n_complaints, 0);
        kks__envelope__free_unpacked(rep, NULL);
    }
    e2e_tls_close(ssl);
    cr_assert_eq(list_total(), 3);

    /* show, close, close again, unknown IDs */
    cr_assert_eq(CTL(&out, "complaint", "show", "3"), 0, "%s", out);
    cr_assert(strstr(out, "transaction RRN"), "%s", out);
    cr_assert(strstr(out, "not reversed"), "%s", out);
    free(out);
    cr_assert_eq(CTL(&out, "complaint", "close", "1", "--resolution",
                     "Diteruskan ke Dinas Sosial untuk verifikasi DTSEN"), 0, "%s", out);
    cr_assert(strstr(out, "complaint 1 closed"), "%s", out);
    free(out);
    cr_assert_eq(CTL(&out, "complaint", "close", "1", "--resolution", "again"), 1);
    free(out);
    cr_assert_eq(CTL(&out, "complaint", "close", "99", "--resolution", "x"), 1);
    free(out);
    cr_assert_eq(CTL(&out, "complaint", "close", "2"), 2, "no resolution");
    free(out);
    cr_assert_eq(CTL(&out, "complaint", "show", "99"), 1);
    free(out);
    cr_assert_eq(CTLJ(&out, "complaint", "show", "1"), 0, "%s", out);
    j = parse(out);
    cr_assert_str_eq(str_at(j, "complaint.state"), "closed");
    cr_assert_str_eq(str_at(j, "complaint.closed_by"), "operator");
    json_decref(j);
    free(out);

    /* a month later (the issuer's business date): 2 and 3 are overdue; a new
     * one is not; overdue first, the closed one last */
    time_t t = time(NULL) + 40 * 86400;
    strftime(today_plus, sizeof today_plus, "%Y-%m-%d", gmtime(&t));
    cr_assert_eq(e2e_stop(E.issuer_pid), 0);
    start_issuer(today_plus);
    note[1000] = '\0'; /* exactly at the cap: taken */
    cr_assert_eq(CTL(&out, "complaint", "open", "--nik", NIK_B, "--kind", "disbursement",
                     "--note", note), 0, "%s", out);
    free(out);
    cr_assert_eq(CTLJ(&out, "complaint", "list"), 0, "%s", out);
    j = parse(out);
    cr_assert_eq(json_array_size(at(j, "complaints")), 4, "%s", out);
    cr_assert(json_is_true(at(j, "complaints.0.overdue")), "%s", out);
    cr_assert(json_is_true(at(j, "complaints.1.overdue")), "%s", out);
    cr_assert_eq(json_integer_value(at(j, "complaints.2.id")), 4, "%s", out);
    cr_assert(json_is_false(at(j, "complaints.2.overdue")), "%s", out);
    cr_assert_eq(json_integer_value(at(j, "complaints.3.id")), 1, "%s", out);
    cr_assert_str_eq(str_at(j, "complaints.3.state"), "closed");
    json_decref(j);
    free(out);
    cr_assert_eq(CTL(&out, "complaint", "list", "--open"), 0, "%s", out);
    cr_assert(strstr(out, "OPEN, OVERDUE"), "%s", out);
    cr_assert(strstr(out, "3 complaints"), "%s", out);
    free(out);

    /* the switch down: lookup says so, and what the issuer knows still shows */
    cr_assert_eq(e2e_stop(E.switch_pid), 0);
    cr_assert_eq(CTL(&out, "lookup", "--nik", NIK_A), 3, "%s", out);
    cr_assert(strstr(out, "family KK " KK_A), "%s", out);
    cr_assert(strstr(out, "NOT REACHED: switch"), "%s", out);
    free(out);
    cr_assert_eq(CTL(&out, "complaint", "open", "--nik", NIK_A, "--kind", "transaction", "--rrn",
                     rrn, "--note", "switch down"), 3);
    free(out);
}
