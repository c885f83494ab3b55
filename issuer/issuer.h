/* kks-issuer internals shared by its files. */
#ifndef KKS_ISSUER_H
#define KKS_ISSUER_H

#include <sqlite3.h>
#include <stdint.h>

#include "kks_daemon.h"
#include "kks_db.h"
#include "kks_docs.h"
#include "kks_desk.h"
#include "kks_group.h"
#include "kks_seeds.h"

#define ISSUER_MAX_STMTS 64

typedef struct issuer {
    kks_daemon d;
    sqlite3 *db;
    kks_seeds seeds;
    kks_docs docs; /* the documents each card event needs */
    kks_desk_policy desk; /* complaint SLA days per kind */
    uint8_t zpk[16];
    uint8_t pvk[32];
    char today[11]; /* business date YYYY-MM-DD (UTC), or fixed by --today */
    char identity[33]; /* the database's (kks_db_identity; ping says it) */
    int fixed_today;
    char expiry_for[11], expiry[8]; /* expiry of a card issued on expiry_for */
    int64_t pan_next[KKS_MAX_BANKS]; /* next account number per bank (seeds order) */
    int pan_dirty[KKS_MAX_BANKS];
    int print_marked[KKS_MAX_BANKS]; /* print_mark known to exist for the bank */
    kks_group *group;
    kks_checkpointer *ckpt; /* every write goes through it: one transaction per loop iteration */
    struct {
        const char *sql;
        sqlite3_stmt *st;
    } stmts[ISSUER_MAX_STMTS]; /* store_stmt's cache: prepared once per SQL literal */
    int nstmts;
} issuer;

/* What a request came to: a response code and the reason in words. */
typedef struct outcome {
    const char *rc;
    char reason[240];
    unsigned missing; /* documents missing (kks_docs set), for the reply */
} outcome;
/* Sets both (store.c). */
void set_out(outcome *o, const char *rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* store.c: schema and helpers. */
int store_open(issuer *is, const char *path);
void store_close(issuer *is);
/* Prepared once, reused; NULL on error (logged). */
sqlite3_stmt *store_stmt(issuer *is, const char *sql);
/* Current UTC time as YYYY-MM-DDTHH:MM:SSZ. */
void store_now(char out[21]);
/* The business date (today, or --today). */
const char *store_today(issuer *is);
/* Writes the PAN counters that moved; call before deferring a reply. */
int store_save_pan_seq(issuer *is);
/* Appends an audit event; docs: the documents seen, comma-separated, or
 * NULL. Returns 0 or KKS_EDB. */
int store_audit(issuer *is, const char *pan, const char *kk, const char *event, const char *from,
                const char *to, const char *actor, const char *site, const char *detail,
                const char *docs, const char *at);
/* The next PAN of bank (BIN, account number, Luhn digit) into pan_out;
 * store_issue_card takes it. KKS_EINVAL: unknown bank, or its account
 * numbers are used up; KKS_EDB. */
int store_next_pan(issuer *is, const char *bank, char pan_out[20]);
/* Issues card pan (just given by store_next_pan) for family kk of bank,
 * ISSUED; a replacement (replaces set) gets an audit row with site and docs.
 * Inside a transaction. */
int store_issue_card(issuer *is, const char *pan, const char *kk, const char *bank,
                     const char *replaces, const char *actor, const char *site, const char *docs,
                     const char *at);
/* SQL that lists the cards family ?1 (a KK) has had, oldest first, as
 * chain(pan, n): from the family's first card along replaced_by. Follow with
 * the SELECT that reads chain. */
#define STORE_FAMILY_CARDS                                                                         \
    "WITH RECURSIVE chain(pan, n) AS (SELECT card, 0 FROM family WHERE kk = ?1 AND card IS NOT"    \
    " NULL UNION ALL SELECT c.replaced_by, n + 1 FROM card c JOIN chain ON c.pan = chain.pan"       \
    " WHERE c.replaced_by IS NOT NULL AND n < 99) "

/* enroll.c / cards.c: request handlers; each answers with one kks_conn_reply. */
void enroll_handle(issuer *is, kks_conn *c, const Kks__Envelope *req);
void cards_handle(issuer *is, kks_conn *c, const Kks__Envelope *req);

/* cards.c, for the desk: every card family kk has had (at most 100), oldest
 * first, each with its history, expiry applied as a card read does (so inside
 * a transaction). 0, KKS_ENOMEM or KKS_EDB. */
typedef struct family_cards family_cards;
int family_cards_load(issuer *is, const char *kk, const char *at, family_cards **out);
size_t family_cards_count(const family_cards *fc);
Kks__Card **family_cards_list(const family_cards *fc);
/* NULL is a no-op. */
void family_cards_free(family_cards *fc);

/* desk.c: lookup by NIK or KK, and complaints (operators only). */
void desk_handle(issuer *is, kks_conn *c, const Kks__Envelope *req);

#endif
