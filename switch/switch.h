/* kks-switch internals shared by its files.
 *
 * Each request is handled by a function that takes the decoded request and
 * leaves its reply, packed, in an sw_out, with a verdict; sw_dispatch() in
 * sw.c opens the request's savepoint before and, from the verdict, keeps
 * its writes (the reply waits for the COMMIT), undoes them, or answers at
 * once. A transaction that must ask an issuer first answers later, through
 * the same two steps (sw_begin, sw_complete). Handlers do no I/O of their own:
 * tests/test_txn.c drives them over in-memory connections. */
#ifndef KKS_SWITCH_H
#define KKS_SWITCH_H

#include <openssl/evp.h>

#include "kks_catalog.h"
#include "kks_daemon.h"
#include "kks_db.h"
#include "kks_group.h"
#include "kks_policy.h"
#include "ledger.h"
#include "rules.h"
#include "swmetrics.h"
#include "txnlog.h"

#define MAX_LINKS 16
#define MAX_ROUTES 64
#define TPK_CACHE 1024

typedef struct link {
    char addr[KKS_ADDR_MAX];
    kks_client *cl;
    const char *bins[MAX_ROUTES];
    int nbins;
    int is_default;
} link;

typedef struct sw sw;
typedef struct txn_ctx txn_ctx;

/* How the switch asks an issuer (kks_client_call; a test's own in tests). */
typedef int (*sw_ask_fn)(sw *s, link *l, Kks__Envelope *req, unsigned timeout_ms,
                         kks_reply_cb cb, void *ud);

struct sw {
    kks_daemon d;
    sqlite3 *db;
    kks_group *group;
    kks_checkpointer *ckpt;
    ledger *ledger;
    txnlog *log;
    kks_policy policy;
    txn_policy txp;
    kks_catalog catalog;
    kks_terminals terminals;
    uint8_t tmk[16], zpk[16];
    uint64_t rrn_seq;
    char today[11]; /* --today: a fixed business date; empty: the WIB clock */
    char identity[33]; /* the database's (kks_db_identity; ping says it) */
    txn_ctx *inflight;
    EVP_MD *sha256;
    struct {
        char id[KKS_ID_MAX];
        uint8_t tpk[16];
    } tpk_cache[TPK_CACHE]; /* each terminal's PIN key, derived once */
    SSL_CTX *client_ctx;
    link links[MAX_LINKS];
    int nlinks;
    sw_ask_fn ask;
    swm metrics; /* served on --metrics (swmetrics.h) */
    struct check_job *checks; /* ledger checks running off the loop (credit.c) */
};

/* What a handler leaves for dispatch. */
typedef struct sw_out {
    uint8_t *buf; /* the packed reply Envelope (id set by whoever sends it) */
    size_t len;
    unsigned rows;      /* work done, for the group's max_rows */
    unsigned budget_ms; /* how long the reply may wait for others to share a commit */
    kks_group_tag tag;  /* what the metrics learn when it is answered (swmetrics.h);
                           t0 is set by dispatch when the request arrives */
} sw_out;

enum sw_verdict {
    SW_KEEP,  /* keep the writes; the reply waits for their COMMIT */
    SW_UNDO,  /* roll the request's writes back; reply now */
    SW_READ,  /* nothing written; reply now */
    SW_LATER, /* the handler answers later by itself (or already did) */
};

typedef enum sw_verdict (*sw_handler)(sw *s, kks_conn *c, const Kks__Envelope *req, sw_out *o);

/* Packs rep as the reply. 0, or KKS_ENOMEM (then an Error is packed if it can be). */
int sw_out_set(sw_out *o, Kks__Envelope *rep);
int sw_out_error(sw_out *o, int code, const char *msg);

/* Opens a request's savepoint. 0 or KKS_EDB. */
int sw_begin(sw *s);
/* Ends a request begun with sw_begin (or none, for SW_READ) and sends o's reply
 * to (c, id) as the verdict says; frees o's buffer. Returns 0, or a negative
 * KKS_E* when the reply could not be held (then (c, id) got an Error and, for
 * SW_KEEP, the request's writes were undone or failed with their group). */
int sw_complete(sw *s, kks_conn *c, uint64_t id, enum sw_verdict v, sw_out *o);
/* The request dispatcher (sw.c); request bodies from peers of the wrong role
 * are refused. */
void sw_dispatch(sw *s, kks_conn *c, const Kks__Envelope *req);
/* sw_dispatch as a kks_request_cb (ud: the sw). */
void sw_on_request(kks_conn *c, const Kks__Envelope *req, void *ud);

/* The business date (WIB; or --today). */
void sw_business_date(const sw *s, char out[11]);

/* Opens everything that is not the network: database (schema, ledger,
 * journal, group commit on loop) and seeds. For the daemon and for tests
 * (path ":memory:" and no checkpointer). 0, or a KKS_E* code with why in err. */
int sw_open(sw *s, uv_loop_t *loop, const char *dbpath, const char *seeds, char *err, size_t cap);
/* Closes what sw_open opened (after the loop ended; the group is freed on
 * shutdown with kks_group_free). */
void sw_close(sw *s);

/* txn.c: terminal transactions (asks the issuer; answers later). */
enum sw_verdict txn_handle(sw *s, kks_conn *c, const Kks__Envelope *req, sw_out *o);
/* route.c: the issuer link for a PAN (longest --route BIN, else the default). */
link *route_for(sw *s, const char *pan);
/* route.c: translates a PIN block from the terminal's TPK to the ZPK the switch
 * shares with the issuers (the clear PIN lives only inside kks_pin). 0, or
 * KKS_EINVAL when the block is malformed or does not decrypt. */
int route_translate(sw *s, const char *terminal, const char *pan, const ProtobufCBinaryData *in,
                    uint8_t out[16]);
void route_forget_keys(sw *s);
/* A terminal may only act for itself: 1 if the request names its certificate's CN. */
int terminal_is_itself(kks_conn *c, const char *named);

/* reversal.c */
enum sw_verdict reversal_handle(sw *s, kks_conn *c, const Kks__Envelope *req, sw_out *o);
/* 1 if a transaction with this identity is in flight (txn.c). */
int txn_in_flight(sw *s, const char *terminal, const char *local_date, uint32_t stan);

/* settle.c */
enum sw_verdict terminal_settle_handle(sw *s, kks_conn *c, const Kks__Envelope *req, sw_out *o);
enum sw_verdict settle_handle(sw *s, kks_conn *c, const Kks__Envelope *req, sw_out *o);

/* credit.c: operator requests. */
enum sw_verdict credit_handle(sw *s, kks_conn *c, const Kks__Envelope *req, sw_out *o);
enum sw_verdict accounts_handle(sw *s, kks_conn *c, const Kks__Envelope *req, sw_out *o);
enum sw_verdict ledger_check_handle(sw *s, kks_conn *c, const Kks__Envelope *req, sw_out *o);
/* Interrupts the ledger checks running (at shutdown: each is answered with an error). */
void ledger_checks_stop(sw *s);
enum sw_verdict account_handle(sw *s, kks_conn *c, const Kks__Envelope *req, sw_out *o);
/* The protobuf views m (pointers in pm) of n movements; they point into mv. */
void account_movements_pb(const ledger_movement *mv, int n, Kks__Movement *m, Kks__Movement **pm);

/* desk.c: the complaints desk's views (operators; read-only). */
enum sw_verdict desk_account_handle(sw *s, kks_conn *c, const Kks__Envelope *req, sw_out *o);
enum sw_verdict txn_lookup_handle(sw *s, kks_conn *c, const Kks__Envelope *req, sw_out *o);

/* uncommitted.c: the failure form of a reply whose transaction did not
 * commit (kks_group_failure_fn). */
void uncommitted_reply(kks_conn *c, uint64_t id, const Kks__Envelope *rep);

#endif
