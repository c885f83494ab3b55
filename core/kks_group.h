/* Group commit: many requests share one SQLite transaction, and their
 * replies wait until it commits (STYLE.md §6, Redis beforeSleep).
 *
 *   idle --kks_group_begin--> OPEN (BEGIN IMMEDIATE; SAVEPOINT per request)
 *   OPEN --kks_group_defer--> OPEN (RELEASE; reply packed and held)
 *   OPEN --kks_group_abort--> OPEN (ROLLBACK TO: that request leaves no trace)
 *   OPEN --a loop iteration brings no new request, max_rows, or the earliest
 *         held reply's latency budget runs out--> COMMIT
 *        --> replies sent in order --> idle
 *   COMMIT fails --> ROLLBACK; every held reply becomes an Error saying nothing was written
 *
 * Invariant: a reply that reports a write is sent only after its COMMIT
 * returned; each request is inside exactly one savepoint at a time. */
#ifndef KKS_GROUP_H
#define KKS_GROUP_H

#include <sqlite3.h>
#include <uv.h>

#include "kks_net.h"

typedef struct kks_group kks_group;

/* Returns 0 or KKS_ENOMEM. */
int kks_group_new(uv_loop_t *loop, sqlite3 *db, unsigned max_rows, kks_group **out);
/* Opens the group transaction if none is open and a savepoint for one
 * request. Returns 0 or KKS_EDB (nothing is open then). */
int kks_group_begin(kks_group *g);
/* Undoes what the current request wrote (its savepoint). */
void kks_group_abort(kks_group *g);
/* Ends the current request's savepoint and holds its reply until COMMIT.
 * rows: how much work it did (for max_rows); budget_ms: how long the reply
 * may wait for others to join the commit. Returns 0, or KKS_ENOMEM / KKS_EDB
 * after answering the request with an Error itself. */
int kks_group_defer(kks_group *g, kks_conn *c, uint64_t id, Kks__Envelope *rep, unsigned rows,
                    unsigned budget_ms);
/* Holds a reply that reports what is in the group transaction without being
 * part of a request's savepoint (a duplicate answered with the first reply,
 * a replay from the journal): sent after the next COMMIT, or at once when no
 * transaction is open. On a failed COMMIT it becomes an Error. Returns 0 or
 * KKS_ENOMEM (then answered with an Error at once). */
int kks_group_hold(kks_group *g, kks_conn *c, uint64_t id, Kks__Envelope *rep);
/* The same two, for a reply already packed (an Envelope; its id is set when
 * it is sent). */
int kks_group_defer_packed(kks_group *g, kks_conn *c, uint64_t id, const uint8_t *buf,
                           size_t len, unsigned rows, unsigned budget_ms);
int kks_group_hold_packed(kks_group *g, kks_conn *c, uint64_t id, const uint8_t *buf,
                          size_t len);
/* Commits now if open (for shutdown). */
void kks_group_flush(kks_group *g);
/* Flushes, stops the handles; memory is released by their close callbacks. */
void kks_group_free(kks_group *g);

#endif
