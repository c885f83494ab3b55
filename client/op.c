#include "kc_op.h"

#include <stdlib.h>
#include <string.h>

#include "kks_err.h"

/* Rows and the pointer array protobuf-c wants, in one allocation each. */
static int rows_alloc(void **rows, void ***prows, size_t size, size_t cap)
{
    *rows = calloc(cap ? cap : 1, size);
    *prows = calloc(cap ? cap : 1, sizeof **prows);
    if (!*rows || !*prows) {
        free(*rows);
        free(*prows);
        *rows = NULL;
        *prows = NULL;
        return KKS_ENOMEM;
    }
    for (size_t i = 0; i < cap; i++)
        (*prows)[i] = (char *)*rows + i * size;
    return 0;
}

int kc_credits_init(kc_credits *b, const char *program, const char *period, size_t cap)
{
    size_t n = cap ? cap : 1;
    memset(b, 0, sizeof *b);
    kks__credit_columns__init(&b->msg);
    b->msg.program = (char *)program;
    b->msg.period = (char *)period;
    b->cap = cap;
    b->kk = malloc(n * sizeof *b->kk);
    b->amount = malloc(n * sizeof *b->amount);
    b->line = malloc(n * sizeof *b->line);
    if (!b->kk || !b->amount || !b->line) {
        kc_credits_free(b);
        return KKS_ENOMEM;
    }
    return 0;
}

int kc_credits_add(kc_credits *b, uint32_t line, uint64_t kk, int64_t amount)
{
    size_t i = b->msg.n_kk;
    if (i == b->cap)
        return KKS_ETOOBIG;
    b->kk[i] = kk;
    b->amount[i] = amount;
    b->line[i] = line;
    b->msg.n_kk = b->msg.n_amount = b->msg.n_line = i + 1;
    return 0;
}

void kc_credits_clear(kc_credits *b)
{
    b->msg.n_kk = b->msg.n_amount = b->msg.n_line = 0;
}

void kc_credits_envelope(kc_credits *b, Kks__Envelope *env)
{
    kks__envelope__init(env);
    b->msg.kk = b->kk;
    b->msg.amount = b->amount;
    b->msg.line = b->line;
    env->body_case = KKS__ENVELOPE__BODY_CREDIT_COLUMNS;
    env->credit_columns = &b->msg;
}

void kc_credits_free(kc_credits *b)
{
    free(b->kk);
    free(b->amount);
    free(b->line);
    memset(b, 0, sizeof *b);
}

int kc_accounts_init(kc_accounts *b, size_t cap)
{
    memset(b, 0, sizeof *b);
    kks__accounts_open__init(&b->msg);
    b->cap = cap;
    return rows_alloc((void **)&b->rows, (void ***)&b->prows, sizeof *b->rows, cap);
}

int kc_accounts_add(kc_accounts *b, uint32_t line, uint64_t kk, unsigned programs)
{
    Kks__AccountRow *r;
    if (b->msg.n_rows == b->cap)
        return KKS_ETOOBIG;
    r = &b->rows[b->msg.n_rows++];
    kks__account_row__init(r);
    r->line = line;
    r->kk = kk;
    r->programs = programs;
    return 0;
}

void kc_accounts_clear(kc_accounts *b)
{
    b->msg.n_rows = 0;
}

void kc_accounts_envelope(kc_accounts *b, Kks__Envelope *env)
{
    kks__envelope__init(env);
    b->msg.rows = b->prows;
    env->body_case = KKS__ENVELOPE__BODY_ACCOUNTS_OPEN;
    env->accounts_open = &b->msg;
}

void kc_accounts_free(kc_accounts *b)
{
    free(b->rows);
    free(b->prows);
    memset(b, 0, sizeof *b);
}

void kc_op_settle(Kks__Envelope *env, Kks__SettleRequest *m, const char *date)
{
    kks__envelope__init(env);
    kks__settle_request__init(m);
    m->date = (char *)date;
    env->body_case = KKS__ENVELOPE__BODY_SETTLE;
    env->settle = m;
}

void kc_op_ledger_check(Kks__Envelope *env, Kks__LedgerCheckRequest *m)
{
    kks__envelope__init(env);
    kks__ledger_check_request__init(m);
    env->body_case = KKS__ENVELOPE__BODY_LEDGER_CHECK;
    env->ledger_check = m;
}

void kc_op_account(Kks__Envelope *env, Kks__AccountRequest *m, const char *kk, unsigned limit)
{
    kks__envelope__init(env);
    kks__account_request__init(m);
    m->kk = (char *)kk;
    m->limit = limit;
    env->body_case = KKS__ENVELOPE__BODY_ACCOUNT_REQUEST;
    env->account_request = m;
}
