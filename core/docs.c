#include "kks_docs.h"

#include <stdio.h>
#include <string.h>

#include "kks_csv.h"
#include "kks_err.h"
#include "kks_seeds.h"

static const char *const event_names[KKS_DOC_EVENTS] = {
    [KKS_DOC_HANDOVER] = "handover",
    [KKS_DOC_HANDOVER_REPLACEMENT] = "handover-replacement",
    [KKS_DOC_LOST] = "lost",
    [KKS_DOC_STOLEN] = "stolen",
    [KKS_DOC_REPLACE] = "replace",
    [KKS_DOC_DAMAGED] = "damaged",
    [KKS_DOC_RENEW] = "renew",
};

const char *kks_docs_event_name(int ev)
{
    return ev >= 0 && ev < KKS_DOC_EVENTS ? event_names[ev] : NULL;
}

int kks_docs_event(const char *name)
{
    for (int i = 0; i < KKS_DOC_EVENTS; i++)
        if (strcmp(name, event_names[i]) == 0)
            return i;
    return -1;
}

/* A document name: lower-case letters, digits and '-', as typed after --docs. */
static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= KKS_DOC_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

static int find(const kks_docs *d, const char *name)
{
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->names[i], name) == 0)
            return i;
    return -1;
}

static int policy_row(void *ctx, const kks_csv *c, char *why, size_t cap)
{
    kks_docs *d = ctx;
    int ev = kks_docs_event(c->fields[0]), i;
    if (ev < 0) {
        snprintf(why, cap, "unknown event '%.40s' (handover, handover-replacement, lost, "
                           "stolen, replace, damaged, renew)", c->fields[0]);
        return -1;
    }
    if (!name_ok(c->fields[1])) {
        snprintf(why, cap, "document name '%.40s': lower-case letters, digits and '-', at most "
                           "%d characters", c->fields[1], KKS_DOC_NAME_MAX - 1);
        return -1;
    }
    if ((i = find(d, c->fields[1])) < 0) {
        if (d->n == KKS_DOCS_MAX) {
            snprintf(why, cap, "more than %d different documents", KKS_DOCS_MAX);
            return -1;
        }
        i = d->n++;
        snprintf(d->names[i], sizeof d->names[i], "%s", c->fields[1]);
    }
    if (d->required[ev] & (1u << i)) {
        snprintf(why, cap, "%s needs %s given twice", c->fields[0], c->fields[1]);
        return -1;
    }
    d->required[ev] |= 1u << i;
    return 0;
}

int kks_docs_load(kks_docs *d, const char *dir, char *err, size_t cap)
{
    static const char *const hdr[] = {"event", "document"};
    memset(d, 0, sizeof *d);
    return kks_csv_load(d, dir, "document-policy.csv", hdr, 2, policy_row, err, cap);
}

int kks_docs_set(const kks_docs *d, const char *const *names, size_t n, unsigned *set,
                 char *why, size_t cap)
{
    *set = 0;
    for (size_t k = 0; k < n; k++) {
        int i = find(d, names[k]);
        if (i < 0) {
            char known[KKS_DOCS_LIST_MAX];
            kks_docs_format(d, (1u << d->n) - 1, known, sizeof known);
            snprintf(why, cap, "unknown document '%.40s' (known: %s)", names[k], known);
            return -1;
        }
        *set |= 1u << i;
    }
    return 0;
}

void kks_docs_format(const kks_docs *d, unsigned set, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < d->n; i++) {
        if (!(set & (1u << i)))
            continue;
        int w = snprintf(out + len, cap - len, "%s%s", len ? "," : "", d->names[i]);
        if (w < 0 || (size_t)w >= cap - len)
            return; /* cut short: cap was below KKS_DOCS_LIST_MAX */
        len += (size_t)w;
    }
}

int kks_docs_required(const char *dir, int ev, char *out, size_t cap, char *err, size_t errcap)
{
    kks_docs d;
    int rc;
    out[0] = '\0';
    if (ev < 0 || ev >= KKS_DOC_EVENTS) {
        snprintf(err, errcap, "no such card event");
        return KKS_EINVAL;
    }
    if ((rc = kks_docs_load(&d, dir ? dir : kks_seeds_default(NULL), err, errcap)) < 0)
        return rc;
    kks_docs_format(&d, d.required[ev], out, cap);
    return 0;
}
