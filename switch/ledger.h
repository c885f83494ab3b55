/* The switch's double-entry ledger: the only code that touches the money
 * tables (funding, wallet, credit, account, transfer).
 *
 * Accounts: a funding account per programme and period label (it goes
 * negative as money is credited out of it), each family's PKH wallet (cash)
 * and BPNT wallet (food quota), opened by collective account opening with the
 * programmes the family is in, and named accounts (merchant payables, each
 * bank's ATM cash, settled). Every movement is recorded in the same
 * transaction as the balances it changes:
 *   credit   funding -> a family's wallet, one row per family, programme and
 *            range of months, naming its batch (funding account and time);
 *            ranges of one family and programme never overlap, so a month is
 *            paid at most once whatever the labels
 *   transfer key TEXT: any account -> any account (purchases, withdrawals,
 *            reversals, settlement), once per key
 * Invariants (ledger_check): all balances sum to zero; no family wallet is
 * negative; every balance equals the sum of its movements; no two credits of
 * a family and programme cover the same month.
 *
 * Every function runs inside the caller's transaction (the switch's group
 * commit brackets each request); none commits. */
#ifndef KKS_LEDGER_H
#define KKS_LEDGER_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ledger ledger;

/* Programme bits of an account; the same values as kks_program. */
enum { LEDGER_PKH = 1, LEDGER_BPNT = 2 };

/* Results besides 0 and negative KKS_E* codes. */
enum {
    LEDGER_DUPLICATE = 1,     /* transfer: the key exists, nothing moved */
    LEDGER_NSF,               /* transfer: a wallet would go negative or does not exist */
    LEDGER_ALREADY,           /* credit: these months paid with this amount before */
    LEDGER_OTHER_AMOUNT,      /* credit: these months paid with another amount */
    LEDGER_OVERLAP,           /* credit: some of these months paid under another label */
    LEDGER_NO_ACCOUNT,        /* credit: no account for this family */
    LEDGER_NOT_IN_PROGRAM,    /* credit: the family is not in this programme */
    LEDGER_OPENED,            /* accounts: new */
    LEDGER_UPDATED,           /* accounts: programmes changed */
    LEDGER_UNCHANGED,         /* accounts: as before */
};

/* The schema of the switch database, in order, for kks_db_open. It holds the
 * ledger's tables and the journal's (txnlog.c), as one history of versions. */
extern const char *const ledger_schema[];
extern const int ledger_schema_versions;

/* Prepares the ledger's statements on an open database (schema applied).
 * Returns 0, KKS_ENOMEM or KKS_EDB. */
int ledger_new(sqlite3 *db, ledger **out);
/* NULL is a no-op. */
void ledger_free(ledger *l);

/* Opens or updates the account of kk with its programmes (LEDGER_PKH |
 * LEDGER_BPNT, at least one). Returns LEDGER_OPENED, LEDGER_UPDATED,
 * LEDGER_UNCHANGED, KKS_EINVAL or KKS_EDB. */
int ledger_account_open(ledger *l, uint64_t kk, unsigned programs, const char *at);

/* The funding account of program ("pkh"/"bpnt") and a canonical period label,
 * created if new. Returns 0 or KKS_EDB. */
int ledger_funding(ledger *l, const char *program, const char *period, int64_t *id);
/* Adds delta to a funding account's balance (a batch's total, once). */
int ledger_funding_add(ledger *l, int64_t funding, int64_t delta);

/* A credit batch: the credits of one request, from one funding account at
 * one time (each credit row names its batch). Returns 0 or KKS_EDB. */
int ledger_credit_batch(ledger *l, int64_t funding, const char *at, int64_t *batch);
/* Drops a batch that credited nothing (a manifest run again). 0 or KKS_EDB. */
int ledger_credit_batch_drop(ledger *l, int64_t batch);

typedef struct ledger_credit_in {
    uint64_t kk;
    unsigned program;    /* LEDGER_PKH or LEDGER_BPNT */
    int first, last;     /* months, kks_period_months */
    int64_t batch;       /* ledger_credit_batch, of the funding account of these months */
    int64_t amount;      /* > 0 */
    int tried;           /* ledger_credit_many left this family: the common case does not apply */
} ledger_credit_in;

#define LEDGER_OVERLAPS_MAX 4

typedef struct ledger_credit_out {
    int64_t existing; /* LEDGER_ALREADY / LEDGER_OTHER_AMOUNT: what was paid */
    /* LEDGER_OVERLAP: the credits paid before that cover some of our months,
     * earliest first (at most LEDGER_OVERLAPS_MAX named; noverlap counts all):
     * the months of ours each one covers, and its period label */
    struct {
        int first, last;
        char label[24];
    } overlap[LEDGER_OVERLAPS_MAX];
    int noverlap;
} ledger_credit_out;

/* Credits one family for a range of months, unless any of them was paid
 * before (in->tried: skips the test ledger_credit_many made). The funding balance is not touched (ledger_funding_add per batch).
 * Returns 0 (credited), LEDGER_ALREADY, LEDGER_OTHER_AMOUNT, LEDGER_OVERLAP,
 * LEDGER_NO_ACCOUNT, LEDGER_NOT_IN_PROGRAM (nothing moved for any of these)
 * or KKS_EDB. */
int ledger_credit(ledger *l, const ledger_credit_in *in, ledger_credit_out *out);

/* The common case of ledger_credit for many families at once, in one
 * statement per table instead of two per family: in gives the programme,
 * months and batch (its kk and amount are not used); kk[0..n) ascending with
 * their amounts (> 0). Each family whose account is in the programme and has
 * nothing paid from in->first on is credited, as ledger_credit would, and its
 * credited[i] set to 1; for the others credited[i] is 0 and nothing moved: ledger_credit
 * decides them (with in->tried set). Returns how many were credited, KKS_EINVAL or KKS_EDB (then some may have
 * been: roll back). */
int ledger_credit_many(ledger *l, const ledger_credit_in *in, const uint64_t *kk,
                       const int64_t *amount, size_t n, unsigned char *credited);
/* How many of ledger_credit_many's walks over the wallets were stopped as
 * too sparse (their rows then collected in a temporary b-tree). */
uint64_t ledger_credit_walks_stopped(const ledger *l);

/* Moves amount from one account to another under a unique key. Kinds "pkh"
 * and "bpnt" are family wallets (owner: the 16-digit KK), "funding" a funding
 * account (owner: its id), anything else a named account. A wallet may not go
 * negative. Returns 0 (moved), LEDGER_DUPLICATE, LEDGER_NSF (nothing moved for
 * either), KKS_EINVAL or KKS_EDB. A terminal's payment (kind "purchase" or
 * "withdraw") is never LEDGER_DUPLICATE here: the caller writes its journal
 * row under the same identity in the same savepoint, and that row's unique
 * key refuses a second one (txn.c). */
int ledger_transfer(ledger *l, const char *key, const char *from_kind, const char *from_owner,
                    const char *to_kind, const char *to_owner, int64_t amount, const char *kind,
                    const char *at);

/* Wallet balances of kk. Returns 0, 1 (no account) or KKS_EDB. */
int ledger_wallet(ledger *l, uint64_t kk, int64_t *pkh, int64_t *bpnt);
/* The programmes of kk's account (0: no account), or KKS_EDB. */
int ledger_programs(ledger *l, uint64_t kk);

typedef struct ledger_movement {
    char at[21];
    char wallet[8];      /* pkh | bpnt */
    int64_t amount;      /* + in, - out */
    char kind[16];       /* credit, purchase, withdraw, reversal */
    char ref[64];        /* programme and period, or the transaction key */
} ledger_movement;

/* A family's movements, newest first, at most cap. Returns the count or
 * KKS_EDB. */
int ledger_movements(ledger *l, uint64_t kk, ledger_movement *out, int cap);

/* One credit of a family, for the complaints desk. */
typedef struct ledger_credit_line {
    unsigned program;    /* LEDGER_PKH or LEDGER_BPNT */
    char period[24];     /* the label it was paid under */
    int first, last;     /* months, kks_period_months */
    int64_t amount;
    char at[21];         /* when its batch was credited (UTC) */
} ledger_credit_line;

/* A family's credits by programme then first month, at most cap. Returns the
 * count or KKS_EDB. */
int ledger_credits(ledger *l, uint64_t kk, ledger_credit_line *out, int cap);

/* A transfer, by its key. */
typedef struct ledger_xfer {
    char key[96], from_kind[16], from_owner[64], to_kind[16], to_owner[64], kind[16], at[21];
    int64_t amount;
} ledger_xfer;

/* The transfer with this key: 1 found, 0 none, KKS_EDB. A terminal's payment
 * (kind purchase or withdraw) is found only with the wallet it was paid from
 * (from_kind, from_owner: "bpnt", the KK in 16 digits): its key is not
 * indexed. Other kinds: from_kind NULL. */
int ledger_transfer_get(ledger *l, const char *key, const char *from_kind,
                        const char *from_owner, ledger_xfer *out);

/* Checks the invariants. Returns 0 when they hold, 1 with the first
 * violation in words, or KKS_EDB. Counts go to the out parameters. */
int ledger_check(ledger *l, char *violation, size_t cap, int64_t *accounts, int64_t *transfers,
                 int64_t *wallets_total, int64_t *funding_total);
/* The same on any connection to a ledger's database (the switch runs it on
 * a read-only one of its own, off its event loop: ledger_check_handle). */
int ledger_check_db(sqlite3 *db, char *violation, size_t cap, int64_t *accounts,
                    int64_t *transfers, int64_t *wallets_total, int64_t *funding_total);

#endif
