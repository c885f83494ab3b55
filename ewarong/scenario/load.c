/* Scenario files: libyaml events -> a node tree with line and column ->
 * checked against the format, so that a file that cannot be run says where and
 * why before anything runs. Anchors, aliases and tags are refused (a QA file
 * has no use for them, and aliases are how YAML bombs are made). */
#include "scenario.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "kks_docs.h"
#include "kks_registry.h"

typedef struct loader {
    const char *path;
    const char *data; /* the whole input, for positions given as an offset */
    size_t len;
    char *err;
    size_t cap;
    size_t nodes;
    int failed;
} loader;

__attribute__((format(printf, 4, 5))) static int fail(loader *l, int line, int col,
                                                      const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    if (l->failed)
        return -1;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(l->err, l->cap, "%s:%d:%d: %s", l->path, line, col, msg);
    l->failed = 1;
    return -1;
}

/* libyaml's own error, where it happened. A reader error (a NUL or other
 * control byte, bad UTF-8) comes as a byte offset, not a mark: counted here
 * into line and column (characters, as libyaml counts them). */
static int yaml_fail(loader *l, const yaml_parser_t *p)
{
    int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
    const char *what = p->problem ? p->problem : "YAML syntax error";
    if (p->error == YAML_READER_ERROR) {
        size_t off = p->problem_offset < l->len ? p->problem_offset : l->len;
        line = col = 1;
        for (size_t i = 0; i < off; i++) {
            unsigned char ch = (unsigned char)l->data[i];
            if (ch == '\n')
                line++, col = 1;
            else if ((ch & 0xC0) != 0x80) /* not a UTF-8 continuation byte */
                col++;
        }
        if (p->problem_value >= 0)
            return fail(l, line, col, "%s (byte 0x%02X)", what, (unsigned)p->problem_value & 0xFFu);
    }
    return fail(l, line, col, "%s", what);
}

static void node_free(sc_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        node_free(n->items[i]);
        if (n->keys)
            node_free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->scalar);
    free(n);
}

static sc_node *node_new(loader *l, enum sc_node_kind kind, const yaml_mark_t *m)
{
    sc_node *n;
    if (++l->nodes > SC_NODES_MAX) {
        fail(l, (int)m->line + 1, (int)m->column + 1, "more than %d YAML nodes", SC_NODES_MAX);
        return NULL;
    }
    if (!(n = calloc(1, sizeof *n))) {
        fail(l, (int)m->line + 1, (int)m->column + 1, "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    return n;
}

static int node_add(loader *l, sc_node *parent, sc_node *key, sc_node *item)
{
    sc_node **ni = realloc(parent->items, (parent->n + 1) * sizeof *ni);
    if (!ni)
        return fail(l, item->line, item->col, "out of memory");
    parent->items = ni;
    if (parent->kind == SC_MAP) {
        sc_node **nk = realloc(parent->keys, (parent->n + 1) * sizeof *nk);
        if (!nk)
            return fail(l, item->line, item->col, "out of memory");
        parent->keys = nk;
        parent->keys[parent->n] = key;
    }
    parent->items[parent->n++] = item;
    return 0;
}

/* Reads one node (the event e has been taken already). */
static sc_node *parse_node(loader *l, yaml_parser_t *p, yaml_event_t *e, int depth)
{
    sc_node *n = NULL;
    const yaml_mark_t *m = &e->start_mark;
    if (depth > SC_DEPTH_MAX) {
        fail(l, (int)m->line + 1, (int)m->column + 1, "nested more than %d deep", SC_DEPTH_MAX);
        return NULL;
    }
    switch (e->type) {
    case YAML_SCALAR_EVENT:
        if (e->data.scalar.anchor || (e->data.scalar.tag && e->data.scalar.plain_implicit == 0 &&
                                      e->data.scalar.quoted_implicit == 0)) {
            fail(l, (int)m->line + 1, (int)m->column + 1, "anchors and tags are not used here");
            return NULL;
        }
        if (e->data.scalar.length > SC_SCALAR_MAX) {
            fail(l, (int)m->line + 1, (int)m->column + 1, "a value longer than %d bytes",
                 SC_SCALAR_MAX);
            return NULL;
        }
        if (memchr(e->data.scalar.value, '\0', e->data.scalar.length)) {
            fail(l, (int)m->line + 1, (int)m->column + 1, "a value holds a NUL byte");
            return NULL;
        }
        if (!(n = node_new(l, SC_SCALAR, m)))
            return NULL;
        n->quoted = e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        if (!(n->scalar = strndup((const char *)e->data.scalar.value, e->data.scalar.length))) {
            fail(l, n->line, n->col, "out of memory");
            free(n);
            return NULL;
        }
        return n;
    case YAML_ALIAS_EVENT:
        fail(l, (int)m->line + 1, (int)m->column + 1, "aliases (*name) are not used here");
        return NULL;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int is_map = e->type == YAML_MAPPING_START_EVENT;
        if ((is_map ? (void *)e->data.mapping_start.anchor : (void *)e->data.sequence_start.anchor)) {
            fail(l, (int)m->line + 1, (int)m->column + 1, "anchors (&name) are not used here");
            return NULL;
        }
        if (!(n = node_new(l, is_map ? SC_MAP : SC_SEQ, m)))
            return NULL;
        for (;;) {
            yaml_event_t c;
            sc_node *key = NULL, *val;
            if (!yaml_parser_parse(p, &c)) {
                yaml_fail(l, p);
                break;
            }
            if (c.type == YAML_SEQUENCE_END_EVENT || c.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&c);
                return n;
            }
            if (is_map) {
                key = parse_node(l, p, &c, depth + 1);
                yaml_event_delete(&c);
                if (!key)
                    break;
                if (key->kind != SC_SCALAR) {
                    fail(l, key->line, key->col, "a key must be a plain word");
                    node_free(key);
                    break;
                }
                for (size_t i = 0; i < n->n; i++)
                    if (strcmp(n->keys[i]->scalar, key->scalar) == 0) {
                        fail(l, key->line, key->col, "key '%.60s' given twice", key->scalar);
                        node_free(key);
                        key = NULL;
                        break;
                    }
                if (!key)
                    break;
                if (!yaml_parser_parse(p, &c)) {
                    yaml_fail(l, p);
                    node_free(key);
                    break;
                }
            }
            val = parse_node(l, p, &c, depth + 1);
            yaml_event_delete(&c);
            if (!val || node_add(l, n, key, val) < 0) {
                node_free(key);
                node_free(val);
                break;
            }
        }
        node_free(n);
        return NULL;
    }
    default:
        fail(l, (int)m->line + 1, (int)m->column + 1, "unexpected YAML structure");
        return NULL;
    }
}

static sc_node *parse_document(loader *l, const char *data, size_t len)
{
    yaml_parser_t p;
    yaml_event_t e;
    sc_node *root = NULL;
    int stage = 0; /* 0 stream start, 1 document start, 2 root, 3 document end */
    if (!yaml_parser_initialize(&p)) {
        fail(l, 1, 1, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    while (!l->failed) {
        if (!yaml_parser_parse(&p, &e)) {
            yaml_fail(l, &p);
            break;
        }
        if (e.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&e);
            break;
        }
        if (e.type == YAML_STREAM_START_EVENT || e.type == YAML_DOCUMENT_START_EVENT ||
            e.type == YAML_DOCUMENT_END_EVENT) {
            if (e.type == YAML_DOCUMENT_START_EVENT && root)
                fail(l, (int)e.start_mark.line + 1, (int)e.start_mark.column + 1,
                     "one scenario per file (a second document starts here)");
            yaml_event_delete(&e);
            continue;
        }
        root = parse_node(l, &p, &e, 0);
        yaml_event_delete(&e);
        stage = 2;
    }
    yaml_parser_delete(&p);
    if (l->failed) {
        node_free(root);
        return NULL;
    }
    if (!root || stage != 2)
        fail(l, 1, 1, "empty file: a scenario needs name and steps");
    return root;
}

/* ---- the format ---- */

static const char *const kind_names[SC_STEP_KINDS] = {
    [SC_ENROLL] = "enroll",
    [SC_ACCOUNTS_OPEN] = "accounts-open",
    [SC_PRINT] = "print",
    [SC_HANDOVER] = "handover",
    [SC_CARD] = "card",
    [SC_CREDIT] = "credit",
    [SC_SETTLE] = "settle",
    [SC_LEDGER_CHECK] = "ledger-check",
    [SC_ACCOUNT] = "account",
    [SC_COMPLAINT] = "complaint",
    [SC_ACTIVATE] = "activate",
    [SC_BALANCE] = "balance",
    [SC_WITHDRAW] = "withdraw",
    [SC_PURCHASE] = "purchase",
    [SC_PIN_CHANGE] = "pin-change",
    [SC_STATEMENT] = "statement",
    [SC_REVERSE] = "reverse",
    [SC_SETTLE_TERMINAL] = "settle-terminal",
    [SC_FAULT] = "fault",
    [SC_SLEEP] = "sleep",
    [SC_TODAY] = "today",
};

const char *sc_step_name(enum sc_step_kind k)
{
    return k < SC_STEP_KINDS ? kind_names[k] : "?";
}

/* Keys each kind takes; a leading '!' marks a required one. */
#define TXN_KEYS "!terminal", "family", "pan", "pin", "stan", "date"
static const char *const *step_keys(enum sc_step_kind k)
{
    static const char *const none[] = {NULL};
    static const char *const print[] = {"!bank", "site", NULL};
    static const char *const handover[] = {"batch", "family", "pan", "site", "docs", NULL};
    static const char *const card[] = {"!action", "family", "pan", "police_report", "docs", NULL};
    static const char *const credit[] = {"!program", "!period", "amount", "families", NULL};
    static const char *const settle[] = {"date", NULL};
    static const char *const account[] = {"!family", NULL};
    static const char *const activate[] = {TXN_KEYS, "nik", NULL};
    static const char *const balance[] = {TXN_KEYS, NULL};
    static const char *const withdraw[] = {TXN_KEYS, "!amount", "wallet", NULL};
    static const char *const purchase[] = {TXN_KEYS, "!items", "wallet", NULL};
    static const char *const pin_change[] = {TXN_KEYS, "!new_pin", NULL};
    static const char *const reverse[] = {"!terminal", "!stan", "date", NULL};
    static const char *const settle_term[] = {"!terminal", "date", NULL};
    static const char *const fault[] = {"issuer", "switch", "link", "terminal-link", "after",
                                        NULL};
    static const char *const sleep_[] = {"seconds", NULL};
    static const char *const today[] = {"!date", NULL};
    switch (k) {
    case SC_PRINT: return print;
    case SC_HANDOVER: return handover;
    case SC_CARD: return card;
    case SC_CREDIT: return credit;
    case SC_SETTLE: return settle;
    case SC_ACCOUNT: return account;
    case SC_ACTIVATE: return activate;
    case SC_BALANCE:
    case SC_STATEMENT: return balance;
    case SC_WITHDRAW: return withdraw;
    case SC_PURCHASE: return purchase;
    case SC_PIN_CHANGE: return pin_change;
    case SC_REVERSE: return reverse;
    case SC_SETTLE_TERMINAL: return settle_term;
    case SC_FAULT: return fault;
    case SC_SLEEP: return sleep_;
    case SC_TODAY: return today;
    default: return none;
    }
}

const sc_node *sc_get(const sc_node *map, const char *key)
{
    if (!map || map->kind != SC_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i]->scalar, key) == 0)
            return map->items[i];
    return NULL;
}

static int is_date(const char *s)
{
    int y, m, d;
    return strlen(s) == 10 && kks_ymd_parse(s, &y, &m, &d) == 0;
}

/* Every $name a node uses must have been saved by an earlier step. */
static int check_refs(loader *l, const sc_node *n, char **saved, size_t nsaved)
{
    if (!n)
        return 0;
    if (n->kind == SC_SCALAR) {
        if (n->scalar[0] != '$')
            return 0;
        for (size_t i = 0; i < nsaved; i++)
            if (strcmp(saved[i], n->scalar + 1) == 0)
                return 0;
        return fail(l, n->line, n->col, "%.60s: no earlier step saves '%.40s'", n->scalar,
                    n->scalar + 1);
    }
    for (size_t i = 0; i < n->n; i++)
        if (check_refs(l, n->items[i], saved, nsaved) < 0)
            return -1;
    return 0;
}

/* The KKs a scenario knows: its families', or its registry's first column. */
typedef struct kk_set {
    char (*kk)[17];
    size_t n;
} kk_set;

static int kk_known(const kk_set *k, const char *kk)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->kk[i], kk) == 0)
            return 1;
    return 0;
}

static int registry_kks(loader *l, const sc_node *at, const char *path, kk_set *out)
{
    char line[4096];
    struct stat st;
    size_t lineno = 0;
    /* a regular file only: opening a FIFO or a terminal named here would
     * wait for a writer before anything runs (O_NONBLOCK: not even that) */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    FILE *f = NULL;
    if (fd < 0)
        return fail(l, at->line, at->col, "registry %.200s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(f = fdopen(fd, "r"))) {
        close(fd);
        return fail(l, at->line, at->col, "registry %.200s: not a regular file", path);
    }
    while (fgets(line, sizeof line, f)) {
        if (++lineno == 1)
            continue; /* the header; kksctl enroll checks the rest */
        if (out->n == SC_FAMILIES_MAX * 10) {
            fclose(f);
            return fail(l, at->line, at->col, "registry %.200s: more than %d families", path,
                        SC_FAMILIES_MAX * 10);
        }
        char (*nk)[17] = realloc(out->kk, (out->n + 1) * sizeof *nk);
        if (!nk) {
            fclose(f);
            return fail(l, at->line, at->col, "out of memory");
        }
        out->kk = nk;
        snprintf(out->kk[out->n], 17, "%.16s", line);
        out->n++;
    }
    fclose(f);
    return 0;
}

static const char *const family_keys[] = {
    "kk", "nik", "name", "birth_date", "sex", "address", "kelurahan", "kecamatan", "city_code",
    "decile", "bank", "pkh_pregnant", "pkh_early_childhood", "pkh_sd", "pkh_smp", "pkh_sma",
    "pkh_disability", "pkh_elderly", "bpnt", NULL};

static int check_family(loader *l, const sc_node *f, kk_set *kks)
{
    const sc_node *kk;
    if (f->kind != SC_MAP)
        return fail(l, f->line, f->col, "a family is a map of registry columns (kk, nik, ...)");
    for (size_t i = 0; i < f->n; i++) {
        int ok = 0;
        for (int k = 0; family_keys[k]; k++)
            ok |= strcmp(f->keys[i]->scalar, family_keys[k]) == 0;
        if (!ok)
            return fail(l, f->keys[i]->line, f->keys[i]->col,
                        "unknown family column '%.40s' (the registry header's columns)",
                        f->keys[i]->scalar);
        if (f->items[i]->kind != SC_SCALAR)
            return fail(l, f->items[i]->line, f->items[i]->col, "%s: one value",
                        f->keys[i]->scalar);
    }
    for (int k = 0; k < 11; k++) /* kk .. bank are required; pkh_* and bpnt default to 0 */
        if (!sc_get(f, family_keys[k]))
            return fail(l, f->line, f->col, "a family needs %s", family_keys[k]);
    kk = sc_get(f, "kk");
    if (!kks_digits(kk->scalar, 16))
        return fail(l, kk->line, kk->col, "kk must be 16 digits in quotes (\"1271...\")");
    if (kk_known(kks, kk->scalar))
        return fail(l, kk->line, kk->col, "family %s given twice", kk->scalar);
    char (*nk)[17] = realloc(kks->kk, (kks->n + 1) * sizeof *nk);
    if (!nk)
        return fail(l, f->line, f->col, "out of memory");
    kks->kk = nk;
    snprintf(kks->kk[kks->n++], 17, "%s", kk->scalar);
    return 0;
}

/* A duration: 2, 2s, 1.5s, 500ms (at most an hour). */
int sc_duration_ms(const char *s, unsigned *ms)
{
    char *end;
    double v;
    if (!s || !*s || *s == ' ')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || errno || !(v >= 0 && v <= 3600))
        return -1;
    while (*end == ' ')
        end++;
    if (*end == '\0' || strcmp(end, "s") == 0)
        *ms = (unsigned)(v * 1000);
    else if (strcmp(end, "ms") == 0)
        *ms = (unsigned)v;
    else
        return -1;
    return 0;
}

static int check_duration(loader *l, const sc_node *v, const char *name)
{
    unsigned ms;
    if (v->kind != SC_SCALAR || sc_duration_ms(v->scalar, &ms) < 0)
        return fail(l, v->line, v->col, "%s: a duration (2, 2s, 1.5s, 500ms; at most 3600s)",
                    name);
    return 0;
}

/* The KKs of a credit manifest: 16-digit numbers (or $saved), one or a list. */
static int check_kks(loader *l, const sc_node *v)
{
    if (v->kind == SC_SCALAR) {
        if (v->scalar[0] != '$' && !kks_digits(v->scalar, 16))
            return fail(l, v->line, v->col, "credit: families are KK numbers, 16 digits in "
                                            "quotes (\"1271...\")");
        return 0;
    }
    if (v->n == 0)
        return fail(l, v->line, v->col, "credit: families is a list of at least one KK");
    for (size_t i = 0; i < v->n; i++)
        if (v->items[i]->kind != SC_SCALAR)
            return fail(l, v->items[i]->line, v->items[i]->col,
                        "credit: families are KK numbers, not maps");
        else if (check_kks(l, v->items[i]) < 0)
            return -1;
    return 0;
}

/* fault: exactly one of issuer, switch, link, terminal-link, with a value it
 * takes; after: only for the links (a daemon fault waits for the daemon). */
static int check_fault(loader *l, const sc_step *st)
{
    const sc_node *p = st->params, *key = NULL, *val = NULL;
    unsigned ms;
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->keys[i]->scalar, "after") == 0)
            continue;
        if (key)
            return fail(l, p->keys[i]->line, p->keys[i]->col,
                        "fault: one fault per step ('%.40s' is a second)", p->keys[i]->scalar);
        key = p->keys[i];
        val = p->items[i];
    }
    if (!key)
        return fail(l, st->line, st->col, "fault: one of issuer, switch, link, terminal-link");
    if (key->scalar[0] == 'i' || key->scalar[0] == 's') {
        if (strcmp(val->scalar, "down") && strcmp(val->scalar, "up") && strcmp(val->scalar, "kill"))
            return fail(l, val->line, val->col, "fault: %s: down, up or kill", key->scalar);
        if (sc_get(p, "after"))
            return fail(l, sc_get(p, "after")->line, sc_get(p, "after")->col,
                        "fault: after is for link and terminal-link only");
        return 0;
    }
    if (strcmp(val->scalar, "ok") && strcmp(val->scalar, "drop") && strcmp(val->scalar, "cut") &&
        (strncmp(val->scalar, "slow ", 5) || sc_duration_ms(val->scalar + 5, &ms) < 0))
        return fail(l, val->line, val->col, "fault: %s: slow DURATION, drop, cut or ok",
                    key->scalar);
    return 0;
}

/* docs: [ktp, kk, undangan] (or one name): the documents seen at the desk.
 * Whether the policy knows them is the issuer's to say. */
static int check_docs(loader *l, const sc_node *v, const char *name)
{
    for (size_t i = 0; i < (v->kind == SC_SCALAR ? 1 : v->n); i++) {
        const sc_node *it = v->kind == SC_SCALAR ? v : v->items[i];
        size_t n = it->kind == SC_SCALAR ? strlen(it->scalar) : 0;
        if (n == 0 || n >= KKS_DOC_NAME_MAX ||
            strspn(it->scalar, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
            return fail(l, it->line, it->col,
                        "%s: docs is a list of document names (such as ktp, kk, undangan)",
                        name);
    }
    if (v->kind == SC_SEQ && v->n > KKS_DOCS_MAX)
        return fail(l, v->line, v->col, "%s: at most %d docs", name, KKS_DOCS_MAX);
    return 0;
}

static int check_params(loader *l, sc_step *st, const kk_set *kks, const sc_node *families)
{
    const sc_node *p = st->params;
    const char *const *keys = step_keys(st->kind);
    const char *name = sc_step_name(st->kind);
    if (st->kind == SC_COMPLAINT)
        return fail(l, st->line, st->col,
                    "complaint: the complaints desk is not in this version of the simulator");
    if (st->kind == SC_SLEEP && p->kind == SC_SCALAR)
        return check_duration(l, p, "sleep"); /* sleep: 2s */
    if (st->kind == SC_TODAY && p->kind == SC_SCALAR) /* today: 2031-12-01 */
        return is_date(p->scalar) ? 0 : fail(l, p->line, p->col, "today: a date YYYY-MM-DD");
    if (p->kind != SC_MAP)
        return fail(l, p->line, p->col, "%s: give its parameters as a map ({} for none)", name);
    for (size_t i = 0; i < p->n; i++) {
        const char *k = p->keys[i]->scalar;
        int ok = 0;
        for (int j = 0; keys[j]; j++)
            ok |= strcmp(k, keys[j] + (keys[j][0] == '!')) == 0;
        if (!ok)
            return fail(l, p->keys[i]->line, p->keys[i]->col, "%s: unknown key '%.40s'", name, k);
        const sc_node *v = p->items[i];
        if (strcmp(k, "families") == 0 || strcmp(k, "docs") == 0) {
            if (v->kind != SC_SEQ && v->kind != SC_SCALAR)
                return fail(l, v->line, v->col, "%s: %s is a list", name, k);
        } else if (v->kind != SC_SCALAR) {
            return fail(l, v->line, v->col, "%s: %s takes one value", name, k);
        }
        if (strcmp(k, "family") == 0 && v->scalar[0] != '$' && !kk_known(kks, v->scalar))
            return fail(l, v->line, v->col, "%s: family %.40s is not one of the scenario's",
                        name, v->scalar);
        if (strcmp(k, "date") == 0 && v->scalar[0] != '$' && !is_date(v->scalar))
            return fail(l, v->line, v->col, "%s: date must be YYYY-MM-DD", name);
        if ((strcmp(k, "after") == 0 || strcmp(k, "seconds") == 0) &&
            check_duration(l, v, name) < 0)
            return -1;
        if (strcmp(k, "families") == 0 && check_kks(l, v) < 0)
            return -1;
        if (strcmp(k, "docs") == 0 && check_docs(l, v, name) < 0)
            return -1;
    }
    for (int j = 0; keys[j]; j++)
        if (keys[j][0] == '!' && !sc_get(p, keys[j] + 1))
            return fail(l, st->line, st->col, "%s: '%s' is required", name, keys[j] + 1);
    if (st->kind >= SC_ACTIVATE && st->kind <= SC_STATEMENT && !sc_get(p, "family") &&
        !sc_get(p, "pan"))
        return fail(l, st->line, st->col, "%s: give family (a KK of the scenario) or pan", name);
    if (st->kind >= SC_ACTIVATE && st->kind <= SC_STATEMENT && !sc_get(p, "pin"))
        return fail(l, st->line, st->col, "%s: 'pin' is required", name);
    if (st->kind == SC_FAULT)
        return check_fault(l, st);
    if (st->kind == SC_CARD) {
        const sc_node *a = sc_get(p, "action");
        static const char *const actions[] = {"show",  "lost",    "stolen", "replace",
                                              "damaged", "renew", "unblock", NULL};
        for (int j = 0; actions[j]; j++)
            if (strcmp(a->scalar, actions[j]) == 0)
                return 0;
        return fail(l, a->line, a->col,
                    "card: action is show, lost, stolen, replace, damaged, renew or unblock "
                    "(not '%.40s')",
                    a->scalar);
    }
    if (st->kind == SC_CREDIT && sc_get(p, "amount") && !sc_get(p, "families") && !families)
        return fail(l, st->line, st->col,
                    "credit: with amount, give families (the KKs to credit): the scenario's "
                    "registry file is not read here");
    return 0;
}

static int check_scenario(loader *l, sc_scenario *s)
{
    const sc_node *root = s->root, *steps, *n;
    static const char *const top[] = {"name", "tags", "today", "registry", "families", "steps",
                                      "description", NULL};
    kk_set kks = {0};
    char **saved = NULL;
    size_t nsaved = 0;
    int rc = -1;

    if (root->kind != SC_MAP)
        return fail(l, root->line, root->col, "a scenario is a map with name and steps");
    for (size_t i = 0; i < root->n; i++) {
        int ok = 0;
        for (int k = 0; top[k]; k++)
            ok |= strcmp(root->keys[i]->scalar, top[k]) == 0;
        if (!ok)
            return fail(l, root->keys[i]->line, root->keys[i]->col,
                        "unknown key '%.40s' (name, tags, today, registry, families, steps)",
                        root->keys[i]->scalar);
    }
    if (!(n = sc_get(root, "name")) || n->kind != SC_SCALAR || !n->scalar[0])
        return fail(l, root->line, root->col, "a scenario needs a name");
    if (!(s->name = strdup(n->scalar)))
        return fail(l, n->line, n->col, "out of memory");
    if ((n = sc_get(root, "today"))) {
        if (n->kind != SC_SCALAR || !is_date(n->scalar))
            return fail(l, n->line, n->col, "today must be YYYY-MM-DD");
        memcpy(s->today, n->scalar, 11);
    }
    if ((n = sc_get(root, "tags")) && n->kind != SC_SEQ)
        return fail(l, n->line, n->col, "tags is a list: [bpnt, purchase]");
    s->tags = n;
    if ((n = sc_get(root, "registry"))) {
        if (n->kind != SC_SCALAR)
            return fail(l, n->line, n->col, "registry is a path");
        const char *slash = strrchr(s->file, '/');
        size_t need = strlen(n->scalar) + strlen(s->file) + 2;
        if (!(s->registry = malloc(need)))
            return fail(l, n->line, n->col, "out of memory");
        if (n->scalar[0] == '/' || !slash)
            snprintf(s->registry, need, "%s", n->scalar);
        else
            snprintf(s->registry, need, "%.*s/%s", (int)(slash - s->file), s->file, n->scalar);
        if (registry_kks(l, n, s->registry, &kks) < 0)
            goto out;
    }
    if ((n = sc_get(root, "families"))) {
        if (n->kind != SC_SEQ || n->n == 0 || n->n > SC_FAMILIES_MAX) {
            fail(l, n->line, n->col, "families is a list of 1 to %d families", SC_FAMILIES_MAX);
            goto out;
        }
        if (s->registry) {
            fail(l, n->line, n->col, "give registry or families, not both");
            goto out;
        }
        for (size_t i = 0; i < n->n; i++)
            if (check_family(l, n->items[i], &kks) < 0)
                goto out;
        s->families = n;
    }
    steps = sc_get(root, "steps");
    if (!steps || steps->kind != SC_SEQ || steps->n == 0) {
        fail(l, steps ? steps->line : root->line, steps ? steps->col : root->col,
             "steps is a list of at least one step");
        goto out;
    }
    if (steps->n > SC_STEPS_MAX) {
        fail(l, steps->line, steps->col, "more than %d steps", SC_STEPS_MAX);
        goto out;
    }
    if (!(s->steps = calloc(steps->n, sizeof *s->steps))) {
        fail(l, steps->line, steps->col, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < steps->n; i++) {
        const sc_node *sn = steps->items[i];
        sc_step *st = &s->steps[i];
        int found = -1;
        if (sn->kind != SC_MAP || sn->n == 0) {
            fail(l, sn->line, sn->col, "a step is a map: - kind: {parameters}");
            goto out;
        }
        for (size_t k = 0; k < sn->n; k++) {
            const char *key = sn->keys[k]->scalar;
            if (strcmp(key, "expect") == 0 || strcmp(key, "save") == 0) {
                if (sn->items[k]->kind != SC_MAP) {
                    fail(l, sn->items[k]->line, sn->items[k]->col, "%s is a map", key);
                    goto out;
                }
                if (key[0] == 'e')
                    st->expect = sn->items[k];
                else
                    st->save = sn->items[k];
                continue;
            }
            int kind = -1;
            for (int t = 0; t < SC_STEP_KINDS; t++)
                if (strcmp(key, kind_names[t]) == 0)
                    kind = t;
            if (kind < 0 || found >= 0) {
                fail(l, sn->keys[k]->line, sn->keys[k]->col,
                     found >= 0 ? "one step kind per step ('%.40s' is a second)"
                                : "unknown step kind '%.40s'",
                     key);
                goto out;
            }
            found = (int)k;
            st->kind = (enum sc_step_kind)kind;
        }
        if (found < 0) {
            fail(l, sn->line, sn->col, "a step needs its kind (enroll, activate, fault, ...)");
            goto out;
        }
        st->line = sn->keys[found]->line;
        st->col = sn->keys[found]->col;
        st->params = sn->items[found];
        if (st->params->kind == SC_SCALAR && st->params->scalar[0] == '\0' &&
            st->kind != SC_SLEEP) {
            static const sc_node empty = {.kind = SC_MAP}; /* "- ledger-check:" alone */
            st->params = &empty;
        }
        if (check_params(l, st, &kks, s->families) < 0 || check_refs(l, st->params, saved, nsaved) < 0 ||
            check_refs(l, st->expect, saved, nsaved) < 0)
            goto out;
        for (size_t k = 0; st->save && k < st->save->n; k++) {
            const sc_node *v = st->save->items[k];
            char **ns;
            if (v->kind != SC_SCALAR || !v->scalar[0] || strchr(v->scalar, '$')) {
                fail(l, v->line, v->col, "save: field: name, with a plain name");
                goto out;
            }
            if (!(ns = realloc(saved, (nsaved + 1) * sizeof *ns))) {
                fail(l, v->line, v->col, "out of memory");
                goto out;
            }
            saved = ns;
            saved[nsaved++] = v->scalar;
        }
        s->nsteps++;
    }
    rc = 0;
out:
    free(kks.kk);
    free(saved);
    return rc;
}

int sc_load_mem(const char *path, const char *data, size_t len, sc_scenario *out, char *err,
                size_t cap)
{
    loader l = {.path = path, .data = data, .len = len, .err = err, .cap = cap};
    memset(out, 0, sizeof *out);
    if (len > SC_FILE_MAX)
        return fail(&l, 1, 1, "larger than %u bytes", SC_FILE_MAX);
    if (!(out->file = strdup(path)))
        return fail(&l, 1, 1, "out of memory");
    if (!(out->root = parse_document(&l, data, len)) || check_scenario(&l, out) < 0) {
        sc_free(out);
        return -1;
    }
    return 0;
}

sc_node *sc_tree_mem(const char *path, const char *data, size_t len, char *err, size_t cap)
{
    loader l = {.path = path, .data = data, .len = len, .err = err, .cap = cap};
    if (len > SC_FILE_MAX) {
        fail(&l, 1, 1, "larger than %u bytes", SC_FILE_MAX);
        return NULL;
    }
    return parse_document(&l, data, len);
}

void sc_tree_free(sc_node *n)
{
    node_free(n);
}

int sc_load_file(const char *path, sc_scenario *out, char *err, size_t cap)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;
    int rc;
    loader l = {.path = path, .err = err, .cap = cap};
    memset(out, 0, sizeof *out);
    if (!f)
        return fail(&l, 0, 0, "cannot open: %s", strerror(errno));
    if (!(buf = malloc(SC_FILE_MAX + 1))) {
        fclose(f);
        return fail(&l, 0, 0, "out of memory");
    }
    n = fread(buf, 1, SC_FILE_MAX + 1, f);
    fclose(f);
    rc = sc_load_mem(path, buf, n, out, err, cap);
    free(buf);
    return rc;
}

void sc_free(sc_scenario *s)
{
    node_free(s->root);
    free(s->steps);
    free(s->file);
    free(s->name);
    free(s->registry);
    memset(s, 0, sizeof *s);
}
