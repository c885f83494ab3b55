#include "swmetrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* A switch answers in 0.1 to 50 ms; the long tail shows an issuer or a disk
 * in trouble. */
const uint64_t swm_bounds_ns[SWM_BUCKETS] = {
    100000,   250000,    500000,    1000000,   2500000,   5000000,    10000000,
    25000000, 50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000,
};

static const char *const type_names[SWM__TYPES] = {
    "activate", "balance", "withdraw", "purchase", "pin_change", "statement", "reversal", "other",
};

enum swm_type swm_type_of(const char *type)
{
    for (int i = 0; i < SWM_OTHER; i++)
        if (strcmp(type, type_names[i]) == 0)
            return (enum swm_type)i;
    return SWM_OTHER;
}

int swm_rc_of(const char *rc)
{
    if (rc[0] >= '0' && rc[0] <= '9' && rc[1] >= '0' && rc[1] <= '9' && rc[2] == '\0')
        return (rc[0] - '0') * 10 + (rc[1] - '0');
    return SWM_RC_OTHER;
}

kks_group_tag swm_txn_tag(uint64_t t0, enum swm_type type, const char *rc)
{
    return (kks_group_tag){.t0 = t0, .kind = SWM_TAG_TXN, .a = type, .b = (uint32_t)swm_rc_of(rc)};
}

kks_group_tag swm_credit_tag(uint32_t applied, uint32_t rejected)
{
    return (kks_group_tag){.kind = SWM_TAG_CREDIT, .a = applied, .b = rejected};
}

void swm_answered_at(swm *m, const kks_group_tag *tag, int sent, uint64_t now_ns)
{
    if (tag->kind == SWM_TAG_TXN && tag->a < SWM__TYPES && tag->b <= SWM_RC_OTHER) {
        /* not sent as held: the terminal got 96 (switch/uncommitted.c) */
        m->txn[tag->a][sent ? tag->b : 96]++;
        kks_histogram_observe(&m->seconds[tag->a], swm_bounds_ns, SWM_BUCKETS,
                              now_ns > tag->t0 ? now_ns - tag->t0 : 0);
    } else if (tag->kind == SWM_TAG_CREDIT && sent) {
        struct timespec ts;
        m->credits_applied += tag->a;
        m->credit_rejected += tag->b;
        m->credit_batches++;
        clock_gettime(CLOCK_REALTIME, &ts);
        m->credit_last_batch = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    }
}

void swm_answered(void *ud, const kks_group_tag *tag, int sent)
{
    swm_answered_at(ud, tag, sent, uv_hrtime());
}

static void counter(kks_mbuf *b, const char *name, const char *help, uint64_t v)
{
    kks_metrics_family(b, name, "counter", help);
    kks_mbuf_printf(b, "%s %" PRIu64 "\n", name, v);
}

void swm_render(kks_mbuf *b, void *ud)
{
    const swm *m = ud;
    char labels[64];

    kks_metrics_family(b, "kks_switch_transactions_total", "counter",
                       "Transactions answered, by type and response code (reversals included).");
    for (int t = 0; t < SWM__TYPES; t++)
        for (int rc = 0; rc <= SWM_RC_OTHER; rc++)
            if (m->txn[t][rc]) {
                char code[12] = "other";
                if (rc != SWM_RC_OTHER)
                    snprintf(code, sizeof code, "%02d", rc);
                kks_mbuf_printf(b,
                                "kks_switch_transactions_total{type=\"%s\",rc=\"%s\"} %" PRIu64
                                "\n",
                                type_names[t], code, m->txn[t][rc]);
            }
    kks_metrics_family(b, "kks_switch_transaction_seconds", "histogram",
                       "The switch's handling time of a transaction, from the decoded request to "
                       "its reply queued (issuer round trip and commit wait included).");
    for (int t = 0; t < SWM__TYPES; t++) {
        uint64_t n = 0;
        for (int i = 0; i <= SWM_BUCKETS; i++)
            n += m->seconds[t].in[i];
        if (t == SWM_OTHER && n == 0)
            continue;
        snprintf(labels, sizeof labels, "type=\"%s\"", type_names[t]);
        kks_metrics_histogram(b, "kks_switch_transaction_seconds", labels, swm_bounds_ns,
                              SWM_BUCKETS, &m->seconds[t]);
    }
    counter(b, "kks_switch_credit_rows_total", "Credit-run rows received in batches.",
            m->credit_rows);
    counter(b, "kks_switch_credits_applied_total", "Credit-run rows applied (committed).",
            m->credits_applied);
    counter(b, "kks_switch_credit_rejected_total", "Credit-run rows rejected (committed batches).",
            m->credit_rejected);
    counter(b, "kks_switch_credit_batches_total", "Credit batches committed.", m->credit_batches);
    kks_metrics_family(b, "kks_switch_credit_last_batch_timestamp_seconds", "gauge",
                       "Unix time at which the last credit batch was committed (0: none yet).");
    kks_mbuf_printf(b, "kks_switch_credit_last_batch_timestamp_seconds %.3f\n",
                    m->credit_last_batch);
    if (m->group) {
        counter(b, "kks_switch_commits_total",
                "Group COMMITs of the switch's database (many requests share one).",
                m->group->commits);
        counter(b, "kks_switch_commit_requests_total",
                "Requests whose writes those COMMITs carried: divided by the commits, the "
                "requests sharing one.",
                m->group->requests);
        counter(b, "kks_switch_commit_failures_total",
                "COMMITs that failed (their requests were answered as failed).",
                m->group->failed);
        kks_metrics_family(b, "kks_switch_commit_seconds", "histogram",
                           "Time of the COMMIT statement alone: writing the changed pages to the "
                           "write-ahead log and, when the log reaches its cap, copying what is left "
                           "of it into the database before it starts over.");
        kks_metrics_histogram(b, "kks_switch_commit_seconds", "", kks_group_bounds_ns,
                              KKS_GROUP_BUCKETS, &m->group->seconds);
    }
    if (m->wal_path[0]) {
        struct stat st;
        kks_metrics_family(b, "kks_switch_wal_bytes", "gauge",
                           "Size of the database's write-ahead log file in bytes (0: none).");
        kks_mbuf_printf(b, "kks_switch_wal_bytes %lld\n",
                        stat(m->wal_path, &st) == 0 ? (long long)st.st_size : 0LL);
    }
}
