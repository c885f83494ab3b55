/* The documents a card event needs (seeds/document-policy.csv).
 *
 * A family brings papers to the bank's desk: the invitation letter, KTP and
 * KK at hand-over; for a lost card's replacement the police loss letter and
 * the passbook as well. Which event needs which is policy, read from the
 * seeds directory; the issuer refuses an event whose documents are missing
 * and records the ones seen with the event. */
#ifndef KKS_DOCS_H
#define KKS_DOCS_H

#include <stddef.h>

#define KKS_DOCS_MAX 16   /* documents the policy may name */
#define KKS_DOC_NAME_MAX 32 /* a document's name, with its NUL */
#define KKS_DOCS_LIST_MAX (KKS_DOCS_MAX * KKS_DOC_NAME_MAX) /* a formatted list */

/* The events that may need documents. */
enum kks_doc_event {
    KKS_DOC_HANDOVER, /* kksctl handover of a family's first card */
    KKS_DOC_HANDOVER_REPLACEMENT, /* kksctl handover of a replacement card */
    KKS_DOC_LOST,     /* card lost */
    KKS_DOC_STOLEN,   /* card stolen */
    KKS_DOC_REPLACE,  /* replacement of a lost or stolen card */
    KKS_DOC_DAMAGED,  /* a damaged card surrendered and replaced */
    KKS_DOC_RENEW,    /* an expired (or expiring) card renewed */
    KKS_DOC_EVENTS
};

typedef struct kks_docs {
    char names[KKS_DOCS_MAX][KKS_DOC_NAME_MAX]; /* in the order the file first names them */
    int n;
    unsigned required[KKS_DOC_EVENTS]; /* bit i: names[i] */
} kks_docs;

/* Reads dir/document-policy.csv (header event,document; one row per
 * document an event needs). An unknown event, a malformed name, a row given
 * twice or too many documents is an error naming the file and line.
 * Returns 0, KKS_EINVAL or KKS_ENOMEM. */
int kks_docs_load(kks_docs *d, const char *dir, char *err, size_t cap);

/* The event's name in the policy file ("handover", "damaged"...), or NULL. */
const char *kks_docs_event_name(int ev);
/* The event called name, or -1. */
int kks_docs_event(const char *name);

/* Turns a list of document names into a set. Returns 0, or -1 with why
 * filled (a name the policy does not know, or too long). Repeats are fine. */
int kks_docs_set(const kks_docs *d, const char *const *names, size_t n, unsigned *set,
                 char *why, size_t cap);

/* Writes the names in set, comma-separated, in the policy's order ("" for
 * none). out holds KKS_DOCS_LIST_MAX bytes. */
void kks_docs_format(const kks_docs *d, unsigned set, char *out, size_t cap);

/* For tools that act for a desk (scenario runner, training, load, demo):
 * the documents event ev needs under the policy in dir (NULL: the default
 * seeds directory), comma-separated, into out (KKS_DOCS_LIST_MAX bytes).
 * Returns 0, or KKS_EINVAL with the reason in err. */
int kks_docs_required(const char *dir, int ev, char *out, size_t cap, char *err, size_t errcap);

#endif
