/* kks-terminal run (ewarong/scenario/): the loader on good files and on
 * hostile ones, each refused with FILE:LINE:COL and the reason; then whole
 * runs through sc_cli as a QA engineer starts them: exit codes, the lines
 * printed, and the JUnit XML read back with libxml2. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "scenario/scenario.h"
#include "rmtree.h"

/* ------------------------------------------------------------------ loader */

static char err[600];

/* Loads text as t.yaml; returns sc_load_mem's result (err filled). */
static int load(const char *text)
{
    sc_scenario s;
    int rc = sc_load_mem("t.yaml", text, strlen(text), &s, err, sizeof err);
    if (rc == 0)
        sc_free(&s);
    return rc;
}

/* text is refused at line:col with a message containing why. */
static void refused(const char *text, int line, int col, const char *why)
{
    char at[64];
    err[0] = '\0';
    cr_assert_eq(load(text), -1, "loaded, expected %d:%d %s", line, col, why);
    snprintf(at, sizeof at, "t.yaml:%d:%d: ", line, col);
    cr_assert_eq(strncmp(err, at, strlen(at)), 0, "expected %s..., got: %s", at, err);
    cr_assert(strstr(err, why), "expected '%s' in: %s", why, err);
}

#define FAMILY                                                                                     \
    "families:\n"                                                                                  \
    "  - {kk: \"1271102108080001\", nik: \"1271107006020004\", name: Herawati,\n"                 \
    "     birth_date: 2002-06-30, sex: P, address: Jl. A, kelurahan: Pasar Merah Timur,\n"        \
    "     kecamatan: Medan Area, city_code: 1271, decile: 1, bank: BNI, bpnt: 1}\n"
#define HEAD "name: t\ntoday: 2026-11-20\n" FAMILY "steps:\n" /* steps start on line 8 */

Test(load, every_file_of_the_library)
{
    char dir[600], path[1200];
    struct dirent *e;
    int n = 0;
    snprintf(dir, sizeof dir, "%s/seeds/scenarios", KKS_SOURCE_DIR);
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    while ((e = readdir(d))) {
        sc_scenario s;
        if (!strstr(e->d_name, ".yaml"))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        cr_assert_eq(sc_load_file(path, &s, err, sizeof err), 0, "%s", err);
        cr_assert(s.name && *s.name && s.nsteps > 0);
        sc_free(&s);
        n++;
    }
    closedir(d);
    cr_assert_geq(n, 20, "the library has %d scenarios", n);
}

Test(load, a_good_file_in_detail)
{
    sc_scenario s;
    const char *text = HEAD "  - enroll: {}\n"
                            "  - ledger-check:\n"
                            "  - balance: {terminal: EW-127110-0001, family: \"1271102108080001\",\n"
                            "              pin: \"135792\"}\n"
                            "    expect: {rc: \"00\", bpnt: 0}\n"
                            "    save: {rrn: r1}\n"
                            "  - sleep: 500ms\n"
                            "  - today: 2026-11-21\n"
                            "  - fault: {terminal-link: drop, after: 1s}\n"
                            "  - reverse: {terminal: EW-127110-0001, stan: $r1}\n";
    cr_assert_eq(sc_load_mem("dir/t.yaml", text, strlen(text), &s, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(s.name, "t");
    cr_assert_str_eq(s.today, "2026-11-20");
    cr_assert_eq(s.nsteps, 7);
    cr_assert_eq(s.steps[0].kind, SC_ENROLL);
    cr_assert_eq(s.steps[1].kind, SC_LEDGER_CHECK);
    cr_assert_eq(s.steps[2].kind, SC_BALANCE);
    cr_assert_eq(s.steps[2].line, 10);
    cr_assert_eq(s.steps[2].col, 5);
    cr_assert_not_null(s.steps[2].expect);
    cr_assert_str_eq(sc_get(s.steps[2].expect, "rc")->scalar, "00");
    cr_assert(sc_get(s.steps[2].expect, "rc")->quoted);
    cr_assert_eq(s.steps[4].kind, SC_TODAY);
    cr_assert_eq(s.steps[5].kind, SC_FAULT);
    cr_assert_eq(s.steps[6].kind, SC_REVERSE);
    sc_free(&s);

    unsigned ms;
    cr_assert_eq(sc_duration_ms("2", &ms), 0);
    cr_assert_eq(ms, 2000);
    cr_assert_eq(sc_duration_ms("1.5s", &ms), 0);
    cr_assert_eq(ms, 1500);
    cr_assert_eq(sc_duration_ms("250ms", &ms), 0);
    cr_assert_eq(ms, 250);
    cr_assert_eq(sc_duration_ms("3601", &ms), -1);
    cr_assert_eq(sc_duration_ms("-1s", &ms), -1);
    cr_assert_eq(sc_duration_ms("1h", &ms), -1);
    cr_assert_eq(sc_duration_ms("nan", &ms), -1);
    cr_assert_eq(sc_duration_ms("", &ms), -1);
}

Test(load, unknown_step_kind)
{
    refused(HEAD "  - enroll: {}\n  - teleport: {to: Jakarta}\n", 9, 5,
            "unknown step kind 'teleport'");
    refused(HEAD "  - enroll: {}\n    print: {bank: BNI}\n", 9, 5, "one step kind per step");
    refused(HEAD "  - expect: {rc: \"00\"}\n", 8, 5, "a step needs its kind");
    refused(HEAD "  - complaint: {kind: data}\n", 8, 5, "not in this version");
    refused(HEAD "  - handover: {batch: last, docs: [ktp, {kk: 1}]}\n", 8, 41,
            "handover: docs is a list of document names");
    refused(HEAD "  - card: {action: damaged, family: \"1271102108080001\", docs: [KTP]}\n", 8,
            64, "card: docs is a list of document names");
}

Test(load, wrong_type)
{
    refused(HEAD "  - withdraw: {terminal: ATM-BNI-0001, family: \"1271102108080001\",\n"
                 "               pin: \"135792\", amount: [50000]}\n",
            9, 39, "withdraw: amount takes one value");
    refused(HEAD "  - print: BNI\n", 8, 12, "give its parameters as a map");
    refused(HEAD "  - enroll: {}\n    expect: [ok]\n", 9, 13, "expect is a map");
    refused("name: t\nsteps: {enroll: {}}\n", 2, 8, "steps is a list");
    refused("name: t\ntags: bpnt\nsteps:\n  - enroll: {}\n", 2, 7, "tags is a list");
    refused("name: t\ntoday: 20-11-2026\nsteps:\n  - enroll: {}\n", 2, 8, "YYYY-MM-DD");
    refused(HEAD "  - sleep: soon\n", 8, 12, "a duration");
    refused(HEAD "  - fault: {link: slow forever}\n", 8, 19, "slow DURATION, drop, cut or ok");
    refused(HEAD "  - fault: {issuer: sleepy}\n", 8, 21, "down, up or kill");
    refused(HEAD "  - fault: {issuer: down, after: 1s}\n", 8, 34, "after is for link");
    refused(HEAD "  - fault: {issuer: down, switch: down}\n", 8, 27, "one fault per step");
    refused(HEAD "  - card: {action: shred, family: \"1271102108080001\"}\n", 8, 20,
            "action is show, lost");
    refused(HEAD "  - credit: {program: pkh, period: 2026-T4, amount: 1, families: [{kk: x}]}\n",
            8, 67, "families are KK numbers");
    refused("- enroll: {}\n", 1, 1, "a scenario is a map");
}

Test(load, missing_required_key)
{
    refused("steps:\n  - enroll: {}\n", 1, 1, "a scenario needs a name");
    refused("name: t\n", 1, 1, "steps is a list of at least one step");
    refused(HEAD "  - print: {site: Medan}\n", 8, 5, "print: 'bank' is required");
    refused(HEAD "  - credit: {program: bpnt}\n", 8, 5, "credit: 'period' is required");
    refused(HEAD "  - balance: {terminal: EW-127110-0001, family: \"1271102108080001\"}\n", 8, 5,
            "'pin' is required");
    refused(HEAD "  - balance: {terminal: EW-127110-0001, pin: \"135792\"}\n", 8, 5,
            "give family");
    refused("name: t\nfamilies:\n  - {kk: \"1271102108080001\", name: A}\nsteps:\n  - enroll: {}\n",
            3, 5, "a family needs nik");
}

Test(load, unknown_family_and_unknown_saved_value)
{
    refused(HEAD "  - balance: {terminal: EW-127110-0001, family: \"1271999999990001\",\n"
                 "              pin: \"135792\"}\n",
            8, 49, "family 1271999999990001 is not one of the scenario's");
    refused(HEAD "  - reverse: {terminal: EW-127110-0001, stan: $first}\n", 8, 47,
            "no earlier step saves 'first'");
    /* saved by a later step is not saved yet */
    refused(HEAD "  - balance: {terminal: EW-1, family: \"1271102108080001\", pin: \"1\"}\n"
                 "    expect: {rrn: $r}\n"
                 "  - balance: {terminal: EW-1, family: \"1271102108080001\", pin: \"1\"}\n"
                 "    save: {rrn: r}\n",
            9, 19, "no earlier step saves 'r'");
    refused("name: t\n" FAMILY "  - {kk: \"1271102108080001\", nik: \"1\", name: B,\n"
            "     birth_date: 2002-06-30, sex: P, address: x, kelurahan: x, kecamatan: x,\n"
            "     city_code: 1271, decile: 1, bank: BNI}\nsteps:\n  - enroll: {}\n",
            6, 10, "family 1271102108080001 given twice");
}

Test(load, yaml_syntax_errors)
{
    refused("name: [unclosed\nsteps:\n  - enroll: {}\n", 2, 6, "");
    refused("name: t\nsteps:\n  - enroll: {\n", 4, 1, "");
    refused("name: t\n\tsteps:\n", 2, 1, "");
    refused("name: t\nsteps:\n  - enroll: {}\n---\nname: u\n", 4, 1, "one scenario per file");
    refused("", 1, 1, "empty file");
}

Test(load, anchors_aliases_and_a_yaml_bomb)
{
    const char *bomb = "name: t\n"
                       "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
                       "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                       "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                       "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                       "steps: [*d]\n";
    refused(bomb, 2, 4, "anchors (&name) are not used here");
    refused("name: &n t\nsteps:\n  - enroll: {}\n", 1, 7, "anchors and tags");
    refused("name: t\nsteps:\n  - *x\n", 3, 5, "aliases (*name) are not used here");
    refused("name: !!binary dA==\nsteps:\n  - enroll: {}\n", 1, 7, "anchors and tags");
}

Test(load, too_deep_too_large_too_many)
{
    char *deep = calloc(1, 4096);
    strcpy(deep, "name: t\nsteps:\n  - enroll: {}\nx: ");
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    for (int i = 0; i < 40; i++)
        strcat(deep, "]");
    strcat(deep, "\n");
    refused(deep, 4, 20, "nested more than 16 deep");
    free(deep);

    size_t n = SC_FILE_MAX + 10;
    char *big = malloc(n + 1);
    memset(big, '#', n);
    memcpy(big, "name: t\n", 8);
    big[n] = '\0';
    refused(big, 1, 1, "larger than 1048576 bytes");
    free(big);

    char *wide = malloc(2 * 25000 + 64), *w = wide;
    w += sprintf(w, "name: t\nsteps: [");
    for (int i = 0; i < 25000; i++)
        w += sprintf(w, "0,");
    sprintf(w, "]\n");
    err[0] = '\0';
    cr_assert_eq(load(wide), -1);
    cr_assert(strstr(err, "more than 20000 YAML nodes"), "%s", err);
    free(wide);

    char *longv = malloc(SC_SCALAR_MAX + 64);
    strcpy(longv, "name: ");
    memset(longv + 6, 'x', SC_SCALAR_MAX + 1);
    strcpy(longv + 6 + SC_SCALAR_MAX + 1, "\nsteps:\n  - enroll: {}\n");
    refused(longv, 1, 7, "a value longer than 4096 bytes");
    free(longv);
}

Test(load, nul_bytes)
{
    /* a NUL byte in the file: libyaml's reader refuses it; the position is
     * the byte's own, not 1:1 */
    const char text[] = "name: t\nsteps:\n  - enroll: {}\n  - print: {bank: B\0NI}\n";
    sc_scenario s;
    err[0] = '\0';
    cr_assert_eq(sc_load_mem("t.yaml", text, sizeof text - 1, &s, err, sizeof err), -1);
    cr_assert_eq(strncmp(err, "t.yaml:4:20: ", 13), 0, "%s", err);
    cr_assert(strstr(err, "control characters"), "%s", err);
    /* an escaped NUL in a quoted value */
    refused("name: \"a\\0b\"\nsteps:\n  - enroll: {}\n", 1, 7, "a value holds a NUL byte");
}

Test(load, duplicate_keys)
{
    refused("name: t\nname: u\nsteps:\n  - enroll: {}\n", 2, 1, "key 'name' given twice");
    refused(HEAD "  - print: {bank: BNI, bank: BRI}\n", 8, 24, "key 'bank' given twice");
    refused(HEAD "  - enroll: {}\n    expect: {ok: true, ok: false}\n", 9, 24,
            "key 'ok' given twice");
}

Test(load, a_registry_is_a_regular_file)
{
    char dir[64], fifo[128], text[400];
    snprintf(dir, sizeof dir, "/tmp/kks-scfifo-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(fifo, sizeof fifo, "%s/registry.csv", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    /* a FIFO would wait for a writer for ever: refused at once */
    snprintf(text, sizeof text, "name: t\nregistry: %s\nsteps:\n  - enroll: {}\n", fifo);
    refused(text, 2, 11, "not a regular file");
    refused("name: t\nregistry: /dev/zero\nsteps:\n  - enroll: {}\n", 2, 11,
            "not a regular file");
    refused("name: t\nregistry: no-such.csv\nsteps:\n  - enroll: {}\n", 2, 11,
            "registry no-such.csv: No such file");
    unlink(fifo);
    rmdir(dir);
    /* the library's own registry, relative to the scenario's file */
    sc_scenario s;
    snprintf(text, sizeof text, "%s/seeds/scenarios/credit-run-survives-switch-restart.yaml",
             KKS_SOURCE_DIR);
    cr_assert_eq(sc_load_file(text, &s, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(s.registry, "seeds/scenarios/../dtsen-medan.csv"), "%s", s.registry);
    sc_free(&s);
}

Test(load, cannot_open)
{
    sc_scenario s;
    cr_assert_eq(sc_load_file("/nonexistent/x.yaml", &s, err, sizeof err), -1);
    cr_assert(strstr(err, "/nonexistent/x.yaml:"), "%s", err);
    cr_assert(strstr(err, "cannot open"), "%s", err);
}

/* ------------------------------------------------------------------ runs */

TestSuite(run, .timeout = 240);

static char tmp[64];

static void mk_tmp(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/kks-sctest-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
}

static void rm_tmp(void)
{
    if (!tmp[0])
        return;
    cr_assert_eq(rmtree(tmp), 0);
}

static void put(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static char *slurp_file(FILE *f)
{
    long n;
    fflush(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = calloc(1, (size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    return buf;
}

/* kks-terminal run ARGS...: the exit code; *out and *errs what it printed. */
static int run(char **out, char **errs, const char *a1, const char *a2, const char *a3,
               const char *a4, const char *a5, const char *a6)
{
    const char *args[] = {"run", a1, a2, a3, a4, a5, a6, NULL};
    char *argv[8];
    int argc = 0;
    for (int i = 0; args[i]; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    FILE *o = tmpfile(), *e = tmpfile();
    cr_assert(o && e);
    int ec = sc_cli(argc, argv, o, e);
    *out = slurp_file(o);
    *errs = slurp_file(e);
    fclose(o);
    fclose(e);
    return ec;
}

#define SETUP_STEPS                                                                                \
    "  - enroll: {}\n"                                                                             \
    "  - print: {bank: BNI}\n"                                                                     \
    "  - handover: {batch: last, site: Kantor Lurah}\n"                                           \
    "  - credit: {program: bpnt, period: 2026-10..12}\n"                                          \
    "    expect: {credited: 1}\n"                                                                  \
    "  - activate: {terminal: EW-127110-0001, family: \"1271102108080001\", pin: \"135792\"}\n"   \
    "    expect: {rc: \"00\"}\n"

/* passes */
static const char good[] = HEAD SETUP_STEPS
    "  - balance: {terminal: EW-127110-0001, family: \"1271102108080001\", pin: \"135792\"}\n"
    "    expect: {rc: \"00\", bpnt: 600000}\n";
/* its step 6 (line 15) expects the wrong balance */
static const char wrong[] = "name: a wrong balance\ntoday: 2026-11-20\n" FAMILY "steps:\n" SETUP_STEPS
    "  - balance: {terminal: EW-127110-0001, family: \"1271102108080001\", pin: \"135792\"}\n"
    "    expect: {rc: \"00\", bpnt: 1}\n"
    "  - ledger-check: {}\n";

/* The JUnit file as a document; NULL when it does not parse. */
static xmlDocPtr junit_doc(const char *path)
{
    return xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

static double xp_num(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
    cr_assert_not_null(o, "%s", expr);
    double v = xmlXPathCastToNumber(o);
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(ctx);
    return v;
}

static char *xp_str(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
    cr_assert_not_null(o, "%s", expr);
    xmlChar *s = xmlXPathCastToString(o);
    char *r = strdup((const char *)s);
    xmlFree(s);
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(ctx);
    return r;
}

Test(run, a_file_that_cannot_be_read_is_2_and_nothing_runs, .init = mk_tmp, .fini = rm_tmp)
{
    char path[128], bad[128], *out, *errs;
    put("good.yaml", good);
    put("bad.yaml", HEAD "  - enroll: {}\n  - teleport: {}\n");
    snprintf(path, sizeof path, "%s/good.yaml", tmp);
    snprintf(bad, sizeof bad, "%s/bad.yaml", tmp);
    cr_assert_eq(run(&out, &errs, path, bad, NULL, NULL, NULL, NULL), 2);
    char want[200];
    snprintf(want, sizeof want, "%s:9:5: unknown step kind 'teleport'", bad);
    cr_assert(strstr(errs, want), "%s", errs);
    cr_assert(strstr(errs, "nothing run"), "%s", errs);
    cr_assert_not(strstr(out, "enroll"), "nothing ran: %s", out);
    free(out);
    free(errs);
    cr_assert_eq(run(&out, &errs, "-j", "0", path, NULL, NULL, NULL), 2);
    free(out);
    free(errs);
    snprintf(path, sizeof path, "%s/none", tmp);
    cr_assert_eq(run(&out, &errs, path, NULL, NULL, NULL, NULL, NULL), 2);
    free(out);
    free(errs);
}

Test(run, a_wrong_expectation_is_1_with_junit, .init = mk_tmp, .fini = rm_tmp)
{
    char path[128], xml[128], *out, *errs;
    put("wrong.yaml", wrong);
    snprintf(path, sizeof path, "%s/wrong.yaml", tmp);
    snprintf(xml, sizeof xml, "%s/junit.xml", tmp);
    cr_assert_eq(run(&out, &errs, path, "--junit", xml, NULL, NULL, NULL), 1, "%s%s", out, errs);
    cr_assert(strstr(out, "FAIL   6 balance EW-127110-0001"), "%s", out);
    cr_assert(strstr(out, "line 15: bpnt: expected 1, got 600000"), "%s", out);
    cr_assert(strstr(out, "0 passed, 1 failed"), "%s", out);
    cr_assert_not(strstr(out, "ledger-check"), "the scenario stops at its failed step: %s", out);

    xmlDocPtr doc = junit_doc(xml);
    cr_assert_not_null(doc, "the JUnit XML parses");
    cr_assert_eq(xp_num(doc, "count(/testsuites/testsuite)"), 1);
    cr_assert_eq(xp_num(doc, "count(//testcase)"), 1);
    cr_assert_eq(xp_num(doc, "number(/testsuites/@failures)"), 1);
    char *s = xp_str(doc, "string(//testsuite/@name)");
    cr_assert_str_eq(s, path);
    free(s);
    s = xp_str(doc, "string(//testcase/@name)");
    cr_assert_str_eq(s, "a wrong balance");
    free(s);
    s = xp_str(doc, "string(//testcase/failure/@message)");
    cr_assert(strstr(s, "step 6 (balance EW-127110-0001, line 15): bpnt: expected 1, got 600000"),
              "%s", s);
    free(s);
    s = xp_str(doc, "string(//testcase/failure)");
    cr_assert(strstr(s, "reply: {"), "%s", s);
    cr_assert(strstr(s, "\"rc\":\"00\""), "the reply inside: %s", s);
    cr_assert(strstr(s, "\"bpnt\":600000"), "%s", s);
    free(s);
    xmlFreeDoc(doc);
    free(out);
    free(errs);
}

Test(run, a_passing_file_is_0, .init = mk_tmp, .fini = rm_tmp)
{
    char path[128], *out, *errs;
    put("good.yaml", good);
    snprintf(path, sizeof path, "%s/good.yaml", tmp);
    cr_assert_eq(run(&out, &errs, path, NULL, NULL, NULL, NULL, NULL), 0, "%s%s", out, errs);
    cr_assert(strstr(out, "  ok     6 balance EW-127110-0001"), "%s", out);
    cr_assert(strstr(out, "1 passed, 0 failed"), "%s", out);
    free(out);
    free(errs);
}

/* --json: the lines for people on stderr, one JSON object on stdout, with
 * each scenario's result; and the error object when nothing can run. */
Test(run, json_gives_each_result_and_the_error_that_stopped_it, .init = mk_tmp, .fini = rm_tmp)
{
    char g[128], w[128], bad[128], *out, *errs;
    put("good.yaml", good);
    put("wrong.yaml", wrong);
    put("bad.yaml", HEAD "  - enroll: {}\n  - teleport: {}\n");
    snprintf(g, sizeof g, "%s/good.yaml", tmp);
    snprintf(w, sizeof w, "%s/wrong.yaml", tmp);
    snprintf(bad, sizeof bad, "%s/bad.yaml", tmp);
    cr_assert_eq(run(&out, &errs, "--json", "-j", "2", g, w, NULL), 1, "%s%s", out, errs);
    cr_assert(strstr(errs, "FAIL   6 balance EW-127110-0001"), "%s", errs);
    cr_assert(strstr(errs, "1 passed, 1 failed"), "%s", errs);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je), *r;
    cr_assert_not_null(j, "stdout is one JSON object: %s (%s)", out, je.text);
    cr_assert(json_is_false(json_object_get(j, "ok")));
    cr_assert_eq(json_integer_value(json_object_get(j, "scenarios")), 2);
    cr_assert_eq(json_integer_value(json_object_get(j, "passed")), 1);
    cr_assert_eq(json_integer_value(json_object_get(j, "failed")), 1);
    cr_assert_gt(json_integer_value(json_object_get(j, "ms")), 0);
    json_t *a = json_object_get(j, "results");
    cr_assert_eq(json_array_size(a), 2);
    /* in the order of the files given */
    r = json_array_get(a, 0);
    cr_assert_str_eq(json_string_value(json_object_get(r, "file")), g);
    cr_assert(json_is_true(json_object_get(r, "passed")));
    cr_assert_eq(json_integer_value(json_object_get(r, "steps_run")), 6);
    cr_assert_gt(json_integer_value(json_object_get(r, "ms")), 0);
    cr_assert_null(json_object_get(r, "failure"));
    r = json_array_get(a, 1);
    cr_assert_str_eq(json_string_value(json_object_get(r, "name")), "a wrong balance");
    cr_assert(json_is_false(json_object_get(r, "passed")));
    cr_assert_eq(json_integer_value(json_object_get(r, "failed_step")), 6);
    cr_assert_eq(json_integer_value(json_object_get(r, "failed_line")), 15);
    cr_assert(strstr(json_string_value(json_object_get(r, "failure")),
                     "bpnt: expected 1, got 600000"),
              "%s", out);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "reply"), "rc")), "00",
                     "the failed step's reply, as JSON: %s", out);
    json_decref(j);
    free(out);
    free(errs);

    cr_assert_eq(run(&out, &errs, g, bad, "--json", NULL, NULL, NULL), 2);
    j = json_loads(out, 0, &je);
    cr_assert_not_null(j, "an error is a JSON object too: %s", out);
    cr_assert_eq(json_integer_value(json_object_get(j, "exit")), 2);
    char want[200];
    snprintf(want, sizeof want, "%s:9:5: unknown step kind 'teleport'", bad);
    cr_assert(strstr(json_string_value(json_object_get(j, "error")), want), "%s", out);
    json_decref(j);
    free(out);
    free(errs);
    cr_assert_eq(run(&out, &errs, "--json", "-j", "0", g, NULL, NULL), 2);
    j = json_loads(out, 0, &je);
    cr_assert_not_null(j, "%s", out);
    cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "-j takes 1 to 64");
    json_decref(j);
    free(out);
    free(errs);
}

/* One JUnit file's testcases as "suite|name|failure message" lines, sorted
 * by the writer (files in order): what must not depend on -j. */
static char *junit_summary(const char *xml)
{
    xmlDocPtr doc = junit_doc(xml);
    cr_assert_not_null(doc);
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)"//testcase", ctx);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    for (int i = 0; o->nodesetval && i < o->nodesetval->nodeNr; i++) {
        xmlNodePtr tc = o->nodesetval->nodeTab[i];
        xmlChar *cls = xmlGetProp(tc, (const xmlChar *)"classname");
        xmlChar *name = xmlGetProp(tc, (const xmlChar *)"name");
        xmlChar *msg = NULL;
        for (xmlNodePtr k = tc->children; k; k = k->next)
            if (k->type == XML_ELEMENT_NODE && !xmlStrcmp(k->name, (const xmlChar *)"failure"))
                msg = xmlGetProp(k, (const xmlChar *)"message");
        fprintf(f, "%s|%s|%s\n", cls, name, msg ? (char *)msg : "");
        xmlFree(cls);
        xmlFree(name);
        xmlFree(msg);
    }
    fclose(f);
    cr_assert_eq(xp_num(doc, "count(/testsuites/testsuite)"), 3);
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return buf;
}

Test(run, a_directory_is_walked_and_j2_gives_the_same, .init = mk_tmp, .fini = rm_tmp)
{
    char sub[128], x1[128], x2[128], *out, *errs;
    snprintf(sub, sizeof sub, "%s/lib", tmp);
    cr_assert_eq(mkdir(sub, 0700), 0);
    put("lib/a-good.yaml", good);
    put("lib/b-wrong.yaml", wrong);
    put("lib/notes.txt", "not a scenario\n");
    cr_assert_eq(mkdir(strcat(strcpy(x1, sub), "/more"), 0700), 0);
    put("lib/more/c-good.yml", good);
    snprintf(x1, sizeof x1, "%s/j1.xml", tmp);
    snprintf(x2, sizeof x2, "%s/j2.xml", tmp);

    cr_assert_eq(run(&out, &errs, sub, "--junit", x1, NULL, NULL, NULL), 1, "%s%s", out, errs);
    cr_assert(strstr(out, "3 scenarios in"), "%s", out);
    cr_assert(strstr(out, "2 passed, 1 failed"), "%s", out);
    cr_assert(strstr(out, "lib/more/c-good.yml"), "%s", out);
    free(out);
    free(errs);
    cr_assert_eq(run(&out, &errs, "-j", "2", sub, "--junit", x2, NULL), 1, "%s%s", out, errs);
    cr_assert(strstr(out, "2 passed, 1 failed"), "%s", out);
    /* with -j 2 each scenario's lines come out together, under its name */
    const char *heads[] = {"a-good.yaml)\n", "b-wrong.yaml)\n", "c-good.yml)\n"};
    for (int i = 0; i < 3; i++) {
        char *h = strstr(out, heads[i]);
        cr_assert_not_null(h, "%s: %s", heads[i], out);
        char *next = strstr(h + strlen(heads[i]), ".yaml)\n");
        char *next2 = strstr(h + strlen(heads[i]), ".yml)\n");
        char *step7 = strstr(h, i == 1 ? "  FAIL   6 balance" : "  ok     6 balance");
        cr_assert_not_null(step7, "%s", out);
        cr_assert((!next || step7 < next) && (!next2 || step7 < next2), "interleaved: %s", out);
    }
    free(out);
    free(errs);

    char *s1 = junit_summary(x1), *s2 = junit_summary(x2);
    cr_assert_str_eq(s1, s2);
    cr_assert(strstr(s1, "b-wrong.yaml|a wrong balance|step 6 (balance"), "%s", s1);
    free(s1);
    free(s2);
}
