/* One scenario, step by step, in a world of its own.
 *
 *   world:    kc_world (issuer + switch on 127.0.0.1, port 0) with a fault proxy
 *             on the switch's link to the issuer and one in front of the switch
 *             for the terminals; or the daemons of --switch/--issuer/--pki
 *   operator: kksctl --json, its output parsed (jansson)
 *   terminal: this program's own one-shot path (term_cli), in process, its
 *             --json parsed; STAN, journal and automatic reversal as always
 *   fault:    a daemon down/up/kill (kc_world_daemon); a link slow/drop/cut/ok
 *   check:    expect (any reply field; reason a substring or /regex/), save
 *             (a reply field under a name, used later as $name)
 * A step with no expect must succeed (exit 0: done, approved). The first step
 * that fails ends the scenario. */
#include "scenario.h"

#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kc_world.h"
#include "kks_docs.h"
#include "kks_err.h"
#include "kks_proxy.h"
#include "kks_seeds.h"
#include "terminal.h"

#define MAX_VARS 64
#define MAX_CARDS 1100
#define LINK_UP_WAIT_MS 15000
#define MAX_LATER 32

typedef struct later later;

typedef struct card_map {
    char kk[17];
    char pan[20];
} card_map;

typedef struct runctx {
    const sc_scenario *s;
    const sc_target *t;
    FILE *out;
    uv_loop_t loop;
    kc_world w;
    int world;
    kks_proxy *issuer_px, *switch_px;
    char bin[KC_PATH_MAX], dir[KC_PATH_MAX], pki[KC_PATH_MAX], state[KC_PATH_MAX + 16];
    char sw[KKS_ADDR_MAX], issuer[KKS_ADDR_MAX], front[KKS_ADDR_MAX];
    char today[11];
    char registry[KC_PATH_MAX + 32];
    struct {
        char name[64];
        char *value;
    } vars[MAX_VARS];
    int nvars;
    card_map cards[MAX_CARDS];
    int ncards;
    long long last_batch;
    later *later[MAX_LATER]; /* link faults set by a timer (fault: {after: ...}) */
    int nlater;
    char why[1024];
} runctx;

/* ---- small helpers ---- */

__attribute__((format(printf, 2, 3))) static int say(runctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *var(runctx *c, const char *name)
{
    for (int i = 0; i < c->nvars; i++)
        if (strcmp(c->vars[i].name, name) == 0)
            return c->vars[i].value;
    return NULL;
}

static void set_var(runctx *c, const char *name, const char *value)
{
    for (int i = 0; i < c->nvars; i++)
        if (strcmp(c->vars[i].name, name) == 0) {
            free(c->vars[i].value);
            c->vars[i].value = strdup(value);
            return;
        }
    if (c->nvars == MAX_VARS)
        return;
    snprintf(c->vars[c->nvars].name, sizeof c->vars[0].name, "%s", name);
    c->vars[c->nvars++].value = strdup(value);
}

/* A parameter's text, $name replaced by the saved value; NULL if absent. */
static const char *param(runctx *c, const sc_step *st, const char *key)
{
    const sc_node *n = sc_get(st->params, key);
    if (!n || n->kind != SC_SCALAR)
        return NULL;
    if (n->scalar[0] == '$') {
        const char *v = var(c, n->scalar + 1);
        return v ? v : "";
    }
    return n->scalar;
}

static card_map *card_of(runctx *c, const char *kk)
{
    for (int i = 0; i < c->ncards; i++)
        if (strcmp(c->cards[i].kk, kk) == 0)
            return &c->cards[i];
    return NULL;
}

static const char *pan_of(runctx *c, const char *kk)
{
    card_map *m = card_of(c, kk);
    return m ? m->pan : NULL;
}

/* A family's latest card (a replacement takes the old one's place). */
static void remember_card(runctx *c, const char *kk, const char *pan)
{
    card_map *m;
    if (!kk || !pan || strlen(kk) != 16 || strlen(pan) > 19)
        return;
    if (!(m = card_of(c, kk))) {
        if (c->ncards == MAX_CARDS)
            return;
        m = &c->cards[c->ncards++];
        snprintf(m->kk, sizeof m->kk, "%s", kk);
    }
    snprintf(m->pan, sizeof m->pan, "%s", pan);
}

/* The card a step means: pan, or the family's latest card. */
static const char *step_pan(runctx *c, const sc_step *st)
{
    const char *pan = param(c, st, "pan"), *kk = param(c, st, "family");
    if (pan)
        return pan;
    if (kk && (pan = pan_of(c, kk)))
        return pan;
    say(c, "the card of family %s is not known yet (print it first, or give pan)",
        kk ? kk : "?");
    return NULL;
}

/* Parses a program's --json output: the last line that is a JSON object. */
static json_t *parse_json(const char *out)
{
    const char *p = out ? out + strlen(out) : NULL;
    if (!p)
        return NULL;
    while (p > out) {
        const char *end = p;
        while (end > out && (end[-1] == '\n' || end[-1] == ' '))
            end--;
        const char *start = end;
        while (start > out && start[-1] != '\n')
            start--;
        if (start < end && *start == '{')
            return json_loadb(start, (size_t)(end - start), 0, NULL);
        p = start > out ? start - 1 : out;
        if (start == out)
            break;
    }
    return NULL;
}

/* The reply of a program: its JSON, with "exit" and, on failure, what it said. */
static json_t *program_reply(int ec, const char *out, const char *err)
{
    json_t *r = parse_json(out);
    if (!r)
        r = json_object();
    json_object_set_new(r, "exit", json_integer(ec));
    if (ec != 0 && ec != 1 && err && *err)
        json_object_set_new(r, "stderr", json_stringn_nocheck(err, strnlen(err, 2000)));
    return r;
}

static json_t *kksctl(runctx *c, const char *const *args)
{
    const char *argv[64];
    char exe[KC_PATH_MAX + 16];
    char *out = NULL, *err = NULL;
    int n = 0, ec;
    snprintf(exe, sizeof exe, "%s/kksctl", c->bin);
    argv[n++] = exe;
    argv[n++] = "--pki";
    argv[n++] = c->pki;
    argv[n++] = "--issuer";
    argv[n++] = c->issuer;
    argv[n++] = "--switch";
    argv[n++] = c->sw;
    argv[n++] = "--json";
    for (int i = 0; args[i] && n < 62; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    ec = kc_run(&c->loop, argv, &out, &err);
    char why[96] = "kksctl could not be run";
    if (ec == KKS_EOUTPUT)
        snprintf(why, sizeof why, "kksctl: %s", kks_strerror(ec));
    json_t *r = ec < 0 ? json_pack("{s:i,s:s}", "exit", 4, "stderr", why)
                       : program_reply(ec, out, err);
    free(out);
    free(err);
    return r;
}

/* ---- the registry the scenario enrols ---- */

static void csv_field(FILE *f, const char *v)
{
    if (!strpbrk(v, ",\"\n")) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (; *v; v++) {
        if (*v == '"')
            fputc('"', f);
        fputc(*v, f);
    }
    fputc('"', f);
}

static int write_registry(runctx *c)
{
    static const char *const cols[] = {
        "kk", "nik", "name", "birth_date", "sex", "address", "kelurahan", "kecamatan",
        "city_code", "decile", "bank", "pkh_pregnant", "pkh_early_childhood", "pkh_sd",
        "pkh_smp", "pkh_sma", "pkh_disability", "pkh_elderly", "bpnt"};
    FILE *f;
    if (c->s->registry) {
        snprintf(c->registry, sizeof c->registry, "%s", c->s->registry);
        return 0;
    }
    snprintf(c->registry, sizeof c->registry, "%s/families.csv", c->dir);
    if (!c->s->families)
        return 0;
    if (!(f = fopen(c->registry, "w")))
        return say(c, "cannot write %s: %s", c->registry, strerror(errno));
    for (int k = 0; k < 19; k++)
        fprintf(f, "%s%s", k ? "," : "", cols[k]);
    fputc('\n', f);
    for (size_t i = 0; i < c->s->families->n; i++) {
        const sc_node *fam = c->s->families->items[i];
        for (int k = 0; k < 19; k++) {
            const sc_node *v = sc_get(fam, cols[k]);
            if (k)
                fputc(',', f);
            csv_field(f, v ? v->scalar : "0");
        }
        fputc('\n', f);
    }
    return fclose(f) == 0 ? 0 : say(c, "cannot write %s", c->registry);
}

/* ---- steps ---- */

/* After print: each printed card's family, read back from the issuer. */
static void learn_cards(runctx *c, const char *print_file)
{
    char line[512];
    FILE *f = fopen(print_file, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        char pan[20];
        if (sscanf(line, "%19[0-9],", pan) != 1)
            continue;
        const char *args[] = {"card", "show", pan, NULL};
        json_t *r = kksctl(c, args);
        const char *kk = json_string_value(json_object_get(json_object_get(r, "card"), "kk"));
        if (!kk)
            kk = json_string_value(json_object_get(r, "kk"));
        remember_card(c, kk, pan);
        json_decref(r);
    }
    fclose(f);
}

/* The --docs of a hand-over or card step: the step's docs, or when it names
 * none, every document the policy asks at events ev1 and ev2 (-1: none) --
 * a scenario that is not about the documents brings them all. NULL (and
 * said) when the policy cannot be read. */
static const char *step_docs(runctx *c, const sc_step *st, int ev1, int ev2,
                             char out[KKS_DOCS_LIST_MAX])
{
    const sc_node *d = sc_get(st->params, "docs");
    size_t len = 0;
    out[0] = '\0';
    if (d) {
        for (size_t i = 0; i < (d->kind == SC_SCALAR ? 1 : d->n); i++) {
            const sc_node *it = d->kind == SC_SCALAR ? d : d->items[i];
            int w = snprintf(out + len, KKS_DOCS_LIST_MAX - len, "%s%s", len ? "," : "",
                             it->scalar); /* the loader checked: names, at most KKS_DOCS_MAX */
            len += w > 0 ? (size_t)w : 0;
        }
        return out;
    }
    kks_docs pol;
    char err[300];
    const char *seeds = c->t->seeds ? c->t->seeds : kks_seeds_default(NULL);
    if (kks_docs_load(&pol, seeds, err, sizeof err) < 0) {
        say(c, "document policy: %s", err);
        return NULL;
    }
    unsigned need = (ev1 >= 0 ? pol.required[ev1] : 0) | (ev2 >= 0 ? pol.required[ev2] : 0);
    kks_docs_format(&pol, need, out, KKS_DOCS_LIST_MAX);
    return out;
}

static json_t *operator_step(runctx *c, const sc_step *st)
{
    char docs[KKS_DOCS_LIST_MAX];
    const char *args[24];
    char path[KC_PATH_MAX + 64], batch[32];
    int n = 0;
    const char *v;
    switch (st->kind) {
    case SC_ENROLL:
    case SC_ACCOUNTS_OPEN:
        if (st->kind == SC_ACCOUNTS_OPEN)
            args[n++] = "accounts", args[n++] = "open";
        else
            args[n++] = "enroll";
        args[n++] = c->registry;
        break;
    case SC_PRINT: {
        snprintf(path, sizeof path, "%s/print-%s.csv", c->dir, param(c, st, "bank"));
        args[n++] = "print";
        args[n++] = "--bank";
        args[n++] = param(c, st, "bank");
        if ((v = param(c, st, "site")))
            args[n++] = "--site", args[n++] = v;
        args[n++] = "--out";
        args[n++] = path;
        args[n] = NULL;
        json_t *r = kksctl(c, args);
        json_t *b = json_object_get(r, "batch");
        if (json_is_integer(b) && json_integer_value(b) > 0) {
            c->last_batch = json_integer_value(b);
            learn_cards(c, path);
        }
        return r;
    }
    case SC_HANDOVER:
        args[n++] = "handover";
        if ((v = param(c, st, "family")) || (v = param(c, st, "pan"))) {
            const char *pan = step_pan(c, st);
            if (!pan)
                return NULL;
            args[n++] = "--pan", args[n++] = pan;
        } else {
            v = param(c, st, "batch");
            if (!v || strcmp(v, "last") == 0)
                snprintf(batch, sizeof batch, "%lld", c->last_batch);
            else
                snprintf(batch, sizeof batch, "%s", v);
            args[n++] = "--batch", args[n++] = batch;
        }
        args[n++] = "--site";
        args[n++] = (v = param(c, st, "site")) ? v : "Kantor Kelurahan";
        /* a first card or a replacement: without docs, what either needs */
        if (!step_docs(c, st, KKS_DOC_HANDOVER, KKS_DOC_HANDOVER_REPLACEMENT, docs))
            return NULL;
        args[n++] = "--docs";
        args[n++] = docs;
        break;
    case SC_CARD: {
        const char *pan = step_pan(c, st);
        if (!pan)
            return NULL;
        args[n++] = "card";
        args[n++] = param(c, st, "action");
        args[n++] = pan;
        if ((v = param(c, st, "police_report")))
            args[n++] = "--police-report", args[n++] = v;
        int ev = kks_docs_event(param(c, st, "action"));
        if (ev >= 0) { /* lost, stolen, replace, damaged, renew */
            if (!step_docs(c, st, ev, -1, docs))
                return NULL;
            args[n++] = "--docs";
            args[n++] = docs;
        }
        args[n] = NULL;
        json_t *r = kksctl(c, args);
        json_t *card = json_object_get(r, "card");
        remember_card(c, json_string_value(json_object_get(card, "kk")),
                      json_string_value(json_object_get(card, "pan")));
        return r;
    }
    case SC_CREDIT: {
        const char *program = param(c, st, "program"), *period = param(c, st, "period");
        const char *amount = param(c, st, "amount");
        const sc_node *fams = sc_get(st->params, "families");
        snprintf(path, sizeof path, "%s/manifest-%s-%d.csv", c->dir, program, st->line);
        if (amount || fams) {
            /* a manifest of its own: these families (or all of the scenario's),
             * this amount (or the policy's, from kksctl manifest) */
            FILE *f = fopen(path, "w");
            if (!f) {
                say(c, "cannot write %s: %s", path, strerror(errno));
                return NULL;
            }
            fprintf(f, "program,period,kk,amount\n");
            const sc_node *list = fams ? fams : c->s->families;
            for (size_t i = 0; list && i < (list->kind == SC_SCALAR ? 1 : list->n); i++) {
                /* the loader made sure: KK scalars, or the scenario's families (maps) */
                const sc_node *it = list->kind == SC_SCALAR ? list : list->items[i];
                const char *kk = it->kind == SC_MAP ? sc_get(it, "kk")->scalar : it->scalar;
                if (kk[0] == '$')
                    kk = var(c, kk + 1) ? var(c, kk + 1) : "";
                fprintf(f, "%s,%s,%s,%s\n", program, period, kk, amount ? amount : "0");
            }
            fclose(f);
        } else {
            const char *margs[] = {"manifest", "--program", program, "--period", period,
                                   "--registry", c->registry, NULL};
            char exe[KC_PATH_MAX + 16], *out = NULL, *err = NULL;
            snprintf(exe, sizeof exe, "%s/kksctl", c->bin);
            const char *argv[] = {exe, margs[0], margs[1], margs[2], margs[3], margs[4], margs[5],
                                  margs[6], NULL};
            int ec = kc_run(&c->loop, argv, &out, &err);
            /* exit 1: rows of the registry were skipped as invalid (enrolment
             * refused them too); the manifest of the others is still good */
            int usable = (ec == 0 || ec == 1) && out && strncmp(out, "program,", 8) == 0;
            FILE *f = usable ? fopen(path, "w") : NULL;
            if (f) {
                fputs(out, f);
                fclose(f);
            }
            if (!f) {
                json_t *r = program_reply(ec == 0 || ec == 1 ? 4 : ec, NULL, err);
                json_object_set_new(r, "step", json_string("kksctl manifest"));
                free(out);
                free(err);
                return r;
            }
            free(out);
            free(err);
        }
        args[n++] = "credit-run";
        args[n++] = path;
        break;
    }
    case SC_SETTLE:
        args[n++] = "settle";
        args[n++] = "--date";
        args[n++] = (v = param(c, st, "date")) ? v : c->today;
        args[n++] = "--out-dir";
        args[n++] = c->dir;
        break;
    case SC_LEDGER_CHECK:
        args[n++] = "ledger";
        args[n++] = "check";
        break;
    case SC_ACCOUNT:
        args[n++] = "account";
        args[n++] = "show";
        args[n++] = param(c, st, "family");
        break;
    default:
        say(c, "not an operator step");
        return NULL;
    }
    args[n] = NULL;
    return kksctl(c, args);
}

/* Runs kks-terminal's one-shot path in process on the scenario's loop and
 * returns its reply (program_reply of its --json output), or NULL on out of
 * memory. argv is copied: term_cli overwrites PIN arguments in place. */
static json_t *term_in_process(runctx *c, const char *const *argv, int n, link_retry retry)
{
    char *out = NULL, *err = NULL, *copies[48];
    size_t outlen = 0, errlen = 0;
    int ec;
    FILE *fo = open_memstream(&out, &outlen), *fe = open_memstream(&err, &errlen);
    if (!fo || !fe || n > 47) {
        if (fo)
            fclose(fo);
        if (fe)
            fclose(fe);
        free(out);
        free(err);
        return NULL;
    }
    term_env env = {.loop = &c->loop, .out = fo, .err = fe, .defaults = {.now = time(NULL)},
                    .retry = retry};
    for (int i = 0; i < n; i++)
        copies[i] = strdup(argv[i]);
    copies[n] = NULL;
    ec = term_cli(&env, n, copies);
    for (int i = 0; i < n; i++)
        free(copies[i]);
    fclose(fo);
    fclose(fe);
    json_t *r = program_reply(ec, out, err);
    free(out);
    free(err);
    return r;
}

static json_t *terminal_step(runctx *c, const sc_step *st)
{
    const char *argv[48], *v, *pan = NULL, *id = param(c, st, "terminal");
    int n = 0;
    static const char *const cmds[SC_STEP_KINDS] = {
        [SC_ACTIVATE] = "activate",   [SC_BALANCE] = "balance",       [SC_WITHDRAW] = "withdraw",
        [SC_PURCHASE] = "purchase",   [SC_PIN_CHANGE] = "pin-change", [SC_STATEMENT] = "statement",
        [SC_REVERSE] = "reverse",     [SC_SETTLE_TERMINAL] = "settle"};
    if (kc_world_terminal(&c->w, id) < 0 && c->world) {
        say(c, "%s", c->w.why);
        return NULL;
    }
    if (st->kind <= SC_STATEMENT && !(pan = step_pan(c, st)))
        return NULL;
    argv[n++] = "kks-terminal";
    argv[n++] = "--id";
    argv[n++] = id;
    argv[n++] = "--switch";
    argv[n++] = c->front;
    argv[n++] = "--pki";
    argv[n++] = c->pki;
    argv[n++] = "--state";
    argv[n++] = c->state;
    argv[n++] = "--json";
    argv[n++] = "--timeout";
    argv[n++] = "5000";
    argv[n++] = "--date";
    argv[n++] = (v = param(c, st, "date")) ? v : c->today;
    if ((v = param(c, st, "stan")) && st->kind != SC_REVERSE)
        argv[n++] = "--stan", argv[n++] = v;
    argv[n++] = cmds[st->kind];
    if (pan)
        argv[n++] = "--pan", argv[n++] = pan;
    if ((v = param(c, st, "pin")))
        argv[n++] = "--pin", argv[n++] = v;
    if (st->kind == SC_ACTIVATE) {
        /* the holder's NIK: given, or the family's from the scenario */
        v = param(c, st, "nik");
        const char *kk = param(c, st, "family");
        for (size_t i = 0; !v && kk && c->s->families && i < c->s->families->n; i++)
            if (strcmp(sc_get(c->s->families->items[i], "kk")->scalar, kk) == 0)
                v = sc_get(c->s->families->items[i], "nik")->scalar;
        if (!v) {
            say(c, "activate: give nik (the family's is not in the scenario)");
            return NULL;
        }
        argv[n++] = "--nik", argv[n++] = v;
        argv[n++] = "--pin-again", argv[n++] = param(c, st, "pin");
    }
    if ((v = param(c, st, "amount")))
        argv[n++] = "--amount", argv[n++] = v;
    if ((v = param(c, st, "wallet")))
        argv[n++] = "--wallet", argv[n++] = v;
    if ((v = param(c, st, "items")))
        argv[n++] = "--items", argv[n++] = v;
    if ((v = param(c, st, "new_pin")))
        argv[n++] = "--new-pin", argv[n++] = v;
    if (st->kind == SC_REVERSE)
        argv[n++] = "--stan", argv[n++] = param(c, st, "stan");
    argv[n] = NULL;

    json_t *r = term_in_process(c, argv, n,
                                (link_retry){.first_ms = 300, .max_ms = 2000, .total_ms = 30000});
    if (!r) {
        say(c, "out of memory");
        return NULL;
    }
    if (json_is_object(json_object_get(r, "balances"))) {
        json_t *b = json_object_get(r, "balances");
        json_object_set(r, "pkh", json_object_get(b, "pkh"));
        json_object_set(r, "bpnt", json_object_get(b, "bpnt"));
    }
    return r;
}

/* Waits until the switch reports its issuer link up (after a fault is undone). */
static void wait_link_up(runctx *c)
{
    const char *args[] = {"ping", NULL};
    for (unsigned waited = 0; waited < LINK_UP_WAIT_MS; waited += 100) {
        json_t *r = kksctl(c, args);
        char *s = json_dumps(r, JSON_COMPACT);
        int up = s && strstr(s, "\"up\":true") != NULL;
        free(s);
        json_decref(r);
        if (up)
            return;
        kc_pause(&c->loop, 100);
    }
}

/* A link fault given with after: set by a timer on the loop, so that it
 * happens while the next steps run (a reply lost in the middle of one). */
struct later {
    uv_timer_t timer;
    kks_proxy *px;
    enum kks_proxy_mode mode;
    unsigned delay_ms;
};

static void later_fire(uv_timer_t *t)
{
    later *f = t->data;
    kks_proxy_set(f->px, f->mode, f->delay_ms);
}

static json_t *fault_step(runctx *c, const sc_step *st)
{
    const sc_node *p = st->params;
    const char *key = NULL, *v = NULL, *after = param(c, st, "after");
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->keys[i]->scalar, "after") != 0)
            key = p->keys[i]->scalar, v = p->items[i]->scalar;
    if (!key) {
        say(c, "fault: one of issuer, switch, link, terminal-link");
        return NULL;
    }
    if (strcmp(key, "issuer") == 0 || strcmp(key, "switch") == 0) {
        enum kc_daemon d = key[0] == 'i' ? KC_ISSUER : KC_SWITCH;
        enum kc_action a = strcmp(v, "down") == 0 ? KC_DOWN
                           : strcmp(v, "up") == 0 ? KC_UP
                           : strcmp(v, "kill") == 0 ? KC_KILL
                                                    : (enum kc_action)-1;
        if ((int)a < 0) {
            say(c, "fault: %s: down, up or kill", key);
            return NULL;
        }
        if (!c->world) {
            say(c, "fault: the daemons of --switch cannot be stopped from here");
            return NULL;
        }
        if (kc_world_daemon(&c->w, d, a) < 0) {
            say(c, "%s", c->w.why);
            return NULL;
        }
        if (a == KC_UP)
            wait_link_up(c);
        return json_pack("{s:i}", "exit", 0);
    }
    kks_proxy *px = strcmp(key, "link") == 0 ? c->issuer_px : c->switch_px;
    enum kks_proxy_mode mode;
    unsigned ms = 0, after_ms = 0;
    if (!px) {
        say(c, "fault: %s needs the scenario's own world", key);
        return NULL;
    }
    if (strcmp(v, "ok") == 0)
        mode = KKS_PROXY_PASS;
    else if (strcmp(v, "drop") == 0)
        mode = KKS_PROXY_DROP;
    else if (strcmp(v, "cut") == 0)
        mode = KKS_PROXY_CUT;
    else if (strncmp(v, "slow ", 5) == 0 && sc_duration_ms(v + 5, &ms) == 0)
        mode = KKS_PROXY_DELAY;
    else {
        say(c, "fault: %s: slow DURATION, drop, cut or ok", key);
        return NULL;
    }
    if (after && sc_duration_ms(after, &after_ms) < 0) {
        say(c, "fault: after: a duration (2s, 500ms)");
        return NULL;
    }
    if (after) {
        later *f;
        if (c->nlater == MAX_LATER || !(f = calloc(1, sizeof *f))) {
            say(c, "fault: at most %d faults with after in a scenario", MAX_LATER);
            return NULL;
        }
        f->px = px;
        f->mode = mode;
        f->delay_ms = ms;
        uv_timer_init(&c->loop, &f->timer);
        f->timer.data = f;
        uv_timer_start(&f->timer, later_fire, after_ms, 0);
        c->later[c->nlater++] = f;
        return json_pack("{s:i,s:i}", "exit", 0, "after_ms", (int)after_ms);
    }
    int rc = kks_proxy_set(px, mode, ms);
    if (rc < 0) {
        say(c, "fault: %s: %s", key, kks_strerror(rc));
        return NULL;
    }
    if (mode == KKS_PROXY_PASS && px == c->issuer_px)
        wait_link_up(c);
    return json_pack("{s:i}", "exit", 0);
}

/* today: time passes. Both daemons restart with the new business date (the
 * issuer judges expiry by it, the switch limits and periods), and the
 * terminals date what they send by it. */
static json_t *today_step(runctx *c, const sc_step *st)
{
    const sc_node *p = st->params;
    const char *v = p->kind == SC_SCALAR ? p->scalar : param(c, st, "date");
    if (!c->world) {
        say(c, "today: needs the scenario's own world (the daemons of --switch keep their date)");
        return NULL;
    }
    if (!v || strlen(v) != 10) {
        say(c, "today: a date YYYY-MM-DD");
        return NULL;
    }
    memcpy(c->today, v, 11);
    c->w.o.today = c->today;
    for (int d = KC_ISSUER; d <= KC_SWITCH; d++)
        if (kc_world_daemon(&c->w, (enum kc_daemon)d, KC_DOWN) < 0 ||
            kc_world_daemon(&c->w, (enum kc_daemon)d, KC_UP) < 0) {
            say(c, "%s", c->w.why);
            return NULL;
        }
    wait_link_up(c);
    return json_pack("{s:i,s:s}", "exit", 0, "today", c->today);
}

static json_t *sleep_step(runctx *c, const sc_step *st)
{
    const sc_node *p = st->params;
    const char *v = p->kind == SC_SCALAR ? p->scalar : param(c, st, "seconds");
    unsigned ms;
    if (!v || sc_duration_ms(v, &ms) < 0) {
        say(c, "sleep: a duration (2, 2s, 500ms)");
        return NULL;
    }
    kc_pause(&c->loop, ms);
    return json_pack("{s:i}", "exit", 0);
}

/* ---- expectations ---- */

/* The reply's value for an expect/save key. */
static json_t *field(json_t *reply, const char *key)
{
    json_t *v = json_object_get(reply, key);
    if (v)
        return v;
    if (strcmp(key, "state") == 0)
        return json_object_get(json_object_get(reply, "card"), "state");
    if (strcmp(key, "batches") == 0)
        return json_object_get(reply, "batch");
    if (strcmp(key, "pkh") == 0 || strcmp(key, "bpnt") == 0)
        return json_object_get(json_object_get(reply, "balances"), key);
    /* a.b.c */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", key);
    json_t *cur = reply;
    for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, "."))
        cur = json_is_array(cur) ? json_array_get(cur, strtoul(tok, NULL, 10))
                                 : json_object_get(cur, tok);
    return cur == reply ? NULL : cur;
}

static void text_of(json_t *v, char *out, size_t cap)
{
    if (!v)
        snprintf(out, cap, "(none)");
    else if (json_is_string(v))
        snprintf(out, cap, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
    else if (json_is_true(v))
        snprintf(out, cap, "true");
    else if (json_is_false(v))
        snprintf(out, cap, "false");
    else if (json_is_null(v))
        snprintf(out, cap, "null");
    else {
        char *s = json_dumps(v, JSON_COMPACT);
        snprintf(out, cap, "%s", s ? s : "?");
        free(s);
    }
}

/* 1 if the expectation holds; else 0 with what went wrong in c->why. */
static int holds(runctx *c, json_t *reply, const char *key, const char *want)
{
    char got[600];
    json_t *v = field(reply, key);
    if (strcmp(key, "rejected") == 0 && json_is_array(v)) {
        long long n = (long long)json_array_size(v);
        snprintf(got, sizeof got, "%lld", n);
    } else {
        text_of(v, got, sizeof got);
    }
    /* words are matched, not compared: reason, violation, stderr, error, also
     * at the end of a path (rejected.0.reason) */
    const char *last = strrchr(key, '.') ? strrchr(key, '.') + 1 : key;
    if (strcmp(last, "reason") == 0 || strcmp(last, "violation") == 0 ||
        strcmp(last, "stderr") == 0 || strcmp(last, "error") == 0) {
        size_t wl = strlen(want);
        if (wl >= 2 && want[0] == '/' && want[wl - 1] == '/') {
            regex_t re;
            char pat[SC_SCALAR_MAX];
            snprintf(pat, sizeof pat, "%.*s", (int)wl - 2, want + 1);
            if (regcomp(&re, pat, REG_EXTENDED | REG_NOSUB) != 0)
                return say(c, "%s: /%s/ is not a regular expression", key, pat), 0;
            int ok = regexec(&re, got, 0, NULL, 0) == 0;
            regfree(&re);
            if (!ok)
                say(c, "%s: expected to match %s, got \"%s\"", key, want, got);
            return ok;
        }
        if (!strstr(got, want))
            return say(c, "%s: expected to contain \"%s\", got \"%s\"", key, want, got), 0;
        return 1;
    }
    if (strcmp(got, want) == 0)
        return 1;
    if (v && json_is_integer(v)) { /* 600000 and 600_000 and +600000 alike */
        char *end;
        long long w = strtoll(want, &end, 10);
        if (*end == '\0' && w == json_integer_value(v))
            return 1;
    }
    return say(c, "%s: expected %s, got %s", key, want, got), 0;
}

static void step_label(const runctx *c, const sc_step *st, char *out, size_t cap)
{
    const char *t = NULL;
    if (st->params->kind == SC_MAP) {
        const sc_node *n = sc_get(st->params, "terminal");
        if (!n)
            n = sc_get(st->params, "bank");
        if (!n)
            n = sc_get(st->params, "action");
        size_t f = 0; /* a fault's own key, not after */
        while (st->kind == SC_FAULT && f + 1 < st->params->n &&
               strcmp(st->params->keys[f]->scalar, "after") == 0)
            f++;
        if (!n && st->kind == SC_FAULT && st->params->n)
            n = st->params->items[f];
        if (n && n->kind == SC_SCALAR)
            t = n->scalar;
        if (st->kind == SC_FAULT && st->params->n)
            snprintf(out, cap, "fault %s %s%s%s", st->params->keys[f]->scalar, t ? t : "",
                     sc_get(st->params, "after") ? " after " : "",
                     sc_get(st->params, "after") ? sc_get(st->params, "after")->scalar : "");
        else if (st->kind == SC_CREDIT)
            snprintf(out, cap, "credit %s %s", sc_get(st->params, "program")->scalar,
                     sc_get(st->params, "period")->scalar);
        else
            snprintf(out, cap, "%s%s%s", sc_step_name(st->kind), t ? " " : "", t ? t : "");
    } else {
        snprintf(out, cap, "%s %s", sc_step_name(st->kind), st->params->scalar);
    }
    (void)c;
}

static void summary_of(json_t *r, char *out, size_t cap)
{
    const char *rc = json_string_value(json_object_get(r, "rc"));
    const char *reason = json_string_value(json_object_get(r, "reason"));
    if (rc)
        snprintf(out, cap, "rc %s%s%.80s", rc, reason && *reason ? " " : "", reason ? reason : "");
    else if (json_object_get(r, "credited"))
        snprintf(out, cap, "credited %lld, rejected %zu",
                 (long long)json_integer_value(json_object_get(r, "credited")),
                 json_array_size(json_object_get(r, "rejected")));
    else
        snprintf(out, cap, "exit %lld", (long long)json_integer_value(json_object_get(r, "exit")));
}

/* ---- the world around a scenario ---- */

static const char *issuer_front(void *ud, const char *issuer_addr)
{
    runctx *c = ud;
    if (kks_proxy_new(&c->loop, "127.0.0.1:0", issuer_addr, NULL, &c->issuer_px) < 0)
        return NULL;
    return kks_proxy_address(c->issuer_px);
}

static int world_up(runctx *c)
{
    if (c->t->sw) {
        snprintf(c->sw, sizeof c->sw, "%s", c->t->sw);
        snprintf(c->front, sizeof c->front, "%s", c->t->sw);
        snprintf(c->issuer, sizeof c->issuer, "%s", c->t->issuer);
        snprintf(c->pki, sizeof c->pki, "%s", c->t->pki);
        snprintf(c->dir, sizeof c->dir, "%s/kks-run-XXXXXX",
                 getenv("TMPDIR") && strlen(getenv("TMPDIR")) < 300 ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(c->dir))
            return say(c, "cannot make a directory: %s", strerror(errno));
        if (c->t->bin_dir)
            snprintf(c->bin, sizeof c->bin, "%s", c->t->bin_dir);
        else if (kc_bin_dir(c->bin, sizeof c->bin) < 0)
            return say(c, "cannot find the directory of this program (for kksctl beside it)");
        /* a world only for its terminal certificates: none to make here */
        snprintf(c->w.pki, sizeof c->w.pki, "%s", c->t->pki);
    } else {
        kc_world_opts o = {.bin_dir = c->t->bin_dir, .seeds = c->t->seeds,
                           .today = c->today[0] ? c->today : NULL,
                           .issuer_front = issuer_front, .ud = c, .keep = c->t->keep};
        if (kc_world_start(&c->w, &c->loop, &o) < 0)
            return say(c, "%s", c->w.why);
        c->world = 1;
        if (kks_proxy_new(&c->loop, "127.0.0.1:0", c->w.addr[KC_SWITCH], NULL, &c->switch_px) < 0)
            return say(c, "cannot start the terminals' proxy");
        snprintf(c->sw, sizeof c->sw, "%s", c->w.addr[KC_SWITCH]);
        snprintf(c->front, sizeof c->front, "%s", kks_proxy_address(c->switch_px));
        snprintf(c->issuer, sizeof c->issuer, "%s", c->w.addr[KC_ISSUER]);
        snprintf(c->pki, sizeof c->pki, "%s", c->w.pki);
        snprintf(c->dir, sizeof c->dir, "%s", c->w.dir);
        snprintf(c->bin, sizeof c->bin, "%s", c->w.bin);
        wait_link_up(c);
    }
    snprintf(c->state, sizeof c->state, "%s/terminals", c->dir);
    return write_registry(c);
}

static void later_closed(uv_handle_t *h)
{
    free(h->data);
}

/* The steps of s in c's world, the world already up; fills r. */
static void run_steps(runctx *c, const sc_scenario *s, const sc_target *t, FILE *out,
                      sc_result *r);
static void world_down(runctx *c, const sc_target *t, sc_result *r);

void sc_run(const sc_scenario *s, const sc_target *t, FILE *out, sc_result *r)
{
    runctx *c = calloc(1, sizeof *c);
    struct timespec t0, t1;
    memset(r, 0, sizeof *r);
    r->failed_step = -1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!c) {
        r->failure = strdup("out of memory");
        return;
    }
    c->s = s;
    c->t = t;
    c->out = out;
    uv_loop_init(&c->loop);
    if (s->today[0])
        memcpy(c->today, s->today, 11);
    else
        targs_wib_date(time(NULL), c->today);
    fprintf(out, "%s (%s)\n", s->name, s->file);
    if (world_up(c) < 0) {
        r->failure = strdup(c->why);
        fprintf(out, "  FAIL  the world did not start: %s\n", c->why);
    } else
        run_steps(c, s, t, out, r);
    world_down(c, t, r);
    free(c);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

static void run_steps(runctx *c, const sc_scenario *s, const sc_target *t, FILE *out,
                      sc_result *r)
{
    for (size_t i = 0; i < s->nsteps; i++) {
        const sc_step *st = &s->steps[i];
        char label[200], sum[300];
        struct timespec s0, s1;
        json_t *reply;
        int ok = 1;
        clock_gettime(CLOCK_MONOTONIC, &s0);
        c->why[0] = '\0';
        if (st->kind == SC_FAULT)
            reply = fault_step(c, st);
        else if (st->kind == SC_SLEEP)
            reply = sleep_step(c, st);
        else if (st->kind == SC_TODAY)
            reply = today_step(c, st);
        else if (st->kind >= SC_ACTIVATE && st->kind <= SC_SETTLE_TERMINAL)
            reply = terminal_step(c, st);
        else
            reply = operator_step(c, st);
        clock_gettime(CLOCK_MONOTONIC, &s1);
        step_label(c, st, label, sizeof label);
        r->steps_run++;
        if (!reply) {
            ok = 0;
            reply = json_object();
        } else if (st->expect) {
            for (size_t k = 0; ok && k < st->expect->n; k++) {
                char want[SC_SCALAR_MAX + 1];
                const sc_node *w = st->expect->items[k];
                if (w->kind != SC_SCALAR) {
                    say(c, "expect: %s takes one value", st->expect->keys[k]->scalar);
                    ok = 0;
                    break;
                }
                snprintf(want, sizeof want, "%s",
                         w->scalar[0] == '$' && var(c, w->scalar + 1) ? var(c, w->scalar + 1)
                                                                      : w->scalar);
                ok = holds(c, reply, st->expect->keys[k]->scalar, want);
            }
        } else if (json_integer_value(json_object_get(reply, "exit")) != 0) {
            summary_of(reply, sum, sizeof sum);
            say(c, "the step did not succeed: %s", sum);
            ok = 0;
        }
        for (size_t k = 0; ok && st->save && k < st->save->n; k++) {
            char v[600];
            json_t *f = field(reply, st->save->keys[k]->scalar);
            if (!f) {
                say(c, "save: the reply has no %s", st->save->keys[k]->scalar);
                ok = 0;
                break;
            }
            text_of(f, v, sizeof v);
            set_var(c, st->save->items[k]->scalar, v);
        }
        summary_of(reply, sum, sizeof sum);
        double secs = (double)(s1.tv_sec - s0.tv_sec) + (double)(s1.tv_nsec - s0.tv_nsec) / 1e9;
        fprintf(out, "  %-4s %3zu %-28s %s (%.2f s)\n", ok ? "ok" : "FAIL", i + 1, label, sum,
                secs);
        if (t->verbose) {
            char *js = json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER);
            fprintf(out, "       reply: %s\n", js ? js : "?");
            free(js);
        }
        if (!ok) {
            char *js = json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER);
            fprintf(out, "       line %d: %s\n", st->line, c->why);
            r->failed_step = (int)i;
            r->failed_line = st->line;
            size_t need = strlen(c->why) + strlen(label) + 64;
            if ((r->failure = malloc(need)))
                snprintf(r->failure, need, "step %zu (%s, line %d): %s", i + 1, label, st->line,
                         c->why);
            r->reply = js;
            json_decref(reply);
            break;
        }
        json_decref(reply);
        fflush(out);
    }
    r->passed = r->failed_step < 0 && !r->failure;
}

static void world_down(runctx *c, const sc_target *t, sc_result *r)
{
    for (int i = 0; i < c->nlater; i++) {
        uv_timer_stop(&c->later[i]->timer);
        uv_close((uv_handle_t *)&c->later[i]->timer, later_closed);
    }
    kks_proxy_free(c->issuer_px);
    kks_proxy_free(c->switch_px);
    if (c->world && kc_world_stop(&c->w) < 0 && r->passed) {
        r->passed = 0;
        r->failure = strdup("a daemon did not stop cleanly (exit status not 0)");
        fprintf(c->out, "  FAIL  a daemon did not stop cleanly\n");
    } else if (!c->world && c->dir[0] && !t->keep) {
        const char *rm[] = {"/bin/rm", "-rf", c->dir, NULL};
        char *o = NULL, *e = NULL;
        kc_run(&c->loop, rm, &o, &e);
        free(o);
        free(e);
    }
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_loop_close(&c->loop);
    for (int i = 0; i < c->nvars; i++)
        free(c->vars[i].value);
}

/* ---- a world kept open (training mode) ---- */

struct sc_world {
    runctx c;
    sc_target t;
};

sc_world *sc_world_open(const sc_scenario *s, const sc_target *t, FILE *out, sc_result *r)
{
    sc_world *w = calloc(1, sizeof *w);
    memset(r, 0, sizeof *r);
    r->failed_step = -1;
    if (!w) {
        r->failure = strdup("out of memory");
        return NULL;
    }
    w->t = *t;
    runctx *c = &w->c;
    c->s = s;
    c->t = &w->t;
    c->out = out;
    uv_loop_init(&c->loop);
    if (s->today[0])
        memcpy(c->today, s->today, 11);
    else
        targs_wib_date(time(NULL), c->today);
    if (world_up(c) < 0) {
        r->failure = strdup(c->why);
        world_down(c, &w->t, r);
        free(w);
        return NULL;
    }
    run_steps(c, s, &w->t, out, r);
    return w;
}

void sc_world_close(sc_world *w)
{
    sc_result r = {0};
    if (!w)
        return;
    world_down(&w->c, &w->t, &r);
    sc_result_free(&r);
    free(w);
}

const char *sc_world_card(sc_world *w, const char *kk)
{
    return pan_of(&w->c, kk);
}

const char *sc_world_dir(sc_world *w)
{
    return w->c.dir;
}

const char *sc_world_today(sc_world *w)
{
    return w->c.today;
}

json_t *sc_world_terminal(sc_world *w, const char *id, const char *const *args, unsigned timeout_ms,
                          unsigned reversal_ms)
{
    runctx *c = &w->c;
    const char *argv[48];
    char tmo[16];
    int n = 0;
    if (kc_world_terminal(&c->w, id) < 0 && c->world)
        return json_pack("{s:i,s:s}", "exit", 4, "stderr", c->w.why);
    snprintf(tmo, sizeof tmo, "%u", timeout_ms);
    argv[n++] = "kks-terminal";
    argv[n++] = "--id", argv[n++] = id;
    argv[n++] = "--switch", argv[n++] = c->front;
    argv[n++] = "--pki", argv[n++] = c->pki;
    argv[n++] = "--state", argv[n++] = c->state;
    argv[n++] = "--json";
    argv[n++] = "--timeout", argv[n++] = tmo;
    argv[n++] = "--date", argv[n++] = c->today;
    for (int i = 0; args[i] && n < 46; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    json_t *r = term_in_process(c, argv, n,
                                (link_retry){.first_ms = 300, .max_ms = 1000,
                                             .total_ms = reversal_ms});
    if (!r)
        return NULL;
    return r;
}

int sc_world_fault(sc_world *w, const char *what)
{
    runctx *c = &w->c;
    if (!c->world)
        return say(c, "faults need the embedded world");
    if (strcmp(what, "issuer-down") == 0)
        return kc_world_daemon(&c->w, KC_ISSUER, KC_DOWN) < 0 ? say(c, "%s", c->w.why) : 0;
    if (strcmp(what, "issuer-up") == 0) {
        if (kc_world_daemon(&c->w, KC_ISSUER, KC_UP) < 0)
            return say(c, "%s", c->w.why);
        wait_link_up(c);
        return 0;
    }
    if (strcmp(what, "link-drop") == 0)
        return kks_proxy_set(c->switch_px, KKS_PROXY_DROP, 0);
    if (strcmp(what, "link-ok") == 0)
        return kks_proxy_set(c->switch_px, KKS_PROXY_PASS, 0);
    return say(c, "unknown fault %s", what);
}

/* A proxy mode set after ms, by a timer on the world's loop. */
static int later_set(runctx *c, kks_proxy *px, enum kks_proxy_mode mode, unsigned delay_ms,
                     unsigned after_ms)
{
    later *f = NULL;
    for (int i = 0; i < c->nlater; i++) /* a timer that has fired is free again */
        if (!uv_is_active((uv_handle_t *)&c->later[i]->timer))
            f = c->later[i];
    if (!f) {
        if (c->nlater == MAX_LATER || !(f = calloc(1, sizeof *f)))
            return say(c, "too many pending faults");
        uv_timer_init(&c->loop, &f->timer);
        f->timer.data = f;
        c->later[c->nlater++] = f;
    }
    f->px = px;
    f->mode = mode;
    f->delay_ms = delay_ms;
    uv_timer_start(&f->timer, later_fire, after_ms, 0);
    return 0;
}

int sc_world_reply_lost(sc_world *w, unsigned timeout_ms)
{
    runctx *c = &w->c;
    if (!c->switch_px || !c->issuer_px)
        return say(c, "faults need the embedded world");
    /* the issuer answers late, so that the request is surely sent before the
     * terminal's link starts swallowing replies; the link heals before the
     * terminal's reversal gives up */
    kks_proxy_set(c->issuer_px, KKS_PROXY_DELAY, 1500);
    if (later_set(c, c->switch_px, KKS_PROXY_DROP, 0, 700) < 0 ||
        later_set(c, c->switch_px, KKS_PROXY_PASS, 0, timeout_ms + 500) < 0 ||
        later_set(c, c->issuer_px, KKS_PROXY_PASS, 0, timeout_ms) < 0)
        return -1;
    return 0;
}

json_t *sc_world_ctl(sc_world *w, const char *const *args)
{
    json_t *r = kksctl(&w->c, args);
    json_t *card = json_object_get(r, "card");
    remember_card(&w->c, json_string_value(json_object_get(card, "kk")),
                  json_string_value(json_object_get(card, "pan")));
    return r;
}

void sc_world_pause(sc_world *w, unsigned ms)
{
    kc_pause(&w->c.loop, ms);
}

void sc_result_free(sc_result *r)
{
    free(r->failure);
    free(r->reply);
    memset(r, 0, sizeof *r);
}
