/* The switch's own metrics: authorisations by transaction type and response
 * code, the switch's handling time per type (from the decoded request to its
 * reply queued on the connection: the issuer's round trip and the wait for
 * the group COMMIT included), and credit-run progress.
 *
 * Updated on the loop's thread only, in plain arrays: no allocation and no
 * lock per transaction (the checkpointer thread never touches them). A reply
 * is counted when the group has answered it (kks_group_answered_fn): with its
 * own response code once it is queued after its COMMIT, as 96 when its
 * transaction failed at COMMIT and the terminal got 96 instead. A
 * retransmission answered with the first reply (the same STAN and content)
 * is not counted again. */
#ifndef KKS_SWMETRICS_H
#define KKS_SWMETRICS_H

#include <stdint.h>

#include "kks_group.h"
#include "kks_metrics.h"

enum swm_type {
    SWM_ACTIVATE,
    SWM_BALANCE,
    SWM_WITHDRAW,
    SWM_PURCHASE,
    SWM_PIN_CHANGE,
    SWM_STATEMENT,
    SWM_REVERSAL,
    SWM_OTHER, /* a type the switch does not know (declined 12) */
    SWM__TYPES
};

#define SWM_RC_OTHER 100 /* a response code that is not two digits */
#define SWM_BUCKETS 14

enum { SWM_TAG_TXN = 1, SWM_TAG_CREDIT = 2 };

typedef struct swm {
    uint64_t txn[SWM__TYPES][SWM_RC_OTHER + 1];
    kks_histogram seconds[SWM__TYPES];
    uint64_t credit_rows, credits_applied, credit_rejected, credit_batches;
    double credit_last_batch; /* unix time of the last committed batch; 0: none yet */
    const kks_group_stats *group; /* the group commit's (NULL: not rendered) */
    char wal_path[4100]; /* the database's WAL file, sized at each scrape; "": not served */
} swm;

/* The histogram's upper bounds, in nanoseconds (0.1 ms .. 2.5 s). */
extern const uint64_t swm_bounds_ns[SWM_BUCKETS];

/* The index of a transaction type ("purchase"), SWM_OTHER if unknown. */
enum swm_type swm_type_of(const char *type);
/* The index of a response code ("05" -> 5), SWM_RC_OTHER if not two digits. */
int swm_rc_of(const char *rc);

/* The tag of a terminal's reply: type, response code, and when its request
 * was decoded (uv_hrtime). */
kks_group_tag swm_txn_tag(uint64_t t0, enum swm_type type, const char *rc);
/* The tag of a credit batch's reply: rows applied and rejected. */
kks_group_tag swm_credit_tag(uint32_t applied, uint32_t rejected);

/* Records a tagged reply answered (kks_group_answered_fn; ud: the swm). */
void swm_answered(void *ud, const kks_group_tag *tag, int sent);
/* The same at a given time (nanoseconds, uv_hrtime's clock), for tests. */
void swm_answered_at(swm *m, const kks_group_tag *tag, int sent, uint64_t now_ns);

/* Writes the kks_switch_* families (kks_metrics_source_fn; ud: the swm). */
void swm_render(kks_mbuf *b, void *ud);

#endif
