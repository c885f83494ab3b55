/* Terminal requests, built in one place: kks-terminal, the scenario runner,
 * the load generator, benchmarks and tests all make their TxnRequest here.
 *
 * A kc_txn says what the terminal asks (type, card, PIN as typed, amount,
 * items); kc_txn_build() turns it into a Kks__TxnRequest whose PIN blocks are
 * ISO 9564 format 4 under the terminal's PIN key (TPK). The clear PINs stay in
 * the caller's kc_txn: wipe them with kc_txn_wipe() once built. The request
 * points into the kc_txn_req and at the strings the kc_txn borrowed (terminal,
 * date, type, PAN, NIK, wallet): keep those alive until it is sent; the kc_txn
 * itself may go. */
#ifndef KC_TXN_H
#define KC_TXN_H

#include <stddef.h>
#include <stdint.h>

#include "kks.pb-c.h"
#include "kks_pin.h"

#define KC_MAX_ITEMS 50
#define KC_SKU_MAX 20

typedef struct kc_item {
    char sku[KC_SKU_MAX + 1];
    uint32_t qty;
} kc_item;

/* What a terminal asks. Strings are borrowed (NUL-terminated). */
typedef struct kc_txn {
    const char *terminal;   /* the terminal's ID: its certificate's CN */
    uint32_t stan;          /* 1..999999 */
    const char *local_date; /* YYYY-MM-DD, the terminal's date */
    const char *type;       /* activate | balance | withdraw | purchase | pin_change | statement */
    const char *pan;
    char pin[KKS_PIN_LEN + 1];     /* activate: the new PIN; pin_change: the old one */
    char new_pin[KKS_PIN_LEN + 1]; /* pin_change */
    const char *nik;               /* activate */
    int64_t amount;                /* withdraw */
    const char *wallet;            /* "", "pkh" or "bpnt" */
    kc_item items[KC_MAX_ITEMS];   /* purchase */
    size_t n_items;
} kc_txn;

/* A built request and the storage it points into: the PIN blocks and the
 * items are copied here; the other strings stay the kc_txn's (borrowed). */
typedef struct kc_txn_req {
    Kks__TxnRequest req;
    uint8_t pin_block[KKS_PINBLOCK_LEN], new_pin_block[KKS_PINBLOCK_LEN];
    Kks__Item items[KC_MAX_ITEMS], *pitems[KC_MAX_ITEMS];
    char skus[KC_MAX_ITEMS][KC_SKU_MAX + 1];
} kc_txn_req;

/* Builds out from t with the terminal's TPK. Returns 0, KKS_EINVAL (a PIN
 * that is not 4..12 digits, too many items) or KKS_ETLS (no randomness). */
int kc_txn_build(const kc_txn *t, const uint8_t tpk[16], kc_txn_req *out);
/* Wipes the PIN blocks of a request once it is sent. */
void kc_txn_req_wipe(kc_txn_req *r);
/* Wipes the clear PINs of t. */
void kc_txn_wipe(kc_txn *t);

/* Reads DIR/terminals/ID.tpk, the terminal's PIN key (mode 0600). 0 or KKS_EPKI. */
int kc_tpk_load(const char *pki, const char *terminal, uint8_t tpk[16]);

/* Wraps a built request in an Envelope (id 0: the client sets it). */
void kc_txn_envelope(kc_txn_req *r, Kks__Envelope *env);

/* A reversal of (terminal, local_date, stan); strings borrowed. */
void kc_reversal(Kks__ReversalRequest *out, const char *terminal, const char *local_date,
                 uint32_t stan);

/* Parses "SKU:QTY[,SKU:QTY]..." (QTY 1..999; at most KC_MAX_ITEMS). 0, or
 * KKS_EINVAL with the reason in why. */
int kc_items_parse(const char *s, kc_item *items, size_t *n, char *why, size_t cap);

#endif
