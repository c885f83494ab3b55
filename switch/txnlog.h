/* The transaction journal: the only code that touches the txn and settlement
 * tables. One row per terminal transaction, keyed by its identity (terminal,
 * the terminal's local date, STAN), with the reply that was sent, so that the
 * same request again gets the same reply. The PAN is kept masked; a keyed hash
 * of it (pan_ref) counts a card's withdrawals of a business day.
 *
 * A money transaction (approved withdrawal or purchase) carries the account it
 * paid (to_kind, to_owner) and, once settled, its settlement batch; a
 * reversal of an already settled one is settled in a later batch (rev_batch).
 * Every function runs inside the caller's transaction. */
#ifndef KKS_TXNLOG_H
#define KKS_TXNLOG_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

typedef struct txnlog txnlog;

/* Prepares the statements; key (16 bytes) keys pan_ref. 0, KKS_ENOMEM, KKS_EDB. */
int txnlog_new(sqlite3 *db, const uint8_t key[16], txnlog **out);
void txnlog_free(txnlog *j);

/* What one row records. */
typedef struct txnlog_row {
    const char *terminal, *local_date, *bdate, *type, *pan, *pan_masked, *wallet, *rc, *rrn,
        *auth_code, *to_kind, *to_owner, *at;
    uint32_t stan;
    const uint8_t *digest; /* 32 bytes over the request's content */
    uint64_t kk;           /* 0: unknown */
    int64_t amount;        /* moved */
    const uint8_t *reply;  /* the packed TxnReply */
    size_t reply_len;
} txnlog_row;

enum { TXNLOG_NONE = 0, TXNLOG_FOUND = 1, TXNLOG_REVERSED_FIRST = 2 };

/* Looks up an identity: TXNLOG_NONE, TXNLOG_FOUND (digest and a malloc'd copy
 * of the reply, when asked for, filled), TXNLOG_REVERSED_FIRST (a reversal came
 * for it before it did) or KKS_EDB. */
int txnlog_find(txnlog *j, const char *terminal, const char *local_date, uint32_t stan,
                uint8_t digest[32], uint8_t **reply, size_t *reply_len);
/* Records a transaction (over a reversal mark for the same identity, if any).
 * 0, or KKS_EDB (also when the identity is journaled already: money must never
 * move without its own row). */
int txnlog_insert(txnlog *j, const txnlog_row *r);
/* The sum of the approved, not reversed withdrawals of the card on business date
 * bdate, and in *count how many there were; -1 (and *count -1) on a database
 * error (the caller declines: a limit must not fail open). */
int64_t txnlog_withdrawn(txnlog *j, const char *pan, const char *bdate, int64_t *count);

/* The original of a reversal. */
typedef struct txnlog_orig {
    int64_t rowid;
    int reversed;
    char rc[4], wallet[8], to_kind[16], to_owner[64], kk[24];
    int64_t amount;
} txnlog_orig;
/* 0 none, 1 found, KKS_EDB. */
int txnlog_original(txnlog *j, const char *terminal, const char *local_date, uint32_t stan,
                    txnlog_orig *out);
/* Leaves a mark for an identity never seen, so that a late original is
 * declined. 0 or KKS_EDB. */
int txnlog_mark_reversed_first(txnlog *j, const char *terminal, const char *local_date,
                               uint32_t stan, const char *at);
/* Marks a transaction reversed on business date bdate (the day its netting
 * is settled, when it was settled before). 0 or KKS_EDB. */
int txnlog_set_reversed(txnlog *j, int64_t rowid, const char *bdate);

/* A terminal's approved, not reversed money transactions of its local date.
 * 0 or KKS_EDB. */
int txnlog_terminal_totals(txnlog *j, const char *terminal, const char *local_date,
                           uint32_t *count, int64_t *total);

/* One payable's share of a settlement batch. */
typedef struct txnlog_settle_line {
    char kind[16]; /* merchant | atm */
    char id[64];
    int32_t count;  /* approved minus reversed */
    int64_t total;  /* may be negative: reversals of transactions settled before */
} txnlog_settle_line;

/* What a batch of business date `date` would settle, per payable (ordered:
 * merchants, then ATM banks): the day's transactions not settled yet, and the
 * day's reversals of transactions settled before. At most cap lines; *more is
 * set when there are more (the next batch takes them). Returns the count or
 * KKS_EDB. */
int txnlog_settle_pending(txnlog *j, const char *date, txnlog_settle_line *out, int cap,
                          int *more);
/* The last batch number of the date (0: none yet), or KKS_EDB. */
int txnlog_settle_last(txnlog *j, const char *date);
/* Marks what txnlog_settle_pending returned (lines, in its order: the batch
 * stops at the last line's payable) as settled in batch and records the
 * lines. 0 or KKS_EDB. */
int txnlog_settle_commit(txnlog *j, const char *date, int batch, const txnlog_settle_line *lines,
                         int n, const char *at);
/* The lines of a batch already recorded (a repeated view). Count or KKS_EDB. */
int txnlog_settle_lines(txnlog *j, const char *date, int batch, txnlog_settle_line *out, int cap);

/* A journal row as the complaints desk reads it. */
typedef struct txnlog_view {
    char terminal[64], local_date[11], type[16], pan_masked[20], rc[4], wallet[8], rrn[16],
        auth_code[8], to_kind[16], to_owner[64], bdate[11], at[21], rev_bdate[11];
    uint32_t stan;
    uint64_t kk; /* 0: unknown */
    int64_t amount;
    int reversed, settle_batch, rev_batch;
} txnlog_view;

/* The rows with this RRN, oldest first, at most cap. Count or KKS_EDB. */
int txnlog_by_rrn(txnlog *j, const char *rrn, txnlog_view *out, int cap);

/* The highest row id, to seed the RRN sequence; KKS_EDB on error. */
int64_t txnlog_max_id(txnlog *j);

#endif
