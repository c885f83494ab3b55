/* The switch's double-entry ledger (SPEC §7).
 *
 * Accounts: a funding account per programme and period (it goes negative as
 * money is credited out of it), each family's PKH wallet (cash) and BPNT
 * wallet (food quota), and named accounts (merchant payables, each bank's
 * ATM cash, settled). Every movement is a transfer between two accounts
 * under a unique idempotency key, recorded in the same transaction as the
 * balances it changes:
 *   credit   (kk, funding) is the key: funding -> the family's wallet
 *   transfer key TEXT: any account -> any account (purchases, withdrawals,
 *            reversals, settlement)
 * Invariants (ledger_check): all balances sum to zero; no family wallet is
 * negative; every balance equals the sum of its transfers. */
#ifndef KKS_LEDGER_H
#define KKS_LEDGER_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "kks_group.h"

typedef struct ledger ledger;

enum { LEDGER_PKH = 0, LEDGER_BPNT = 1 };

/* Opens the database (WAL, migrations) and the group commit on loop. */
int ledger_open(const char *path, uv_loop_t *loop, ledger **out);
/* Closes the database; call after the loop ended (the group is freed first
 * with kks_group_free on shutdown). */
void ledger_close(ledger *l);
kks_group *ledger_group(ledger *l);
sqlite3 *ledger_db(ledger *l);

/* The funding account of program ("pkh"/"bpnt") and period label, created
 * if new. Inside a group request. Returns 0 or KKS_EDB. */
int ledger_funding(ledger *l, const char *program, const char *period, int64_t *id);

/* Credits amount to the wallet of kk from funding account `funding`,
 * opening the wallet if new. Returns 0 (credited), 1 (already credited with
 * this amount: nothing moved), 2 (already credited with another amount,
 * *existing set: nothing moved) or KKS_EDB. The funding balance is not
 * touched: add the batch's total with ledger_funding_add. */
int ledger_credit(ledger *l, int64_t funding, int wallet, uint64_t kk, int64_t amount,
                  const char *at, int64_t *existing);
int ledger_funding_add(ledger *l, int64_t funding, int64_t delta);

/* Moves amount from one account to another under a unique key. Kinds
 * "pkh" and "bpnt" are family wallets (owner: the KK), "funding" a funding
 * account (owner: its id), anything else a named account. A wallet may not
 * go negative. Returns 0 (moved), LEDGER_DUPLICATE (the key exists: nothing
 * moved), LEDGER_NSF (insufficient funds: nothing moved) or KKS_EDB. */
enum { LEDGER_DUPLICATE = 1, LEDGER_NSF = 2 };
int ledger_transfer(ledger *l, const char *key, const char *from_kind, const char *from_owner,
                    const char *to_kind, const char *to_owner, int64_t amount, const char *kind,
                    const char *at);

/* A family's movements, newest first: credits and transfers touching its
 * wallets. Bind ?1 the KK as an integer, ?2 as 16-digit text, ?3 the limit.
 * Columns: at, wallet, amount (+ in, - out), kind, ref. */
#define LEDGER_MOVEMENTS_SQL                                                                       \
    "SELECT at, w, amount, kind, ref FROM ("                                                       \
    " SELECT c.at, f.program AS w, c.amount, 'credit' AS kind,"                                    \
    "  f.program || ' ' || f.period AS ref, 0 AS seq FROM credit c"                               \
    "  JOIN funding f ON f.id = c.funding WHERE c.kk = ?1"                                         \
    " UNION ALL SELECT at, to_kind, amount, kind, key, id FROM transfer"                           \
    "  WHERE to_kind IN ('pkh', 'bpnt') AND to_owner = ?2"                                         \
    " UNION ALL SELECT at, from_kind, -amount, kind, key, id FROM transfer"                        \
    "  WHERE from_kind IN ('pkh', 'bpnt') AND from_owner = ?2)"                                    \
    " ORDER BY at DESC, seq DESC LIMIT ?3"

/* Wallet balances of kk; 0 found, 1 no such family account, KKS_EDB. */
int ledger_wallet(ledger *l, uint64_t kk, int64_t *pkh, int64_t *bpnt);

/* Checks the invariants. Returns 0 when they hold, 1 with the first
 * violation in words, or KKS_EDB. Counts go to the out parameters. */
int ledger_check(ledger *l, char *violation, size_t cap, int64_t *accounts, int64_t *transfers,
                 int64_t *wallets_total, int64_t *funding_total);

#endif
