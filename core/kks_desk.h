/* The complaints desk (layanan pengaduan): what the issuer and kksctl agree on.
 *
 * A complaint has a kind, a note and, for a transaction, an RRN; it is closed
 * with a resolution. Its due date is the business date it was opened on plus
 * the days the SLA policy (seeds/complaint-policy.csv, `kind,days`) gives its
 * kind. Every text a person types is bounded and checked here, once, by both
 * sides: kksctl refuses before sending, the issuer refuses what a peer sends. */
#ifndef KKS_DESK_H
#define KKS_DESK_H

#include <jansson.h>
#include <stddef.h>

#include "kks.pb-c.h"

enum { KKS_DESK_DATA, KKS_DESK_LOST_CARD, KKS_DESK_DISBURSEMENT, KKS_DESK_TRANSACTION,
       KKS_DESK_KINDS };

#define KKS_DESK_NOTE_MAX 1000       /* bytes of a note or a resolution */
#define KKS_DESK_EVIDENCE_MAX 49152  /* bytes of the switch's evidence (JSON) */
#define KKS_DESK_SLA_MAX_DAYS 365

/* The kinds' names, in enum order: data, lost-card, disbursement, transaction. */
extern const char *const kks_desk_kinds[KKS_DESK_KINDS];

/* The kind named s, or -1. */
int kks_desk_kind(const char *s);

/* Checks a note or resolution: present, at most max bytes, well-formed UTF-8,
 * no control characters (a tab is allowed). Returns 0, or KKS_EINVAL with why
 * in words (what names the field: "note"). */
int kks_desk_text_check(const char *what, const char *s, size_t max, char *why, size_t cap);

/* The SLA policy: days to resolve a complaint, per kind. */
typedef struct kks_desk_policy {
    int days[KKS_DESK_KINDS];
} kks_desk_policy;

/* Loads dir/complaint-policy.csv (`kind,days`): every kind once, days
 * 0..KKS_DESK_SLA_MAX_DAYS. Returns 0, or KKS_EINVAL / KKS_ENOMEM with the
 * file, line and reason in err. */
int kks_desk_policy_load(kks_desk_policy *p, const char *dir, char *err, size_t cap);

/* date (YYYY-MM-DD) plus days, into out. Returns 0 or KKS_EINVAL. */
int kks_desk_add_days(const char *date, int days, char out[11]);

/* A family as the desk shows it to machines, the same in kksctl lookup --json
 * and in a complaint's evidence: {"registry": {the extract's columns, counts
 * as numbers}, "enrolled_at", "cards": [{pan, kk, name, bank, state, expiry,
 * batch, replaces, replaced_by, history: [{at, event, from, to, actor, site,
 * detail}]}]}. NULL only when out of memory. */
json_t *kks_desk_family_json(const Kks__FamilyView *f);
/* A card, as in kks_desk_family_json (kksctl card show --json has the same). */
json_t *kks_desk_card_json(const Kks__Card *k);

#endif
