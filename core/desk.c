#include "kks_desk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kks_csv.h"
#include "kks_err.h"
#include "kks_json.h"
#include "kks_registry.h"

const char *const kks_desk_kinds[KKS_DESK_KINDS] = {"data", "lost-card", "disbursement",
                                                    "transaction"};

int kks_desk_kind(const char *s)
{
    for (int i = 0; s && i < KKS_DESK_KINDS; i++)
        if (strcmp(s, kks_desk_kinds[i]) == 0)
            return i;
    return -1;
}

int kks_desk_text_check(const char *what, const char *s, size_t max, char *why, size_t cap)
{
    size_t n = s ? strlen(s) : 0, blank = 1;
    if (n == 0) {
        snprintf(why, cap, "a %s is required", what);
        return KKS_EINVAL;
    }
    if (n > max) {
        snprintf(why, cap, "the %s is %zu bytes long; at most %zu", what, n, max);
        return KKS_EINVAL;
    }
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)s[i];
        size_t k = kks_utf8_len(s + i);
        if (k == 0) {
            snprintf(why, cap, "the %s is not valid UTF-8 (byte %zu)", what, i + 1);
            return KKS_EINVAL;
        }
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            snprintf(why, cap, "the %s holds a control character (byte %zu)", what, i + 1);
            return KKS_EINVAL;
        }
        if (ch != ' ' && ch != '\t')
            blank = 0;
        i += k;
    }
    if (blank) {
        snprintf(why, cap, "a %s is required (it is blank)", what);
        return KKS_EINVAL;
    }
    return 0;
}

static int policy_row(void *ctx, const kks_csv *c, char *why, size_t cap)
{
    kks_desk_policy *p = ctx;
    int k = kks_desk_kind(c->fields[0]);
    int64_t days;
    if (k < 0) {
        snprintf(why, cap, "unknown complaint kind '%.40s' (data, lost-card, disbursement, "
                           "transaction)", c->fields[0]);
        return -1;
    }
    if (p->days[k] >= 0) {
        snprintf(why, cap, "kind %s given twice", kks_desk_kinds[k]);
        return -1;
    }
    if (kks_parse_digits(c->fields[1], 0, KKS_DESK_SLA_MAX_DAYS, &days) < 0) {
        snprintf(why, cap, "days must be a whole number 0..%d, not '%.20s'",
                 KKS_DESK_SLA_MAX_DAYS, c->fields[1]);
        return -1;
    }
    p->days[k] = (int)days;
    return 0;
}

int kks_desk_policy_load(kks_desk_policy *p, const char *dir, char *err, size_t cap)
{
    static const char *const hdr[] = {"kind", "days"};
    int rc;
    for (int i = 0; i < KKS_DESK_KINDS; i++)
        p->days[i] = -1;
    if ((rc = kks_csv_load(p, dir, "complaint-policy.csv", hdr, 2, policy_row, err, cap)) < 0)
        return rc;
    for (int i = 0; i < KKS_DESK_KINDS; i++) {
        if (p->days[i] < 0) {
            snprintf(err, cap, "%s/complaint-policy.csv: no row for kind %s", dir,
                     kks_desk_kinds[i]);
            return KKS_EINVAL;
        }
    }
    return 0;
}

int kks_desk_add_days(const char *date, int days, char out[11])
{
    int y, m, d;
    struct tm tm = {0};
    time_t t;
    if (kks_ymd_parse(date, &y, &m, &d) < 0 || days < 0 || days > KKS_DESK_SLA_MAX_DAYS)
        return KKS_EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_hour = 12;
    t = timegm(&tm) + (time_t)days * 86400;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
    return 0;
}

json_t *kks_desk_card_json(const Kks__Card *k)
{
    json_t *card = kks_json_pb(&k->base, "pan kk name bank state expiry batch replaces "
                                         "replaced_by");
    json_t *hist = json_array();
    for (size_t i = 0; hist && i < k->n_history; i++) {
        json_t *e = kks_json_pb(&k->history[i]->base, "at event from=from_state "
                                                      "to=to_state actor site detail");
        json_t *docs = json_array(); /* the documents seen, from "ktp,kk" */
        for (const char *d = k->history[i]->docs; docs && d && *d;) {
            size_t l = strcspn(d, ",");
            kks_json_append(&docs, json_stringn(d, l));
            d += l + (d[l] == ',');
        }
        kks_json_set(&e, "docs", docs);
        kks_json_append(&hist, e);
    }
    kks_json_set(&card, "history", hist);
    return card;
}

json_t *kks_desk_family_json(const Kks__FamilyView *f)
{
    json_t *o = json_object(), *reg = json_object(), *cards = json_array();
    for (size_t i = 0; reg && i < f->n_fields && i < KKS_REG_NFIELDS; i++) {
        int64_t v;
        json_t *val = i >= KKS_REG_DECILE && i != KKS_REG_BANK &&
                              kks_parse_digits(f->fields[i], 0, 1000000, &v) == 0
                          ? json_integer((json_int_t)v)
                          : kks_json_str(f->fields[i]);
        kks_json_set(&reg, kks_registry_header[i], val);
    }
    for (size_t i = 0; cards && i < f->n_cards; i++)
        kks_json_append(&cards, kks_desk_card_json(f->cards[i]));
    kks_json_set(&o, "registry", reg);
    kks_json_set(&o, "enrolled_at", kks_json_str(f->enrolled_at));
    kks_json_set(&o, "cards", cards);
    return o;
}
