/* libFuzzer target: scenario files as kks-terminal run reads them
 * (ewarong/scenario/load.c, sc_load_mem). Every input is either refused with
 * "fuzz.yaml:LINE:COL: reason" (line and column from 1) or loaded into a
 * scenario that holds what the runner relies on without checking again: the
 * step's parameters are a map (a scalar for sleep and today), a fault has one
 * fault key, required keys are there as single values, families are maps with
 * a 16-digit kk and a nik. Build and run: make fuzz. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_scenario: loaded, but %s\n", what);
        abort();
    }
}

static const sc_node *scalar(const sc_node *map, const char *key)
{
    const sc_node *v = sc_get(map, key);
    return v && v->kind == SC_SCALAR ? v : NULL;
}

static void check_loaded(const sc_scenario *s)
{
    check(s->name && s->name[0], "no name");
    check(s->nsteps > 0 && s->nsteps <= SC_STEPS_MAX, "step count");
    check(!s->today[0] || strlen(s->today) == 10, "today");
    for (size_t i = 0; s->families && i < s->families->n; i++) {
        const sc_node *f = s->families->items[i], *kk;
        check(f->kind == SC_MAP, "a family is not a map");
        check((kk = scalar(f, "kk")) && strlen(kk->scalar) == 16, "a family's kk");
        check(scalar(f, "nik") != NULL, "a family's nik");
    }
    for (size_t i = 0; i < s->nsteps; i++) {
        const sc_step *st = &s->steps[i];
        const sc_node *p = st->params;
        check(st->kind < SC_STEP_KINDS && st->kind != SC_COMPLAINT, "step kind");
        check(st->line >= 1 && st->col >= 1, "step position");
        check(p != NULL, "no parameters");
        check(!st->expect || st->expect->kind == SC_MAP, "expect is not a map");
        check(!st->save || st->save->kind == SC_MAP, "save is not a map");
        for (size_t k = 0; st->save && k < st->save->n; k++)
            check(st->save->items[k]->kind == SC_SCALAR, "a saved name is not a scalar");
        if (p->kind == SC_SCALAR) {
            check(st->kind == SC_SLEEP || st->kind == SC_TODAY, "scalar parameters");
            continue;
        }
        check(p->kind == SC_MAP, "parameters are not a map");
        switch (st->kind) {
        case SC_FAULT: {
            size_t keys = 0;
            for (size_t k = 0; k < p->n; k++)
                keys += strcmp(p->keys[k]->scalar, "after") != 0;
            check(keys == 1, "a fault without exactly one fault key");
            break;
        }
        case SC_PRINT: check(scalar(p, "bank") != NULL, "print without bank"); break;
        case SC_CARD: check(scalar(p, "action") != NULL, "card without action"); break;
        case SC_CREDIT: {
            const sc_node *fams = sc_get(p, "families");
            check(scalar(p, "program") && scalar(p, "period"), "credit without program/period");
            for (size_t k = 0; fams && fams->kind == SC_SEQ && k < fams->n; k++)
                check(fams->items[k]->kind == SC_SCALAR, "credit families hold a non-KK");
            check(!scalar(p, "amount") || fams || s->families, "credit amount without families");
            break;
        }
        case SC_ACCOUNT: check(scalar(p, "family") != NULL, "account without family"); break;
        case SC_ACTIVATE:
        case SC_BALANCE:
        case SC_WITHDRAW:
        case SC_PURCHASE:
        case SC_PIN_CHANGE:
        case SC_STATEMENT:
            check(scalar(p, "terminal") && scalar(p, "pin"), "a transaction without terminal/pin");
            check(scalar(p, "family") || scalar(p, "pan"), "a transaction without a card");
            break;
        case SC_REVERSE:
            check(scalar(p, "terminal") && scalar(p, "stan"), "reverse without terminal/stan");
            break;
        case SC_SETTLE_TERMINAL:
            check(scalar(p, "terminal") != NULL, "settle-terminal without terminal");
            break;
        case SC_TODAY: check(scalar(p, "date") != NULL, "today without a date"); break;
        default: break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sc_scenario s;
    char err[600];
    int line = 0, col = 0, n = 0;
    err[0] = '\0';
    if (sc_load_mem("fuzz.yaml", (const char *)data, size, &s, err, sizeof err) == 0) {
        check_loaded(&s);
        sc_free(&s);
        return 0;
    }
    /* refused: where and why, for people */
    if (sscanf(err, "fuzz.yaml:%d:%d: %n", &line, &col, &n) != 2 || line < 1 || col < 1 ||
        n == 0 || !err[n]) {
        fprintf(stderr, "fuzz_scenario: refused without FILE:LINE:COL: reason: '%s'\n", err);
        abort();
    }
    return 0;
}
