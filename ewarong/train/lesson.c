/* Lesson files: the YAML tree of the scenario loader, checked into a tl_lesson. */
#include "lesson.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 5, 6))) static int fail(const char *path, const sc_node *at,
                                                      char *err, size_t cap, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, cap, "%s:%d:%d: %s", path, at ? at->line : 1, at ? at->col : 1, msg);
    return -1;
}

static const char *scalar(const sc_node *map, const char *key)
{
    const sc_node *n = sc_get(map, key);
    return n && n->kind == SC_SCALAR ? n->scalar : NULL;
}

/* {id: ..., en: ...}: both required when need. */
static int text(const char *path, const sc_node *map, const char *key, int need, tl_text *out,
                char *err, size_t cap)
{
    const sc_node *n = sc_get(map, key);
    out->t[0] = out->t[1] = NULL;
    if (!n) return need ? fail(path, map, err, cap, "%s is required ({id: ..., en: ...})", key) : 0;
    if (n->kind != SC_MAP)
        return fail(path, n, err, cap, "%s must be a map {id: ..., en: ...}", key);
    out->t[0] = scalar(n, "id");
    out->t[1] = scalar(n, "en");
    if (!out->t[0] || !out->t[1])
        return fail(path, n, err, cap, "%s needs both id (Bahasa Indonesia) and en (English) text",
                    key);
    return 0;
}

static int one_of(const char *v, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(v, *set) == 0) return 1;
    return 0;
}

static int check_step(const char *path, const sc_node *n, tl_step *st, char *err, size_t cap)
{
    static const char *const kinds[] = {"menu",      "card", "nik",  "pin",
                                        "pin_again", "rc",   "bank", NULL};
    static const char *const banks[] = {"lost", "replace", NULL};
    static const char *const menus[] = {"activate",   "balance",   "purchase", "withdraw",
                                        "pin_change", "statement", NULL};
    static const char *const pins[] = {"strong", "wrong", "right", "any", NULL};
    static const char *const fam[] = {"family", NULL};
    static const char *const same[] = {"same", NULL};
    const sc_node *e;
    if (n->kind != SC_MAP)
        return fail(path, n, err, cap, "a step must be a map with expect and guide");
    e = sc_get(n, "expect");
    if (!e || e->kind != SC_MAP || e->n != 1 || e->items[0]->kind != SC_SCALAR)
        return fail(path, e ? e : n, err, cap,
                    "expect must be one key: menu, card, nik, pin, pin_again, rc or bank");
    st->line = n->line;
    const char *k = e->keys[0]->scalar, *v = e->items[0]->scalar;
    int i;
    for (i = 0; kinds[i] && strcmp(kinds[i], k); i++)
        ;
    if (!kinds[i])
        return fail(path, e->keys[0], err, cap,
                    "unknown expect %s (menu, card, nik, pin, pin_again, rc, bank)", k);
    st->kind = (enum tl_kind)i;
    st->value = v;
    const char *const *ok = st->kind == TL_MENU        ? menus
                            : st->kind == TL_PIN       ? pins
                            : st->kind == TL_PIN_AGAIN ? same
                            : st->kind == TL_BANK      ? banks
                            : st->kind == TL_RC        ? NULL
                                                       : fam;
    if (ok && !one_of(v, ok))
        return fail(path, e->items[0], err, cap, "%s: %s is not a value this key takes", k, v);
    if (!ok && strcmp(v, "none") != 0 &&
        (strlen(v) != 2 || v[0] < '0' || v[0] > '9' || v[1] < '0' || v[1] > '9'))
        return fail(path, e->items[0], err, cap,
                    "rc must be two digits, quoted (\"00\"), or none (no reply)");
    const sc_node *fn = sc_get(n, "fault");
    if (fn) {
        static const char *const faults[] = {"issuer-down", "link-timeout", NULL};
        if (fn->kind != SC_SCALAR || !one_of(fn->scalar, faults))
            return fail(path, fn, err, cap, "fault: issuer-down or link-timeout");
        if (st->kind != TL_MENU)
            return fail(path, fn, err, cap, "fault goes on a menu step (it starts a transaction)");
        st->fault = fn->scalar;
    }
    if (text(path, n, "guide", 1, &st->guide, err, cap) < 0 ||
        text(path, n, "hint", 0, &st->hint, err, cap) < 0 ||
        text(path, n, "wrong", 0, &st->wrong, err, cap) < 0)
        return -1;
    return 0;
}

static int check(const char *path, tl_lesson *l, char *err, size_t cap)
{
    const sc_node *r = l->root, *n;
    if (r->kind != SC_MAP)
        return fail(path, r, err, cap, "a lesson is a map (name, title, scene, steps)");
    if (!(l->name = scalar(r, "name")) || !*l->name)
        return fail(path, r, err, cap, "name is required");
    for (const char *p = l->name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return fail(path, sc_get(r, "name"), err, cap, "name: only a-z, 0-9 and -");
    if (text(path, r, "title", 1, &l->title, err, cap) < 0 ||
        text(path, r, "scene", 1, &l->scene, err, cap) < 0)
        return -1;
    l->family = scalar(r, "family");
    if (l->family && (strlen(l->family) != 16 || strspn(l->family, "0123456789") != 16))
        return fail(path, sc_get(r, "family"), err, cap, "family must be a 16-digit KK, quoted");
    l->pin = scalar(r, "pin");
    if (l->pin && (strlen(l->pin) != 6 || strspn(l->pin, "0123456789") != 6))
        return fail(path, sc_get(r, "pin"), err, cap, "pin must be 6 digits, quoted");
    const char *card = scalar(r, "card");
    if (card && strcmp(card, "new") != 0 && strcmp(card, "active") != 0)
        return fail(path, sc_get(r, "card"), err, cap, "card must be new or active");
    l->card_new = card && strcmp(card, "new") == 0;
    if (l->family && !l->card_new && !l->pin)
        return fail(path, r, err, cap,
                    "an active card needs its pin (or card: new, a card waiting for activation)");
    n = sc_get(r, "steps");
    if (!n || n->kind != SC_SEQ || n->n == 0)
        return fail(path, n ? n : r, err, cap, "steps must be a list of at least one step");
    if (n->n > TL_STEPS_MAX) return fail(path, n, err, cap, "at most %d steps", TL_STEPS_MAX);
    for (size_t i = 0; i < n->n; i++) {
        if (check_step(path, n->items[i], &l->steps[i], err, cap) < 0) return -1;
        if ((l->steps[i].kind == TL_CARD || l->steps[i].kind == TL_NIK ||
             l->steps[i].kind == TL_BANK) &&
            !l->family)
            return fail(path, n->items[i], err, cap,
                        "a card, nik or bank step needs the lesson's family");
    }
    l->nsteps = n->n;
    if ((n = sc_get(r, "explain"))) {
        if (n->kind != SC_MAP)
            return fail(path, n, err, cap, "explain must be a map \"rc\": {id: ..., en: ...}");
        if (n->n > TL_EXPLAIN_MAX)
            return fail(path, n, err, cap, "at most %d explanations", TL_EXPLAIN_MAX);
        for (size_t i = 0; i < n->n; i++) {
            l->explain[i].rc = n->keys[i]->scalar;
            if (n->items[i]->kind != SC_MAP)
                return fail(path, n->items[i], err, cap, "explain %s: {id: ..., en: ...}",
                            n->keys[i]->scalar);
            l->explain[i].text.t[0] = scalar(n->items[i], "id");
            l->explain[i].text.t[1] = scalar(n->items[i], "en");
            if (!l->explain[i].text.t[0] || !l->explain[i].text.t[1])
                return fail(path, n->items[i], err, cap, "explain %s needs id and en",
                            n->keys[i]->scalar);
        }
        l->nexplain = n->n;
    }
    return 0;
}

int tl_load_mem(const char *path, const char *data, size_t len, tl_lesson *out, char *err,
                size_t cap)
{
    memset(out, 0, sizeof *out);
    if (!(out->root = sc_tree_mem(path, data, len, err, cap))) return -1;
    if (check(path, out, err, cap) < 0) {
        tl_free(out);
        return -1;
    }
    return 0;
}

int tl_load_file(const char *path, tl_lesson *out, char *err, size_t cap)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;
    int rc;
    memset(out, 0, sizeof *out);
    if (!f) return fail(path, NULL, err, cap, "cannot open: %s", strerror(errno));
    if (!(buf = malloc(SC_FILE_MAX + 1))) {
        fclose(f);
        return fail(path, NULL, err, cap, "out of memory");
    }
    n = fread(buf, 1, SC_FILE_MAX + 1, f);
    fclose(f);
    rc = tl_load_mem(path, buf, n, out, err, cap);
    free(buf);
    return rc;
}

void tl_free(tl_lesson *l)
{
    sc_tree_free(l->root);
    memset(l, 0, sizeof *l);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t tl_load_dir(const char *dir, tl_lesson *out, size_t max, char *errs, size_t cap)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char *names[TL_LESSONS_MAX * 2];
    size_t nn = 0, got = 0, used = 0;
    if (errs && cap) errs[0] = '\0';
    if (!d) {
        snprintf(errs, cap, "%s: cannot open: %s\n", dir, strerror(errno));
        return 0;
    }
    while ((e = readdir(d)) && nn < TL_LESSONS_MAX * 2) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".yaml") == 0 && e->d_name[0] != '.')
            names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, nn, sizeof *names, by_name);
    for (size_t i = 0; i < nn; i++) {
        char path[1024], err[600];
        if (names[i] && got < max) {
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            if (tl_load_file(path, &out[got], err, sizeof err) == 0)
                got++;
            else if (used < cap) {
                int w = snprintf(errs + used, cap - used, "%s\n", err);
                used += w > 0 ? (size_t)w : 0;
            }
        }
        free(names[i]);
    }
    return got;
}

const char *tl_str(const tl_text *t, int lang)
{
    if (t->t[lang]) return t->t[lang];
    return t->t[!lang] ? t->t[!lang] : "";
}

const tl_text *tl_explain(const tl_lesson *l, const char *rc)
{
    for (size_t i = 0; rc && i < l->nexplain; i++)
        if (strcmp(l->explain[i].rc, rc) == 0) return &l->explain[i].text;
    return NULL;
}

int tl_pin_trivial(const char *pin)
{
    size_t n = strlen(pin);
    int same = 1, up = 1, down = 1;
    if (n != 6 || strspn(pin, "0123456789") != n) return 1;
    for (size_t i = 1; i < n; i++) {
        same &= pin[i] == pin[0];
        up &= pin[i] == pin[i - 1] + 1;
        down &= pin[i] == pin[i - 1] - 1;
    }
    return same || up || down;
}
