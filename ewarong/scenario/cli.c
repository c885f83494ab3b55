/* kks-terminal run FILE|DIR... [--junit FILE] [-j N] [--switch A --issuer A
 * --pki DIR] [--keep] [--json]
 *
 * Every file is read and checked first: one that cannot be read stops
 * everything before anything runs (exit 2). Then each scenario runs in a
 * child process of its own (a crash is that scenario's failure, not the
 * run's), at most N at once; each one's lines are printed as it runs with
 * -j 1, or all together when it ends otherwise. The summary's last line is
 * "P passed, F failed". Exit 0 when all pass, 1 when any fails. With --json
 * the lines for people go to stderr, and stdout has one JSON object: every
 * scenario's result, or the error that stopped everything. */
#include "scenario.h"

#include "kks_cli.h"
#include "kks_json.h"
#include "kks_seeds.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILES 2000

static const char usage[] =
    "usage: kks-terminal run FILE|DIR... [--junit FILE] [-j N] [--keep] [--verbose] [--json]\n"
    "                        [--switch HOST:PORT --issuer HOST:PORT --pki DIR] [--seeds DIR]\n"
    "Runs QA scenarios (YAML). Each scenario gets a private issuer and switch on\n"
    "127.0.0.1 unless --switch, --issuer and --pki name running ones.\n"
    "  --junit FILE  write JUnit XML (one testsuite per file, one testcase per scenario)\n"
    "  -j N          run N scenarios at once (default 1)\n"
    "  --keep        keep each scenario's directory (logs, databases) in $TMPDIR\n"
    "  --verbose     print each step's whole reply (JSON) under its line\n"
    "  --json        one JSON object on stdout: each scenario's result (file, name,\n"
    "                passed, ms, steps run; when failed the step, its line, why\n"
    "                and its reply), or the error; the lines for people on stderr\n"
    "  --seeds DIR   policy files for the checks and the private daemons (default\n"
    "                $KKS_SEEDS, else the installed share/kks/seeds, else the source tree's)\n"
    "  --version     the version and the default seeds directory\n"
    "Exit 0 all passed, 1 one failed, 2 a file cannot be read (file:line:column).\n";

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_yaml(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

/* Adds path, or the YAML files under a directory (sorted, recursively); -1
 * with why. */
static int collect(const char *path, char **files, size_t *n, char *why, size_t cap, int depth)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        snprintf(why, cap, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (*n == MAX_FILES) {
            snprintf(why, cap, "more than %d scenario files", MAX_FILES);
            return -1;
        }
        files[(*n)++] = strdup(path);
        return 0;
    }
    if (depth > 8)
        return 0;
    DIR *d = opendir(path);
    struct dirent *e;
    char *names[MAX_FILES];
    size_t k = 0;
    if (!d) {
        snprintf(why, cap, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t plen = strlen(path);
    while (plen > 1 && path[plen - 1] == '/') /* seeds/scenarios/ names seeds/scenarios/x.yaml */
        plen--;
    while ((e = readdir(d)) && k < MAX_FILES) {
        char sub[4200];
        if (e->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof sub, "%.*s/%s", (int)plen, path, e->d_name);
        if (stat(sub, &st) == 0 && (S_ISDIR(st.st_mode) || ends_yaml(e->d_name)))
            names[k++] = strdup(sub);
    }
    closedir(d);
    qsort(names, k, sizeof *names, cmp_str);
    int rc = 0;
    for (size_t i = 0; i < k; i++) {
        if (rc == 0 && collect(names[i], files, n, why, cap, depth + 1) < 0)
            rc = -1;
        free(names[i]);
    }
    return rc;
}

typedef struct job {
    pid_t pid;
    char out[64], res[64]; /* temporary files: the child's lines and result */
    FILE *outf;
} job;

/* The child's result: passed, seconds, steps, failed step and line, then the
 * failure and the reply on lines of their own. */
static void write_result(const char *path, const sc_result *r)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f, "%d %.3f %zu %d %d\n%s\n%s\n", r->passed, r->seconds, r->steps_run,
            r->failed_step, r->failed_line, r->failure ? r->failure : "",
            r->reply ? r->reply : "");
    fclose(f);
}

static void read_result(const char *path, sc_result *r, int status)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    memset(r, 0, sizeof *r);
    r->failed_step = -1;
    if (!f || fscanf(f, "%d %lf %zu %d %d\n", &r->passed, &r->seconds, &r->steps_run,
                     &r->failed_step, &r->failed_line) != 5) {
        char why[160];
        if (WIFSIGNALED(status))
            snprintf(why, sizeof why, "the scenario's process died (signal %d)", WTERMSIG(status));
        else
            snprintf(why, sizeof why, "the scenario's process ended without a result (exit %d)",
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        r->passed = 0;
        r->failure = strdup(why);
        if (f)
            fclose(f);
        return;
    }
    for (int k = 0; k < 2 && (n = getline(&line, &cap, f)) >= 0; k++) {
        if (n > 0 && line[n - 1] == '\n')
            line[n - 1] = '\0';
        if (line[0]) {
            if (k == 0)
                r->failure = strdup(line);
            else
                r->reply = strdup(line);
        }
    }
    free(line);
    fclose(f);
}

/* --json: the run's results as one object on out; 0, or -1 when it could
 * not be written. */
static int results_json(FILE *out, const sc_scenario *sc, const sc_result *res, size_t n,
                        size_t npass, double seconds)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        const sc_result *r = &res[i];
        json_t *o = json_pack("{s:o,s:o,s:b,s:I,s:I}", "file", kks_json_str(sc[i].file), "name",
                              kks_json_str(sc[i].name), "passed", r->passed != 0, "ms",
                              (json_int_t)(r->seconds * 1000 + 0.5), "steps_run",
                              (json_int_t)r->steps_run);
        if (o && !r->passed) {
            json_t *reply = r->reply ? json_loads(r->reply, 0, NULL) : NULL;
            if (r->failed_step >= 0) {
                kks_json_set(&o, "failed_step", json_integer(r->failed_step + 1));
                kks_json_set(&o, "failed_line", json_integer(r->failed_line));
            }
            kks_json_set(&o, "failure", kks_json_str(r->failure ? r->failure : "failed"));
            if (reply || r->reply)
                kks_json_set(&o, "reply", reply ? reply : kks_json_str(r->reply));
        }
        kks_json_append(&a, o);
    }
    json_t *top = json_pack("{s:b,s:I,s:I,s:I,s:I,s:o}", "ok", npass == n, "scenarios",
                            (json_int_t)n, "passed", (json_int_t)npass, "failed",
                            (json_int_t)(n - npass), "ms", (json_int_t)(seconds * 1000 + 0.5),
                            "results", a);
    return kks_json_print(out, top) == 0 ? 0 : -1;
}

/* An error that stopped everything (exit 2 or 4): said on err, and with
 * --json as the JSON object on out too. Returns ec. */
static int stopped(FILE *out, FILE *err, int json, const char *why, int ec)
{
    fprintf(err, "kks-terminal run: %s\n", why);
    if (json)
        kks_cli_error_json(out, why, ec);
    return ec;
}

int sc_cli(int argc, char **argv, FILE *out, FILE *err)
{
    static const struct option opts[] = {
        {"junit", required_argument, 0, 'J'}, {"switch", required_argument, 0, 's'},
        {"issuer", required_argument, 0, 'i'}, {"pki", required_argument, 0, 'p'},
        {"keep", no_argument, 0, 'k'},         {"seeds", required_argument, 0, 'S'},
        {"verbose", no_argument, 0, 'v'},      {"json", no_argument, 0, 'O'},
        {"help", no_argument, 0, 'h'},         {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    const char *junit = NULL;
    sc_target t = {0};
    long jobs = 1;
    char *files[MAX_FILES], msg[600], first[600] = "";
    size_t nfiles = 0, npass = 0;
    int o, ec = 0, json = 0;
    struct timespec t0, t1;
    FILE *lines; /* the lines for people: out, or err with --json */

    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        json |= strcmp(argv[i], "--json") == 0; /* for the usage errors before it */
    optind = 1;
    while ((o = getopt_long(argc, argv, "j:h", opts, NULL)) != -1) {
        switch (o) {
        case 'J': junit = optarg; break;
        case 's': t.sw = optarg; break;
        case 'i': t.issuer = optarg; break;
        case 'p': t.pki = optarg; break;
        case 'k': t.keep = 1; break;
        case 'v': t.verbose = 1; break;
        case 'S': t.seeds = optarg; break;
        case 'O': json = 1; break;
        case 'j': {
            char *end;
            jobs = strtol(optarg, &end, 10);
            if (*end || jobs < 1 || jobs > 64)
                return stopped(out, err, json, "-j takes 1 to 64", 2);
            break;
        }
        case 'V': return kks_version_print(out, "kks-terminal");
        case 'h': fputs(usage, out); return 0;
        default:
            fputs(usage, err);
            if (json)
                kks_cli_error_json(out, "usage: see kks-terminal run --help", 2);
            return 2;
        }
    }
    lines = json ? err : out;
    if (optind >= argc || ((t.sw || t.issuer || t.pki) && !(t.sw && t.issuer && t.pki))) {
        fputs(usage, err);
        if (json)
            kks_cli_error_json(out,
                               optind >= argc ? "no scenario file or directory given"
                                              : "--switch, --issuer and --pki go together",
                               2);
        return 2;
    }
    for (int i = optind; i < argc; i++)
        if (collect(argv[i], files, &nfiles, msg, sizeof msg, 0) < 0) {
            ec = stopped(out, err, json, msg, 2);
            goto out;
        }
    if (nfiles == 0) {
        ec = stopped(out, err, json, "no scenario files (*.yaml, *.yml) found", 2);
        goto out;
    }
    sc_scenario *sc = calloc(nfiles, sizeof *sc);
    sc_result *res = calloc(nfiles, sizeof *res);
    job *running = calloc((size_t)jobs, sizeof *running);
    size_t *slot_of = calloc((size_t)jobs, sizeof *slot_of);
    if (!sc || !res || !running || !slot_of) {
        stopped(out, err, json, "out of memory", 4);
        free(sc);
        free(res);
        free(running);
        free(slot_of);
        ec = 4;
        goto out;
    }
    for (size_t i = 0; i < nfiles; i++)
        if (sc_load_file(files[i], &sc[i], msg, sizeof msg) < 0) {
            fprintf(err, "%s\n", msg);
            if (!first[0])
                snprintf(first, sizeof first, "%s", msg);
            ec = 2;
        }
    if (ec) {
        char why[700];
        snprintf(why, sizeof why, "nothing run: %s", first);
        fprintf(err, "kks-terminal run: nothing run\n");
        if (json)
            kks_cli_error_json(out, why, 2);
        goto free_all;
    }
    fflush(out);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t next = 0, done = 0;
    long active = 0;
    while (done < nfiles) {
        while (active < jobs && next < nfiles) {
            long j = 0;
            while (running[j].pid)
                j++;
            job *b = &running[j];
            snprintf(b->out, sizeof b->out, "/tmp/kks-run-out-XXXXXX");
            snprintf(b->res, sizeof b->res, "/tmp/kks-run-res-XXXXXX");
            int fo = mkstemp(b->out), fr = mkstemp(b->res);
            if (fo < 0 || fr < 0) {
                ec = stopped(out, err, json, "cannot make temporary files", 4);
                goto free_all;
            }
            close(fr);
            fflush(out);
            fflush(err);
            pid_t pid = fork();
            if (pid == 0) {
                FILE *to = jobs == 1 ? lines : fdopen(fo, "w");
                sc_result r;
                sc_run(&sc[next], &t, to, &r);
                fflush(to);
                write_result(b->res, &r);
                _exit(0);
            }
            close(fo);
            if (pid < 0) {
                snprintf(msg, sizeof msg, "cannot fork: %s", strerror(errno));
                ec = stopped(out, err, json, msg, 4);
                goto free_all;
            }
            b->pid = pid;
            slot_of[j] = next++;
            active++;
        }
        int status;
        pid_t pid = wait(&status);
        if (pid < 0)
            break;
        for (long j = 0; j < jobs; j++) {
            if (running[j].pid != pid)
                continue;
            size_t i = slot_of[j];
            if (jobs > 1) { /* its lines, together */
                FILE *f = fopen(running[j].out, "r");
                char buf[4096];
                size_t n;
                while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
                    fwrite(buf, 1, n, lines);
                if (f)
                    fclose(f);
            }
            read_result(running[j].res, &res[i], status);
            if (!res[i].passed && res[i].steps_run == 0 && res[i].failure)
                fprintf(lines, "%s (%s)\n  FAIL  %s\n", sc[i].name, sc[i].file, res[i].failure);
            unlink(running[j].out);
            unlink(running[j].res);
            running[j].pid = 0;
            npass += res[i].passed != 0;
            active--;
            done++;
        }
        fflush(lines);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(lines, "\n%zu scenarios in %.1f s\n", nfiles, seconds);
    for (size_t i = 0; i < nfiles; i++)
        if (!res[i].passed)
            fprintf(lines, "  FAILED %s (%s): %s\n", sc[i].name, sc[i].file,
                    res[i].failure ? res[i].failure : "failed");
    fprintf(lines, "%zu passed, %zu failed\n", npass, nfiles - npass);
    ec = npass == nfiles ? 0 : 1;
    if (json && results_json(out, sc, res, nfiles, npass, seconds) < 0) {
        fprintf(err, "kks-terminal run: cannot write the JSON results\n");
        ec = 4;
    }
    if (junit) {
        sc_case *cases = calloc(nfiles, sizeof *cases);
        for (size_t i = 0; cases && i < nfiles; i++)
            cases[i] = (sc_case){&sc[i], &res[i]};
        if (!cases || sc_junit_write(junit, cases, nfiles) < 0) {
            fprintf(err, "kks-terminal run: cannot write %s\n", junit);
            ec = ec ? ec : 4;
        }
        free(cases);
    }
free_all:
    for (size_t i = 0; i < nfiles; i++) {
        sc_free(&sc[i]);
        sc_result_free(&res[i]);
    }
    free(sc);
    free(res);
    free(running);
    free(slot_of);
out:
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    return ec;
}
