/* Operator requests to the switch, built in one place: kksctl, the tests and
 * the scenario runner make their credit batches, account openings and views
 * here. A batch owns its rows (kc_*_free); the Envelope it fills points into
 * it, so keep the batch alive until the request is sent. */
#ifndef KC_OP_H
#define KC_OP_H

#include <stddef.h>
#include <stdint.h>

#include "kks.pb-c.h"

/* A credit batch goes as columns (CreditColumns): the switch decodes three
 * arrays instead of a message per row. */
typedef struct kc_credits {
    Kks__CreditColumns msg;
    uint64_t *kk;
    int64_t *amount;
    uint32_t *line;
    size_t cap;
} kc_credits;

/* Room for cap rows of one programme and period (strings borrowed). 0 or KKS_ENOMEM. */
int kc_credits_init(kc_credits *b, const char *program, const char *period, size_t cap);
/* Adds a row; KKS_ETOOBIG when full. */
int kc_credits_add(kc_credits *b, uint32_t line, uint64_t kk, int64_t amount);
/* Empties the batch for the next rows (the same programme and period). */
void kc_credits_clear(kc_credits *b);
void kc_credits_envelope(kc_credits *b, Kks__Envelope *env);
void kc_credits_free(kc_credits *b);

typedef struct kc_accounts {
    Kks__AccountsOpen msg;
    Kks__AccountRow *rows, **prows;
    size_t cap;
} kc_accounts;

/* programs: 1 PKH, 2 BPNT, 3 both. The same lifecycle as kc_credits. */
int kc_accounts_init(kc_accounts *b, size_t cap);
int kc_accounts_add(kc_accounts *b, uint32_t line, uint64_t kk, unsigned programs);
void kc_accounts_clear(kc_accounts *b);
void kc_accounts_envelope(kc_accounts *b, Kks__Envelope *env);
void kc_accounts_free(kc_accounts *b);

/* One-message requests: the Envelope points at the message the caller gives. */
void kc_op_settle(Kks__Envelope *env, Kks__SettleRequest *m, const char *date);
void kc_op_ledger_check(Kks__Envelope *env, Kks__LedgerCheckRequest *m);
void kc_op_account(Kks__Envelope *env, Kks__AccountRequest *m, const char *kk, unsigned limit);

#endif
