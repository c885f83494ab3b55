/* End to end: what a terminal gets when the disk fills up (SPEC §12), with the
 * real daemons and the real kks-terminal. The disk is filled for real through
 * test-build hooks read by kks_db_open (core/kks_db.h):
 *   KKS_TEST_DISK_FREE=N  the daemon's database files have N bytes of disk
 *                         left (a COMMIT that grows the WAL fails: SQLITE_FULL)
 *   KKS_TEST_MAX_PAGES=1  the database may not grow (a statement that needs a
 *                         new page fails: SQLITE_FULL)
 * Space "returns" when the daemon restarts without the variable.
 * And the WAL: checkpointed while the daemons run, so that it stays bounded
 * and the database file holds the data (SPEC §9). */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "e2e_util.h"
#include "kks_db.h"

#define EW "EW-127101-0001"
#define KK_A "1271011502210001"
#define NIK_A "1271015607820001"
#define PIN_A "482915"

static char pan_a[20];

static const char header[] =
    "kk,nik,name,birth_date,sex,address,kelurahan,kecamatan,city_code,decile,bank,pkh_pregnant,"
    "pkh_early_childhood,pkh_sd,pkh_smp,pkh_sma,pkh_disability,pkh_elderly,bpnt\n";

/* The tests that fill the disk or kill the switch need the hooks compiled in. */
#ifdef KKS_TEST_HOOKS
#define need_test_hooks() ((void)0)
#else
#define need_test_hooks() cr_skip_test("needs a build with KKS_TEST_HOOKS")
#endif

/* kksctl --json ARGS... (ending at the first NULL) against E's daemons. */
#define ctl(out, ...) e2e_ctl(out, E2E_CTL_JSON, __VA_ARGS__)

/* argv of kks-terminal --json as EW against the current switch, then the
 * command and its arguments (ap, up to a NULL). */
static void terminal_argv(char **argv, int cap, const char *cmd, va_list ap)
{
    static char state[400];
    int n = 0;
    snprintf(state, sizeof state, "%s/terminal-state", E.dir);
    argv[n++] = (char *)e2e_bin("kks-terminal");
    argv[n++] = "--id";
    argv[n++] = EW;
    argv[n++] = "--switch";
    argv[n++] = E.switch_addr;
    argv[n++] = "--pki";
    argv[n++] = E.pki;
    argv[n++] = "--state";
    argv[n++] = state;
    argv[n++] = "--json";
    argv[n++] = (char *)cmd;
    for (const char *a; n < cap - 1 && (a = va_arg(ap, const char *));)
        argv[n++] = (char *)a;
    argv[n] = NULL;
}

/* Runs kks-terminal to completion; args end with NULL. */
static int terminal(char **out, const char *cmd, ...)
{
    char *argv[32];
    va_list ap;
    va_start(ap, cmd);
    terminal_argv(argv, 32, cmd, ap);
    va_end(ap);
    return e2e_run(out, argv);
}

/* Starts kks-terminal in the background, output to dir/NAME.log. */
static pid_t terminal_spawn(const char *name, const char *cmd, ...)
{
    char *argv[32];
    va_list ap;
    va_start(ap, cmd);
    terminal_argv(argv, 32, cmd, ap);
    va_end(ap);
    return e2e_spawn(name, argv);
}

static void write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(s, f);
    fclose(f);
}

/* One family, its card handed over (not activated), PKH and BPNT credited. */
static void world(void)
{
    char path[400], rows[1024], *out = NULL;
    e2e_setup();
    char *argv[] = {(char *)e2e_bin("kksctl"), "pki", "terminal", "--dir", E.pki, "--id", EW,
                    NULL};
    cr_assert_eq(e2e_run(NULL, argv), 0);
    e2e_start_issuer();
    e2e_start_switch();
    snprintf(path, sizeof path, "%s/fam.csv", E.dir);
    snprintf(rows, sizeof rows,
             "%s%s,%s,Tetty Br Hutapea,1982-07-16,P,Jl. Bhayangkara No. 7,Teladan Barat,"
             "Medan Kota,1271,3,BNI,0,2,0,0,0,0,0,1\n",
             header, KK_A, NIK_A);
    write_file(path, rows);
    cr_assert_eq(ctl(&out, "enroll", path, 0, 0, 0), 0, "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/print.csv", E.dir);
    cr_assert_eq(ctl(&out, "print", "--bank", "BNI", "--out", path), 0, "%s", out);
    free(out);
    char *pf = e2e_slurp(path);
    cr_assert_not_null(pf);
    memcpy(pan_a, strchr(pf, '\n') + 1, 16);
    pan_a[16] = '\0';
    free(pf);
    cr_assert_eq(ctl(&out, "handover", "--pan", pan_a, "--site", "Kantor Camat Medan Kota",
                     "--docs", "undangan,ktp,kk"),
                 0,
                 "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/pkh.csv", E.dir);
    snprintf(rows, sizeof rows, "program,period,kk,amount\npkh,2026-T4,%s,1500000\n", KK_A);
    write_file(path, rows);
    cr_assert_eq(ctl(&out, "credit-run", path, 0, 0, 0), 0, "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/bpnt.csv", E.dir);
    snprintf(rows, sizeof rows, "program,period,kk,amount\nbpnt,2026-10..12,%s,600000\n", KK_A);
    write_file(path, rows);
    cr_assert_eq(ctl(&out, "credit-run", path, 0, 0, 0), 0, "%s", out);
    free(out);
}

TestSuite(durability, .init = world, .fini = e2e_teardown, .timeout = 300);

static void activate(void)
{
    char *out = NULL;
    int ec = terminal(&out, "activate", "--pan", pan_a, "--nik", NIK_A, "--pin", PIN_A, NULL);
    cr_assert_eq(ec, 0, "activation: exit %d: %s", ec, out);
    free(out);
}

/* The family's wallets, read by the operator (a read: works on a full disk). */
static void wallets(int64_t *pkh, int64_t *bpnt)
{
    char *out = NULL;
    long long p, b;
    cr_assert_eq(ctl(&out, "account", "show", KK_A, 0, 0), 0, "%s", out);
    const char *at = strstr(out, "\"balances\":{");
    cr_assert(at && sscanf(at, "\"balances\":{\"pkh\":%lld,\"bpnt\":%lld}", &p, &b) == 2, "%s",
              out);
    *pkh = p;
    *bpnt = b;
    free(out);
}

static void ledger_ok(void)
{
    char *out = NULL;
    cr_assert_eq(ctl(&out, "ledger", "check", 0, 0, 0), 0, "%s", out);
    cr_assert(strstr(out, "\"ok\":true"), "%s", out);
    free(out);
}

/* Starts the switch on the same database and listen address (port 0: any),
 * with one variable set (NULL: none). */
static void start_switch_at(const char *listen, const char *var, const char *value)
{
    char ready[400], db[400], lis[64];
    static int n;
    snprintf(lis, sizeof lis, "%s", listen);
    snprintf(ready, sizeof ready, "%s/switch-%d.ready", E.dir, ++n);
    snprintf(db, sizeof db, "%s/switch.db", E.dir);
    char *argv[] = {(char *)e2e_bin("kks-switch"), "--listen", lis, "--db", db, "--pki", E.pki,
                    "--issuer", E.issuer_addr, "--ready-file", ready, NULL};
    if (var)
        setenv(var, value, 1);
    E.switch_pid = e2e_spawn("switch", argv); /* appends to switch.log */
    if (var)
        unsetenv(var);
    cr_assert_eq(e2e_wait_ready(ready, E.switch_pid, E.switch_addr, sizeof E.switch_addr), 0,
                 "switch did not start on %s", lis);
}

/* Stops the switch (SIGTERM) and starts it again on any port. */
static void restart_switch(const char *var, const char *value)
{
    cr_assert_eq(e2e_stop(E.switch_pid), 0);
    start_switch_at("127.0.0.1:0", var, value);
}

/* The same for the issuer, on the same address (the switch reconnects to it). */
static void restart_issuer(const char *var, const char *value)
{
    char ready[400], db[400], addr[64];
    static int n;
    cr_assert_eq(e2e_stop(E.issuer_pid), 0);
    snprintf(addr, sizeof addr, "%s", E.issuer_addr);
    snprintf(ready, sizeof ready, "%s/issuer-%d.ready", E.dir, ++n);
    snprintf(db, sizeof db, "%s/issuer.db", E.dir);
    char *argv[] = {(char *)e2e_bin("kks-issuer"), "--listen", addr, "--db", db, "--pki", E.pki,
                    "--ready-file", ready, NULL};
    if (var)
        setenv(var, value, 1);
    E.issuer_pid = e2e_spawn("issuer-restarted", argv);
    if (var)
        unsetenv(var);
    cr_assert_eq(e2e_wait_ready(ready, E.issuer_pid, E.issuer_addr, sizeof E.issuer_addr), 0);
}

static int log_has(const char *name, const char *needle)
{
    char p[400];
    snprintf(p, sizeof p, "%s/%s", E.dir, name);
    return e2e_file_has(p, needle);
}

/* A declined transaction's JSON: rc 96 and nothing an approval carries. */
static void is_96(const char *out, const char *reason)
{
    cr_assert(strstr(out, "\"rc\":\"96\""), "%s", out);
    cr_assert(strstr(out, reason), "reason: %s", out);
    cr_assert(strstr(out, "\"approved\":false"), "%s", out);
    cr_assert_null(strstr(out, "auth_code"), "%s", out);
    cr_assert_null(strstr(out, "balances"), "%s", out);
}

/* The disk fills up: the switch's COMMIT cannot grow its WAL. The terminal
 * shows 96 (exit 1, a decline), not a failure to talk to the switch (exit 3
 * with no response code); nothing moved; the daemon goes on once space
 * returns. */
Test(durability, disk_full_at_commit_is_96_and_the_switch_recovers_when_space_returns)
{
    need_test_hooks();
    char *out = NULL;
    int64_t pkh, bpnt, pkh2, bpnt2;
    int ec;
    activate();
    wallets(&pkh, &bpnt);
    restart_switch("KKS_TEST_DISK_FREE", "0");
    ec = terminal(&out, "withdraw", "--pan", pan_a, "--pin", PIN_A, "--amount", "100000", NULL);
    cr_assert_eq(ec, 1, "withdrawal on a full disk: exit %d (3 means an Error envelope): %s", ec,
                 out);
    is_96(out, "\"reason\":\"system malfunction; nothing moved\"");
    cr_assert(strstr(out, "\"amount\":100000"), "the amount asked for is shown: %s", out);
    free(out);
    ec = terminal(&out, "purchase", "--pan", pan_a, "--pin", PIN_A, "--items", "TLR-1KG:2", NULL);
    cr_assert_eq(ec, 1, "purchase on a full disk: exit %d: %s", ec, out);
    is_96(out, "nothing moved");
    free(out);
    wallets(&pkh2, &bpnt2);
    cr_assert_eq(pkh2, pkh, "nothing moved from PKH");
    cr_assert_eq(bpnt2, bpnt, "nothing moved from BPNT");
    ledger_ok();
    cr_assert(log_has("switch.log", "group transaction not committed"));
    cr_assert_not(log_has("switch.log", "cannot rollback"), "ROLLBACK of a transaction SQLite "
                                                            "had already rolled back");

    restart_switch(NULL, NULL); /* space returns */
    ec = terminal(&out, "withdraw", "--pan", pan_a, "--pin", PIN_A, "--amount", "100000", NULL);
    cr_assert_eq(ec, 0, "after space returned: exit %d: %s", ec, out);
    cr_assert(strstr(out, "\"rc\":\"00\""), "%s", out);
    free(out);
    wallets(&pkh2, &bpnt2);
    cr_assert_eq(pkh2, pkh - 100000);
    cr_assert_eq(bpnt2, bpnt);
    ledger_ok();
}

/* The database may not grow: a statement in the middle of the transaction
 * (transfer or journal row) fails with SQLITE_FULL, and SQLite rolls the whole
 * group transaction back. Approved BPNT purchases (Rp3,000 of kangkung: a card
 * may make only 3 cash withdrawals a day, not 60) go on until the first one that
 * needs a new page; that one is 96 and moved nothing. */
Test(durability, a_database_that_may_not_grow_is_96_from_the_statement_that_needs_a_page)
{
    need_test_hooks();
    char *out = NULL;
    int64_t pkh, bpnt, pkh2, bpnt2, approved = 0;
    int ec = 0, i;
    activate();
    wallets(&pkh, &bpnt);
    restart_switch("KKS_TEST_MAX_PAGES", "1");
    for (i = 0; i < 60; i++) {
        ec = terminal(&out, "purchase", "--pan", pan_a, "--pin", PIN_A, "--items", "SYR-KNG:1",
                      NULL);
        if (ec != 0)
            break;
        approved += 3000;
        free(out);
    }
    cr_assert_lt(i, 60, "the database never filled up");
    fprintf(stderr, "max_page_count: %d purchases approved before one needed a new page\n", i);
    cr_assert_eq(ec, 1, "the purchase that needs a new page: exit %d: %s", ec, out);
    is_96(out, "\"reason\":\"system malfunction; nothing moved\"");
    free(out);
    wallets(&pkh2, &bpnt2);
    cr_assert_eq(bpnt2, bpnt - approved, "only the %" PRId64 " approved moved", approved);
    cr_assert_eq(pkh2, pkh);
    ledger_ok();
    cr_assert(log_has("switch.log", "group transaction not committed"));
    cr_assert_not(log_has("switch.log", "no such savepoint"),
                  "the group undid a savepoint SQLite had already rolled back");

    restart_switch(NULL, NULL);
    ec = terminal(&out, "purchase", "--pan", pan_a, "--pin", PIN_A, "--items", "SYR-KNG:1", NULL);
    cr_assert_eq(ec, 0, "after space returned: exit %d: %s", ec, out);
    free(out);
    wallets(&pkh2, &bpnt2);
    cr_assert_eq(bpnt2, bpnt - approved - 3000);
    ledger_ok();
}

/* The issuer's disk is full: activation (a write at the issuer) is answered
 * with the issuer's own 96, which the switch passes on; the card stays as it
 * was; the switch does not hang waiting. */
Test(durability, issuer_disk_full_activation_is_96_through_the_switch)
{
    need_test_hooks();
    char *out = NULL;
    int ec = 0;
    restart_issuer("KKS_TEST_DISK_FREE", "0");
    for (int i = 0; i < 100; i++) { /* until the switch's link is back (91 meanwhile) */
        ec = terminal(&out, "activate", "--pan", pan_a, "--nik", NIK_A, "--pin", PIN_A, NULL);
        if (ec != 1 || !strstr(out, "\"rc\":\"91\""))
            break;
        free(out);
        out = NULL;
        usleep(100000);
    }
    cr_assert_eq(ec, 1, "activation on the issuer's full disk: exit %d: %s", ec, out);
    cr_assert(strstr(out, "\"rc\":\"96\""), "%s", out);
    cr_assert(strstr(out, "\"reason\":\"system malfunction; nothing changed\""),
              "the issuer's own answer, not an Error the switch could not read: %s", out);
    free(out);
    cr_assert(log_has("issuer-restarted.log", "group transaction not committed"));
    cr_assert_eq(ctl(&out, "card", "show", pan_a, 0, 0), 0, "%s", out);
    cr_assert(strstr(out, "\"state\":\"DISTRIBUTED\""), "the card is not activated: %s", out);
    free(out);

    restart_issuer(NULL, NULL);
    for (int i = 0; i < 100; i++) {
        ec = terminal(&out, "activate", "--pan", pan_a, "--nik", NIK_A, "--pin", PIN_A, NULL);
        if (ec != 1 || !strstr(out, "\"rc\":\"91\""))
            break;
        free(out);
        out = NULL;
        usleep(100000);
    }
    cr_assert_eq(ec, 0, "activation once space returned: exit %d: %s", ec, out);
    free(out);
    ledger_ok();
}

static long long file_size(const char *name)
{
    char p[400];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", E.dir, name);
    return stat(p, &st) == 0 ? (long long)st.st_size : 0;
}

/* Enrolment writes at the issuer and a credit run at the switch, each several
 * times KKS_WAL_LIMIT of WAL; after a short idle each WAL is within the limit
 * and each database file holds what was written. (Before, the checkpointer's
 * connection had never read the database, so its checkpoints did nothing:
 * the WAL only grew, and switch.db stayed at 4 KiB until a clean shutdown.) */
Test(durability, the_wal_stays_bounded_and_the_database_file_holds_the_data)
{
    const long families = 30000, credits = 150000;
    char path[400], *out = NULL;
    long long wal_max = 0;
    int ec;

    char fam[16];
    snprintf(fam, sizeof fam, "%ld", families);
    char *gen[] = {(char *)e2e_bin("kksctl"), "gen", "population", "--families", fam, "--seed",
                   "7", NULL};
    cr_assert_eq(e2e_run(&out, gen), 0);
    snprintf(path, sizeof path, "%s/population.csv", E.dir);
    write_file(path, out);
    free(out);
    ec = ctl(&out, "enroll", path, 0, 0, 0);
    cr_assert(ec == 0 || ec == 1, "enroll: %d %s", ec, out); /* a KK of the world's may recur */
    cr_assert(strstr(out, "\"enrolled\":"), "%s", out);
    cr_assert_geq(strtol(strstr(out, "\"enrolled\":") + 11, NULL, 10), families - 10, "%s", out);
    free(out);

    uint64_t *kks = calloc((size_t)credits, sizeof *kks);
    for (long i = 0; i < credits; i++)
        kks[i] = (uint64_t)1271010000000000ull + (uint64_t)i * 37;
    e2e_open_accounts(kks, (size_t)credits, 1);
    free(kks);
    snprintf(path, sizeof path, "%s/credits.csv", E.dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "program,period,kk,amount\n");
    for (long i = 0; i < credits; i++)
        fprintf(f, "pkh,2026-T3,%016" PRIu64 ",250000\n",
                (uint64_t)1271010000000000ull + (uint64_t)i * 37);
    fclose(f);
    /* the switch's WAL, sampled while the run goes on (reported, not asserted:
     * a run this size stays under KKS_WAL_MAX either way) */
    char *run[] = {(char *)e2e_bin("kksctl"), "--pki", E.pki, "--switch", E.switch_addr,
                   "--json", "credit-run", path, NULL};
    pid_t pid = e2e_spawn("credit-run", run);
    int st;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        long long w = file_size("switch.db-wal");
        if (w > wal_max)
            wal_max = w;
        usleep(10000);
    }
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "credit-run failed");
    cr_assert(e2e_file_has(strcat(strcpy(path, E.dir), "/credit-run.log"), "\"credited\":150000"),
              "every row credited");

    /* a short idle: the checkpointer's rounds are 200 ms */
    for (int i = 0; i < 30; i++) {
        if (file_size("switch.db-wal") <= KKS_WAL_LIMIT &&
            file_size("issuer.db-wal") <= KKS_WAL_LIMIT)
            break;
        usleep(100000);
    }
    fprintf(stderr,
            "wal: switch.db %lld, switch.db-wal %lld (at most %lld during the run); issuer.db "
            "%lld, issuer.db-wal %lld\n",
            file_size("switch.db"), file_size("switch.db-wal"), wal_max, file_size("issuer.db"),
            file_size("issuer.db-wal"));
    cr_assert_leq(file_size("switch.db-wal"), KKS_WAL_LIMIT, "switch WAL after the idle");
    cr_assert_leq(file_size("issuer.db-wal"), KKS_WAL_LIMIT, "issuer WAL after the idle");
    cr_assert_geq(file_size("switch.db"), credits * 50, "the credits are in switch.db");
    cr_assert_geq(file_size("issuer.db"), families * 100, "the enrolment is in issuer.db");
    ledger_ok();
}

/* The family's PKH balance read from switch.db itself (the switch is down). */
static int64_t pkh_in_switch_db(void)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    int64_t v = -1;
    char p[400];
    snprintf(p, sizeof p, "%s/switch.db", E.dir);
    cr_assert_eq(sqlite3_open_v2(p, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(h, "SELECT pkh FROM wallet WHERE kk = ?", -1, &st, NULL),
                 SQLITE_OK);
    sqlite3_bind_int64(st, 1, strtoll(KK_A, NULL, 10));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* The switch is killed between the debit (committed) and the reply. */
static void withdrawal_killed_after_commit(const char *stan, pid_t *term, int64_t pkh)
{
    restart_switch("KKS_FAULT", "exit-after-commit");
    *term = terminal_spawn("terminal", "withdraw", "--pan", pan_a, "--pin", PIN_A, "--amount",
                           "100000", "--stan", stan, "--timeout", "5000", NULL);
    cr_assert_eq(e2e_wait_for(E.switch_pid, 30000), 128 + SIGKILL, "the fault point did not fire");
    cr_assert(log_has("switch.log", "test hook: killed after COMMIT"));
    cr_assert_eq(pkh_in_switch_db(), pkh - 100000, "the withdrawal was committed before the kill");
}

/* The terminal gets no reply, sends a reversal by itself and repeats it until
 * the switch, restarted on the same database and address, acknowledges it:
 * the wallet is back where it was. */
Test(durability, killed_between_debit_and_reply_the_terminals_reversal_puts_the_money_back)
{
    need_test_hooks();
    int64_t pkh, bpnt, pkh2, bpnt2;
    char addr[64], p[400];
    pid_t term;
    activate();
    wallets(&pkh, &bpnt);
    withdrawal_killed_after_commit("4100", &term, pkh);
    snprintf(addr, sizeof addr, "%s", E.switch_addr); /* where the terminal keeps trying */
    start_switch_at(addr, NULL, NULL);
    cr_assert_eq(e2e_wait_for(term, 130000), 3, "no reply: the terminal reports the lost switch");
    snprintf(p, sizeof p, "%s/terminal.log", E.dir);
    char *log = e2e_slurp(p);
    cr_assert(log && strstr(log, "\"rc\":null"), "%s", log);
    cr_assert(strstr(log, "\"reversal\":{\"status\":\"acknowledged\",\"moved\":true"), "%s",
              log);
    free(log);
    wallets(&pkh2, &bpnt2);
    cr_assert_eq(pkh2, pkh, "the reversal put the money back");
    cr_assert_eq(bpnt2, bpnt);
    ledger_ok();
}

/* The terminal is switched off before it can reverse; the operator sends the
 * same transaction again (same STAN, same content) to the restarted switch:
 * the first reply again, and the wallet debited exactly once. */
Test(durability, killed_between_debit_and_reply_a_retry_of_the_same_stan_is_debited_once)
{
    need_test_hooks();
    int64_t pkh, bpnt, pkh2, bpnt2;
    char *out = NULL;
    pid_t term;
    activate();
    wallets(&pkh, &bpnt);
    withdrawal_killed_after_commit("4200", &term, pkh);
    e2e_kill(term); /* before any reversal could reach a switch: none is up */
    start_switch_at("127.0.0.1:0", NULL, NULL);
    int ec = terminal(&out, "withdraw", "--pan", pan_a, "--pin", PIN_A, "--amount", "100000",
                      "--stan", "4200", NULL);
    cr_assert_eq(ec, 0, "the retry gets the first reply: exit %d: %s", ec, out);
    cr_assert(strstr(out, "\"rc\":\"00\""), "%s", out);
    cr_assert(strstr(out, "\"pkh\":1400000"), "%s", out);
    free(out);
    wallets(&pkh2, &bpnt2);
    cr_assert_eq(pkh2, pkh - 100000, "debited exactly once");
    cr_assert_eq(bpnt2, bpnt);
    ledger_ok();
}
