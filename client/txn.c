#include "kc_txn.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "kks_err.h"
#include "kks_pki.h"

int kc_txn_build(const kc_txn *t, const uint8_t tpk[16], kc_txn_req *out)
{
    Kks__TxnRequest *r = &out->req;
    memset(out, 0, sizeof *out);
    kks__txn_request__init(r);
    if (t->n_items > KC_MAX_ITEMS)
        return KKS_EINVAL;
    r->terminal = (char *)t->terminal;
    r->stan = t->stan;
    r->local_date = (char *)t->local_date;
    r->type = (char *)t->type;
    r->pan = (char *)t->pan;
    r->nik = (char *)(t->nik ? t->nik : "");
    r->amount = t->amount;
    r->wallet = (char *)(t->wallet ? t->wallet : "");
    /* Every transaction carries the PIN: the switch asks the issuer to verify
     * it (activation: to set it). */
    if (kks_pinblock_encode(tpk, t->pin, t->pan, NULL, out->pin_block) < 0)
        goto fail;
    r->pin_block.data = out->pin_block;
    r->pin_block.len = KKS_PINBLOCK_LEN;
    if (strcmp(t->type, "pin_change") == 0) {
        if (kks_pinblock_encode(tpk, t->new_pin, t->pan, NULL, out->new_pin_block) < 0)
            goto fail;
        r->new_pin_block.data = out->new_pin_block;
        r->new_pin_block.len = KKS_PINBLOCK_LEN;
    }
    for (size_t i = 0; i < t->n_items; i++) {
        kks__item__init(&out->items[i]);
        memcpy(out->skus[i], t->items[i].sku, sizeof out->skus[i]);
        out->skus[i][KC_SKU_MAX] = '\0';
        out->items[i].sku = out->skus[i];
        out->items[i].qty = t->items[i].qty;
        out->pitems[i] = &out->items[i];
    }
    r->n_items = t->n_items;
    r->items = out->pitems;
    return 0;
fail:
    kc_txn_req_wipe(out);
    return KKS_EINVAL;
}

void kc_txn_req_wipe(kc_txn_req *r)
{
    OPENSSL_cleanse(r->pin_block, sizeof r->pin_block);
    OPENSSL_cleanse(r->new_pin_block, sizeof r->new_pin_block);
}

void kc_txn_wipe(kc_txn *t)
{
    OPENSSL_cleanse(t->pin, sizeof t->pin);
    OPENSSL_cleanse(t->new_pin, sizeof t->new_pin);
}

int kc_tpk_load(const char *pki, const char *terminal, uint8_t tpk[16])
{
    char path[4200];
    if (snprintf(path, sizeof path, "%s/terminals/%s.tpk", pki, terminal) >= (int)sizeof path)
        return KKS_EPKI;
    return kks_key_file_load(path, tpk, 16) < 0 ? KKS_EPKI : 0;
}

void kc_txn_envelope(kc_txn_req *r, Kks__Envelope *env)
{
    kks__envelope__init(env);
    env->body_case = KKS__ENVELOPE__BODY_TXN;
    env->txn = &r->req;
}

void kc_reversal(Kks__ReversalRequest *out, const char *terminal, const char *local_date,
                 uint32_t stan)
{
    kks__reversal_request__init(out);
    out->terminal = (char *)terminal;
    out->local_date = (char *)local_date;
    out->stan = stan;
}

static int sku_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

int kc_items_parse(const char *s, kc_item *items, size_t *n, char *why, size_t cap)
{
    size_t k = 0;
    const char *p = s;
    if (!s || !*s) {
        snprintf(why, cap, "items: give SKU:QTY[,SKU:QTY]...");
        return KKS_EINVAL;
    }
    for (;;) {
        size_t len = 0, qd = 0;
        uint32_t qty = 0;
        if (k == KC_MAX_ITEMS) {
            snprintf(why, cap, "items: at most %d items", KC_MAX_ITEMS);
            return KKS_EINVAL;
        }
        while (p[len] && p[len] != ':' && p[len] != ',')
            len++;
        if (len == 0 || len > KC_SKU_MAX || p[len] != ':') {
            snprintf(why, cap,
                     "items: item %zu: expected SKU:QTY with a SKU of 1 to %d characters A-Z 0-9 -",
                     k + 1, KC_SKU_MAX);
            return KKS_EINVAL;
        }
        for (size_t i = 0; i < len; i++)
            if (!sku_char(p[i])) {
                snprintf(why, cap, "items: item %zu: a SKU is made of A-Z, 0-9 and -", k + 1);
                return KKS_EINVAL;
            }
        memcpy(items[k].sku, p, len);
        items[k].sku[len] = '\0';
        p += len + 1;
        while (p[qd] >= '0' && p[qd] <= '9' && qd < 4)
            qty = qty * 10 + (uint32_t)(p[qd++] - '0');
        if (qd == 0 || qd > 3 || qty < 1 || qty > 999 || (p[qd] && p[qd] != ',')) {
            snprintf(why, cap, "items: %s: the quantity is a whole number from 1 to 999",
                     items[k].sku);
            return KKS_EINVAL;
        }
        items[k++].qty = qty;
        p += qd;
        if (!*p)
            break;
        p++; /* the comma; something must follow it */
    }
    *n = k;
    return 0;
}
