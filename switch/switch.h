/* kks-switch internals shared by its files. */
#ifndef KKS_SWITCH_H
#define KKS_SWITCH_H

#include "kks_catalog.h"
#include "kks_daemon.h"
#include "kks_policy.h"
#include "ledger.h"

#define MAX_LINKS 16
#define MAX_ROUTES 64

typedef struct link {
    char addr[KKS_ADDR_MAX];
    kks_client *cl;
    const char *bins[MAX_ROUTES];
    int nbins;
    int is_default;
} link;

/* seeds/transaction-policy.csv */
typedef struct txn_policy {
    int64_t atm_note;             /* ATM amounts are multiples of this */
    int64_t daily_withdraw_limit; /* per card per day */
    int64_t max_amount;           /* any one transaction */
    int64_t issuer_timeout_ms;    /* then 91 */
} txn_policy;

typedef struct sw {
    kks_daemon d;
    ledger *ledger;
    kks_policy policy;
    txn_policy txp;
    kks_catalog catalog;
    kks_terminals terminals;
    uint8_t tmk[16], zpk[16];
    uint64_t rrn_seq;
    sqlite3_stmt *st_find, *st_insert, *st_withdrawn, *st_statement, *st_rev_get, *st_rev_mark,
        *st_rev_set;
    SSL_CTX *client_ctx;
    link links[MAX_LINKS];
    int nlinks;
} sw;

/* auth.c: terminal transactions and reversals. */
int auth_init(sw *s, const char *seeds, char *err, size_t cap);
void auth_close(sw *s);
void txn_handle(sw *s, kks_conn *c, const Kks__Envelope *req);
int terminal_is_itself(kks_conn *c, uint64_t id, const char *named);
void reversal_handle(sw *s, kks_conn *c, const Kks__Envelope *req);

/* settle.c: settlement, for terminals and operators. */
void terminal_settle_handle(sw *s, kks_conn *c, const Kks__Envelope *req);
void settle_handle(sw *s, kks_conn *c, const Kks__Envelope *req);

/* uncommitted.c: the failure form of a reply whose transaction did not
 * commit (kks_group_failure_fn). */
void uncommitted_reply(kks_conn *c, uint64_t id, const Kks__Envelope *rep);

/* credit.c: operator requests. Each answers with one reply. */
void credit_handle(sw *s, kks_conn *c, const Kks__Envelope *req);
void ledger_check_handle(sw *s, kks_conn *c, const Kks__Envelope *req);
void account_handle(sw *s, kks_conn *c, const Kks__Envelope *req);

#endif
