/* Exit codes and --json on every path, one row a command line: what each
 * program exits with and what its stdout (and, for the daemons, stderr) looks
 * like. Exit codes: 0 done, 1 declined, 2 usage error, 3 cannot reach or talk
 * to a peer, 4 internal error. With --json stdout is exactly one JSON object on
 * one line; on failure {"error":"...","exit":N} (kks-terminal adds the
 * transaction's fields). A daemon's stderr is its log: every line a JSON
 * object, a usage error included.
 *
 * A row's words are split on spaces; {dir} (the test's directory), {pki},
 * {is} and {sw} (the running issuer and switch) and {dead} (a loopback port
 * nothing listens on) are replaced in the words and in the needle. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "e2e_util.h"
#include "kks_net.h"

enum shape {
    TEXT,  /* stdout: text for people (or CSV), not empty, no error object in it */
    EMPTY, /* stdout: nothing (what went wrong is on stderr) */
    JSON,  /* stdout: one JSON object, a result */
    ERROR, /* stdout: one JSON object with "error" (words) and "exit" (the exit code) */
    LOG,   /* stdout: nothing; stderr: every line a JSON object (a daemon's log) */
};

typedef struct row {
    const char *cmd;
    int exit;
    enum shape shape;
    const char *needle; /* in stdout (TEXT, JSON, ERROR) or stderr (LOG); NULL: none */
} row;

static char dead[64];

/* A loopback address that refuses connections: a port the kernel gave and
 * took back (never a fixed one). */
static void dead_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    snprintf(dead, sizeof dead, "127.0.0.1:%u", ntohs(sa.sin_port));
}

/* s with the tokens replaced, into out. */
static void expand(const char *s, char *out, size_t cap)
{
    const struct {
        const char *tok, *val;
    } t[] = {{"{dir}", E.dir}, {"{pki}", E.pki},   {"{is}", E.issuer_addr},
             {"{sw}", E.switch_addr}, {"{dead}", dead}};
    size_t n = 0;
    while (*s && n + 1 < cap) {
        size_t i, k = sizeof t / sizeof t[0];
        for (i = 0; i < k; i++)
            if (strncmp(s, t[i].tok, strlen(t[i].tok)) == 0)
                break;
        if (i < k) {
            n += (size_t)snprintf(out + n, cap - n, "%s", t[i].val);
            s += strlen(t[i].tok);
        } else
            out[n++] = *s++;
    }
    out[n < cap ? n : cap - 1] = '\0';
}

/* The one JSON object that must be all of out (one line), or NULL after
 * saying why. */
static json_t *one_object(const row *r, const char *out)
{
    json_error_t e;
    json_t *v;
    size_t len = strlen(out);
    if (len == 0 || out[len - 1] != '\n' || strchr(out, '\n') != out + len - 1) {
        cr_expect_fail("%s: stdout is not one line: [%s]", r->cmd, out);
        return NULL;
    }
    if (!(v = json_loads(out, 0, &e)) || !json_is_object(v)) {
        cr_expect_fail("%s: stdout is not a JSON object (%s): [%s]", r->cmd, e.text, out);
        json_decref(v);
        return NULL;
    }
    return v;
}

/* Every line of err is a JSON object. */
static void log_lines(const row *r, const char *err)
{
    const char *p = err;
    while (*p) {
        size_t n = strcspn(p, "\n");
        json_error_t e;
        json_t *v = json_loadb(p, n, 0, &e);
        cr_expect(v && json_is_object(v), "%s: a stderr line is not a JSON object: [%.*s]",
                  r->cmd, (int)n, p);
        json_decref(v);
        p += n + (p[n] == '\n');
    }
    cr_expect(*err, "%s: nothing logged", r->cmd);
}

static void check(const row *r)
{
    char line[1024], needle[256], *argv[40], *words, *save = NULL, *out = NULL, *err = NULL;
    int argc = 0, ec;
    json_t *v;
    expand(r->cmd, line, sizeof line);
    words = line;
    for (char *w = strtok_r(words, " ", &save); w && argc < 39; w = strtok_r(NULL, " ", &save)) {
        argv[argc] = argc == 0 ? (char *)e2e_bin(w) : w;
        argc++;
    }
    argv[argc] = NULL;
    expand(r->needle ? r->needle : "", needle, sizeof needle);

    ec = e2e_run_err(&out, &err, argv);
    cr_assert(out && err, "%s: no output captured", r->cmd);
    cr_expect_eq(ec, r->exit, "%s: exit %d, expected %d; stdout [%s] stderr [%.600s]", r->cmd, ec,
                 r->exit, out, err);
    switch (r->shape) {
    case TEXT:
        cr_expect(*out && out[0] != '{' && !strstr(out, "\n{\"error\""),
                  "%s: expected text on stdout: [%s]", r->cmd, out);
        break;
    case EMPTY:
    case LOG:
        cr_expect_str_empty(out, "%s: expected nothing on stdout: [%s]", r->cmd, out);
        if (r->shape == LOG)
            log_lines(r, err);
        break;
    case JSON:
    case ERROR:
        if (!(v = one_object(r, out)))
            break;
        if (r->shape == ERROR) {
            json_t *e = json_object_get(v, "error"), *x = json_object_get(v, "exit");
            cr_expect(json_is_string(e) && *json_string_value(e), "%s: no \"error\": %s",
                      r->cmd, out);
            cr_expect(json_is_integer(x) && json_integer_value(x) == r->exit,
                      "%s: \"exit\" is not %d: %s", r->cmd, r->exit, out);
        }
        json_decref(v);
        break;
    }
    if (*needle)
        cr_expect(strstr(r->shape == LOG ? err : out, needle), "%s: [%s] not in [%s]", r->cmd,
                  needle, r->shape == LOG ? err : out);
    free(out);
    free(err);
}

/* Every program and command: --help and --version exit 0 with text on
 * stdout; an unknown option exits 2, with nothing on stdout, or with --json
 * the error object (the commands that print data). */
static const struct {
    const char *cmd;
    int json; /* takes --json */
} commands[] = {
    {"kksctl", 1},
    {"kksctl pki", 1},
    {"kksctl pki init", 1},
    {"kksctl pki terminal", 1},
    {"kksctl ping", 1},
    {"kksctl enroll", 1},
    {"kksctl accounts", 1},
    {"kksctl accounts open", 1},
    {"kksctl print", 1},
    {"kksctl handover", 1},
    {"kksctl card", 1},
    {"kksctl card show", 1},
    {"kksctl gen", 0},
    {"kksctl gen population", 0},
    {"kksctl manifest", 0},
    {"kksctl credit-run", 1},
    {"kksctl period", 1},
    {"kksctl period run", 1},
    {"kksctl ledger", 1},
    {"kksctl ledger check", 1},
    {"kksctl account", 1},
    {"kksctl account show", 1},
    {"kksctl settle", 1},
    {"kksctl lookup", 1},
    {"kksctl complaint", 1},
    {"kksctl complaint open", 1},
    {"kksctl complaint list", 1},
    {"kksctl complaint show", 1},
    {"kksctl complaint close", 1},
    {"kks-terminal", 1},
    {"kks-terminal activate", 1},
    {"kks-terminal balance", 1},
    {"kks-terminal withdraw", 1},
    {"kks-terminal purchase", 1},
    {"kks-terminal pin-change", 1},
    {"kks-terminal statement", 1},
    {"kks-terminal reverse", 1},
    {"kks-terminal settle", 1},
    {"kks-terminal train", 0},
    {"kks-terminal run", 0},
    {"kks-terminal load", 1},
    {"kks-issuer", 0},
    {"kks-switch", 0},
};

static void setup(void)
{
    e2e_setup();
    dead_port();
}

TestSuite(exit, .init = setup, .fini = e2e_teardown, .timeout = 300);

Test(exit, help_version_unknown_option)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        const char *c = commands[i].cmd;
        int daemon = strncmp(c, "kks-issuer", 10) == 0 || strncmp(c, "kks-switch", 10) == 0;
        char help[128], version[128], bogus[128], json[128];
        snprintf(help, sizeof help, "%s --help", c);
        snprintf(version, sizeof version, "%s --version", c);
        snprintf(bogus, sizeof bogus, "%s --bogus", c);
        snprintf(json, sizeof json, "%s --bogus --json", c);
        check(&(row){help, 0, TEXT, "usage:"});
        check(&(row){version, 0, TEXT, "0."});
        check(&(row){bogus, 2, daemon ? LOG : EMPTY, daemon ? "unknown option --bogus" : NULL});
        if (commands[i].json)
            check(&(row){json, 2, ERROR, NULL});
    }
}

/* Usage errors that need no peer: the daemons' as log lines. */
static const row usage_rows[] = {
    {"kksctl --json", 2, ERROR, "no command given"},
    {"kksctl --json nosuch", 2, ERROR, "unknown command nosuch"},
    {"kksctl nosuch", 2, EMPTY, NULL},
    {"kksctl --json --pki", 2, ERROR, "option --pki needs a value"},
    {"kksctl --json enroll", 2, ERROR, "usage"},
    {"kksctl --json enroll {dir}/missing.csv", 2, ERROR,
     "{dir}/missing.csv: cannot open: No such file or directory"},
    {"kksctl --json credit-run {dir}/missing.csv", 2, ERROR,
     "{dir}/missing.csv: cannot open: No such file or directory"},
    {"kksctl --json manifest --program pkh --period 2026-T4 --registry {dir}/missing.csv", 2, ERROR,
     "{dir}/missing.csv: cannot open: No such file or directory"},
    {"kksctl --json gen population --families x", 2, ERROR, "--families x"},
    {"kksctl --json period run --families 0", 2, ERROR, "--families"},
    /* CSV on stdout: a row skipped is exit 1, and no error object joins the CSV */
    {"kksctl --json manifest --program pkh --period 2026-T4 --registry {dir}/fam.csv", 1, TEXT,
     "program,period,kk,amount\n"},
    {"kksctl --json ledger check", 2, ERROR, NULL}, /* no switch given */
    {"kksctl pki init --dir {dir}/pki2 --json", 0, JSON, "\"{dir}/pki2/keys/pvk.key\""},
    {"kksctl pki init --dir {pki} --json", 2, ERROR, "already holds a PKI"},
    {"kksctl pki init --dir {pki}", 2, EMPTY, NULL},
    {"kksctl pki terminal --dir {pki} --id EW-127101-0009 --json", 0, JSON,
     "\"{pki}/terminals/EW-127101-0009.tpk\""},
    {"kksctl pki terminal --dir {pki} --id EW-127101-0009", 0, TEXT, "EW-127101-0009.crt"},
    {"kksctl pki terminal --dir {pki} --id nope --json", 2, ERROR, "not a terminal ID"},
    {"kksctl pki terminal --dir {dir}/nopki --id EW-1 --json", 2, ERROR, "pki init"},
    {"kks-terminal --json", 2, ERROR, "no command given"},
    {"kks-terminal balance --json", 2, ERROR, "balance needs --pan"},
    {"kks-terminal --id EW-127101-0001 balance --pan 12 --pin 135792 --json", 2, ERROR, "--pan"},
    {"kks-terminal load --json --terminals 0 --closed", 2, ERROR, "--terminals"},
    {"kks-terminal run {dir}/missing.yaml", 2, EMPTY, NULL},
    {"kks-issuer", 2, LOG, "--listen, --db and --pki are required"},
    {"kks-issuer --listen", 2, LOG, "option --listen needs a value"},
    {"kks-issuer --listen nowhere --db {dir}/i.db --pki {pki}", 2, LOG, "bad --listen nowhere"},
    {"kks-issuer --listen 127.0.0.1:0 --db {dir}/i.db --pki {pki} --seeds {dir}/noseeds", 2, LOG,
     "{dir}/noseeds/banks.csv: cannot open: No such file or directory"},
    {"kks-issuer --listen 127.0.0.1:0 --db {dir}/nodir/i.db --pki {pki}", 2, LOG,
     "No such file or directory"},
    {"kks-issuer --listen 127.0.0.1:0 --db {dir}/i.db --pki {dir}/nopki", 2, LOG, "nopki"},
    {"kks-switch --listen 127.0.0.1:0 --db {dir}/s.db --pki {pki}", 2, LOG,
     "--listen, --db, --pki and --issuer (or --route) are required"},
    {"kks-switch --listen 127.0.0.1:0 --db {dir}/s.db --pki {pki} --issuer {dead} --route 12=x",
     2, LOG, "bad --route 12=x"},
    {"kks-switch --listen 127.0.0.1:0 --db {dir}/s.db --pki {pki} --issuer {dead} "
     "--today 2026-13-01", 2, LOG, "bad --today"},
    {"kks-switch --listen 127.0.0.1:0 --db {dir}/nodir/s.db --pki {pki} --issuer {dead}", 2, LOG,
     "No such file or directory"},
};

Test(exit, usage_errors)
{
    char nopki[400], fam[400], *csv = NULL, *bad;
    char *gen[] = {(char *)e2e_bin("kksctl"), "gen", "population", "--families", "3", NULL};
    cr_assert_eq(e2e_run(&csv, gen), 0);
    cr_assert(bad = malloc(strlen(csv) + 16));
    snprintf(fam, sizeof fam, "%s/fam.csv", E.dir);
    snprintf(bad, strlen(csv) + 16, "%s9999\n", csv); /* a row with one field: skipped */
    e2e_write_file(fam, bad);
    free(csv);
    free(bad);
    for (size_t i = 0; i < sizeof usage_rows / sizeof usage_rows[0]; i++)
        check(&usage_rows[i]);
    /* a refused pki terminal left nothing behind */
    snprintf(nopki, sizeof nopki, "%s/nopki", E.dir);
    cr_expect_neq(access(nopki, F_OK), 0, "pki terminal made %s for a PKI that is not there",
                  nopki);
}

/* With an issuer and a switch running, and a port where nothing listens. */
static const row peer_rows[] = {
    /* declined: an unknown card is 14 */
    {"kksctl --json --pki {pki} --issuer {is} card show 5046010000999995", 1, JSON,
     "\"rc\":\"14\""},
    {"kks-terminal --json --id EW-127101-0001 --pki {pki} --state {dir}/st --switch {sw} "
     "balance --pan 5046010000999995 --pin 135792", 1, JSON, "\"rc\":\"14\""},
    {"kks-terminal --id EW-127101-0001 --pki {pki} --state {dir}/st --switch {sw} "
     "balance --pan 5046010000999995 --pin 135792", 1, TEXT, "14"},
    /* done */
    {"kksctl --json --pki {pki} --switch {sw} ledger check", 0, JSON, "\"ok\":true"},
    {"kksctl --json --pki {pki} --switch {sw} --issuer {is} ping", 0, JSON, "\"ok\":true"},
    /* cannot reach a peer */
    {"kksctl --json --pki {pki} --switch {dead} ledger check", 3, ERROR, "{dead}"},
    {"kksctl --pki {pki} --switch {dead} ledger check", 3, EMPTY, NULL},
    {"kksctl --json --pki {pki} --issuer {dead} card show 5046010000999995", 3, ERROR, "{dead}"},
    {"kksctl --json --pki {pki} --switch {dead} ping", 3, JSON, "\"ok\":false"},
    /* the summary of how far it got, as the error object says it */
    {"kksctl --json --pki {pki} --issuer {dead} --switch {dead} period run --families 1000", 3,
     ERROR, "stopped in chunk 1 of 1, enrolling"},
    /* lookup and ping report each peer they could not reach in their own object */
    {"kksctl --json --pki {pki} --issuer {dead} --switch {dead} lookup --nik 1271056304900101", 3,
     JSON, "\"unreached\":[{\"peer\":\"issuer\""},
    {"kks-terminal --json --id EW-127101-0001 --pki {pki} --state {dir}/st --switch {dead} "
     "balance --pan 5046010000999995 --pin 135792", 3, ERROR, "\"rc\":null"},
    {"kks-terminal --json --id EW-127101-0001 --pki {pki} --state {dir}/st --switch {dead} "
     "settle", 3, ERROR, "{dead}"},
    {"kks-terminal load --json --closed --duration 1 --warmup 0 --terminals 1 --cards 1 "
     "--switch {dead} --issuer {dead} --pki {pki} --state {dir}/load", 3, ERROR, NULL},
    /* usage: credentials that cannot be read, an address in use */
    {"kks-terminal --json --id EW-127101-0001 --pki {dir}/nopki --state {dir}/st --switch {sw} "
     "balance --pan 5046010000999995 --pin 135792", 2, ERROR, "PIN key"},
    {"kksctl --json --pki {dir}/nopki --switch {sw} ledger check", 2, ERROR,
     "operator credentials"},
    {"kks-issuer --listen {is} --db {dir}/i2.db --pki {pki}", 2, LOG,
     "\"msg\":\"cannot listen\",\"addr\":\"{is}\",\"error\":\"address already in use\""},
    {"kks-switch --listen {sw} --db {dir}/s2.db --pki {pki} --issuer {is}", 2, LOG,
     "\"msg\":\"cannot listen\",\"addr\":\"{sw}\",\"error\":\"address already in use\""},
    {"kks-issuer --listen 127.0.0.1:0 --db {dir}/i3.db --pki {pki} --metrics {is}", 2, LOG,
     "\"addr\":\"{is}\",\"error\":\"address already in use\""},
    {"kks-switch --listen 127.0.0.1:0 --db {dir}/s3.db --pki {pki} --issuer {is} "
     "--ready-file {dir}/nodir/ready", 2, LOG,
     "\"file\":\"{dir}/nodir/ready\",\"error\":\"No such file or directory\""},
    /* internal: the terminal's state cannot be kept ({dir}/afile is a file) */
    {"kks-terminal --json --id EW-127101-0001 --pki {pki} --state {dir}/afile/st --switch {sw} "
     "balance --pan 5046010000999995 --pin 135792", 4, ERROR, "terminal state"},
};

Test(exit, with_peers)
{
    char path[400];
    char *argv[] = {(char *)e2e_bin("kksctl"), "pki", "terminal", "--dir", E.pki, "--id",
                    "EW-127101-0001", NULL};
    cr_assert_eq(e2e_run(NULL, argv), 0);
    snprintf(path, sizeof path, "%s/afile", E.dir);
    e2e_write_file(path, "not a directory\n");
    e2e_start_issuer();
    e2e_start_switch();
    for (size_t i = 0; i < sizeof peer_rows / sizeof peer_rows[0]; i++)
        check(&peer_rows[i]);
}
