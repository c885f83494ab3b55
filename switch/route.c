/* Routing: which issuer serves a card (by BIN), and the PIN translation on the
 * way (terminal PIN key -> zone PIN key). The only place the switch handles
 * PIN material, and it never sees a clear PIN: kks_pin decrypts and encrypts
 * in one call and wipes what it held. */
#include <string.h>

#include <openssl/crypto.h>

#include "kks_err.h"
#include "kks_log.h"
#include "kks_pin.h"
#include "switch.h"

link *route_for(sw *s, const char *pan)
{
    link *best = NULL, *dflt = NULL;
    size_t bestlen = 0;
    for (int i = 0; i < s->nlinks; i++) {
        link *l = &s->links[i];
        if (l->is_default)
            dflt = l;
        for (int b = 0; b < l->nbins; b++) {
            size_t n = strlen(l->bins[b]);
            if (n > bestlen && strncmp(pan, l->bins[b], n) == 0) {
                best = l;
                bestlen = n;
            }
        }
    }
    return best ? best : dflt;
}

/* Each terminal's PIN key, derived once from the master key (HKDF is not
 * cheap) and kept in a small direct-mapped cache keyed by terminal ID. */
static int terminal_tpk(sw *s, const char *id, uint8_t tpk[16])
{
    uint32_t h = 2166136261u;
    for (const char *p = id; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h %= TPK_CACHE;
    if (strcmp(s->tpk_cache[h].id, id) != 0) {
        if (strlen(id) >= sizeof s->tpk_cache[h].id ||
            kks_tpk_derive(s->tmk, id, s->tpk_cache[h].tpk) < 0) {
            s->tpk_cache[h].id[0] = '\0';
            return KKS_ETLS;
        }
        memcpy(s->tpk_cache[h].id, id, strlen(id) + 1);
    }
    memcpy(tpk, s->tpk_cache[h].tpk, 16);
    return 0;
}

int route_translate(sw *s, const char *terminal, const char *pan, const ProtobufCBinaryData *in,
                    uint8_t out[16])
{
    uint8_t tpk[16];
    int rc = KKS_EINVAL;
    if (in->len == KKS_PINBLOCK_LEN && terminal_tpk(s, terminal, tpk) == 0 &&
        kks_pinblock_translate(tpk, s->zpk, in->data, pan, out) == 0)
        rc = 0;
    OPENSSL_cleanse(tpk, sizeof tpk);
    return rc;
}

void route_forget_keys(sw *s)
{
    OPENSSL_cleanse(s->tpk_cache, sizeof s->tpk_cache);
}

int terminal_is_itself(kks_conn *c, const char *named)
{
    if (strcmp(named, kks_conn_identity(c)) == 0)
        return 1;
    kks_warn("terminal named another terminal: refused", "peer", kks_conn_peer(c), "identity",
             kks_conn_identity(c));
    return 0;
}
