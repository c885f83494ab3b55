/* Group commit: many requests share one SQLite transaction, and their
 * replies wait until it commits (STYLE.md §6, Redis beforeSleep).
 *
 *   idle --kks_group_begin--> OPEN (BEGIN IMMEDIATE; the request that begins
 *         the transaction has no savepoint: undoing it is ROLLBACK)
 *   OPEN --kks_group_begin--> OPEN (SAVEPOINT per later request; but a
 *         transaction holding max_rows commits first, and the request begins
 *         the next one)
 *   OPEN --kks_group_defer--> OPEN (RELEASE; reply packed and held)
 *   OPEN --kks_group_abort--> OPEN (ROLLBACK TO: that request leaves no trace;
 *         for the first request, ROLLBACK --> idle)
 *   OPEN --a loop iteration brings no new request (but see kks_group_set_fill),
 *         max_rows, or the earliest held reply's latency budget runs out--> COMMIT
 *        --> replies sent in order --> idle
 *   OPEN --COMMIT fails, or SQLite rolled the whole transaction back by itself
 *         (it does on SQLITE_FULL, IOERR, NOMEM and BUSY in the middle of a
 *         statement, and then every request's savepoint is gone with it), or a
 *         savepoint cannot be undone--> FAILED: ROLLBACK if still open; every
 *        held reply is answered as failed (below) --> idle
 *
 * A failed reply: a reply held by kks_group_defer reported writes of this
 * transaction, so its sender must learn that nothing was written. The owner's
 * failure callback (kks_group_set_failure) answers it in the form its peers
 * understand (a terminal wants response code 96, not an Error); without one,
 * or for a body the callback does not know, an Error envelope. A reply held
 * by kks_group_hold (a duplicate answered with the first reply) is the same
 * when its body is byte for byte a reply deferred in this transaction (a
 * duplicate of a request of this group); otherwise it reports an earlier
 * commit that may well stand, and is answered with an Error asking for the
 * request again, never with a failure that could be false.
 *
 * A savepoint costs SQLite a copy of every page its request changes (the
 * sub-journal, written to a temporary file): for a bulk request, such as a
 * credit batch of 16,384 rows, that was 1.2 MB a batch and a third of the
 * switch's system time. A bulk request that fills max_rows by itself is
 * therefore always the first of its transaction.
 *
 * Invariants: a reply that reports a write is sent only after its COMMIT
 * returned; each request is inside exactly one savepoint at a time; while a
 * request or the group transaction is open, no other commit happens on the
 * connection (a commit hook vetoes it: after SQLite rolled back by itself, a
 * statement or a RELEASE would otherwise commit a fresh transaction of its
 * own).
 *
 * Test builds (KKS_TEST_HOOKS): KKS_FAULT=exit-after-commit kills the process
 * right after a COMMIT that holds a transaction reply, before it is sent. */
#ifndef KKS_GROUP_H
#define KKS_GROUP_H

#include <sqlite3.h>
#include <stdint.h>
#include <uv.h>

#include "kks_metrics.h"
#include "kks_net.h"

typedef struct kks_group kks_group;

/* Answers request id on c, whose reply rep reported writes that were not
 * committed, in the failure form of rep's body kind. Must answer exactly once
 * (kks_conn_reply or kks_conn_reply_error); rep is freed when it returns. */
typedef void (*kks_group_failure_fn)(kks_conn *c, uint64_t id, const Kks__Envelope *rep);

/* What the owner of a reply wants to hear back when it has been answered
 * (kks_group_set_answered): the group only carries it. kind 0: no tag. */
typedef struct kks_group_tag {
    uint64_t t0; /* e.g. when the request arrived (uv_hrtime) */
    uint32_t kind, a, b;
} kks_group_tag;

/* Called once for each tagged reply, when it has been answered: sent 1 when
 * the reply itself was queued on its connection (after its COMMIT, or at once
 * when no transaction was open), 0 when it was answered in its failure form
 * or with an Error instead. */
typedef void (*kks_group_answered_fn)(void *ud, const kks_group_tag *tag, int sent);

/* Returns 0 or KKS_ENOMEM. Installs a commit hook on db. */
int kks_group_new(uv_loop_t *loop, sqlite3 *db, unsigned max_rows, kks_group **out);
/* Bulk filling: a loop iteration that brings no new request commits a
 * transaction holding only bulk work (replies deferred with rows > 1) only
 * once it holds fill_rows, or when the earliest reply's budget runs out; until
 * then the loop sleeps. Each commit rewrites every index page its rows touched,
 * so for random keys (a KK, a NIK) larger commits write far less. 0 (the
 * default): every quiet iteration commits. */
void kks_group_set_fill(kks_group *g, unsigned rows);
/* How replies of a failed transaction are answered (NULL: an Error). */
void kks_group_set_failure(kks_group *g, kks_group_failure_fn fn);
/* Opens the group transaction if none is open and a savepoint for one
 * request. Returns 0 or KKS_EDB (the request has no savepoint then). */
int kks_group_begin(kks_group *g);
/* Undoes what the current request wrote (its savepoint). When that cannot be
 * done (SQLite already rolled the whole transaction back), the whole group
 * fails as above; the caller answers the current request itself. */
void kks_group_abort(kks_group *g);
/* Ends the current request's savepoint and holds its reply until COMMIT.
 * rows: how much work it did (for max_rows); budget_ms: how long the reply
 * may wait for others to join the commit. Returns 0, or KKS_ENOMEM / KKS_EDB
 * after answering the request itself (KKS_EDB: in its failure form). */
int kks_group_defer(kks_group *g, kks_conn *c, uint64_t id, Kks__Envelope *rep, unsigned rows,
                    unsigned budget_ms);
/* Holds a reply that reports what is in the group transaction without being
 * part of a request's savepoint (a duplicate answered with the first reply,
 * a replay from the journal): sent after the next COMMIT, or at once when no
 * transaction is open. On a failed COMMIT: see the picture. Returns 0 or
 * KKS_ENOMEM (then answered with an Error at once). */
int kks_group_hold(kks_group *g, kks_conn *c, uint64_t id, Kks__Envelope *rep);
/* The same two, for a reply already packed (an Envelope with its id set: it
 * is sent as it is), with a tag (or NULL) reported to the answered callback.
 * A deferred one is copied as it is and decoded only to answer a failure. */
int kks_group_defer_packed(kks_group *g, kks_conn *c, uint64_t id, const uint8_t *buf,
                           size_t len, unsigned rows, unsigned budget_ms,
                           const kks_group_tag *tag);
int kks_group_hold_packed(kks_group *g, kks_conn *c, uint64_t id, const uint8_t *buf,
                          size_t len, const kks_group_tag *tag);
/* Who hears about tagged replies (NULL: nobody). */
void kks_group_set_answered(kks_group *g, kks_group_answered_fn fn, void *ud);
/* What the group's COMMITs cost, for metrics: counted on the loop's thread.
 * A commit's time is the COMMIT statement alone (the WAL write of every page
 * the transaction changed, and whatever a WAL hook does then: the switch's
 * checkpoint at KKS_WAL_MAX); requests: the replies it held for their writes. */
#define KKS_GROUP_BUCKETS 12
extern const uint64_t kks_group_bounds_ns[KKS_GROUP_BUCKETS];
typedef struct kks_group_stats {
    uint64_t commits, requests, failed;
    kks_histogram seconds;
} kks_group_stats;
const kks_group_stats *kks_group_stats_of(const kks_group *g);
/* Commits now if open (for shutdown). */
void kks_group_flush(kks_group *g);
/* Flushes, stops the handles; memory is released by their close callbacks. */
void kks_group_free(kks_group *g);

#endif
