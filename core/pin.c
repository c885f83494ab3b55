/* PIN cryptography: ISO 9564-1 format 4, TPK derivation, PVV (see kks_pin.h).
 *
 * Every buffer that holds a clear PIN, a PIN field or an intermediate AES
 * value is wiped before return, success or not; the AES key schedule is
 * wiped by EVP_CIPHER_CTX_free. */
#include "kks_pin.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "kks_err.h"

#define PIN_MIN 4
#define PIN_MAX 12
#define PAN_MIN 12
#define PAN_MAX 19
#define TPK_SALT "KKS-TPK-v1"

/* Length of s if it is min..max ASCII digits, else 0. */
static size_t digits_len(const char *s, size_t min, size_t max)
{
    if (!s)
        return 0;
    size_t n = strnlen(s, max + 1);
    if (n < min || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return n;
}

static void put_nibble(uint8_t *buf, size_t i, unsigned v)
{
    buf[i / 2] |= (uint8_t)(i % 2 ? v : v << 4);
}

static unsigned get_nibble(const uint8_t *buf, size_t i)
{
    return i % 2 ? buf[i / 2] & 0x0f : buf[i / 2] >> 4;
}

/* PAN field: nibble (length - 12), the PAN, zeros to 32 nibbles. ISO left-pads
 * a PAN shorter than 12 digits; KKS refuses those, so pan is 12..19 digits. */
static void pan_field(const char *pan, uint8_t out[16])
{
    size_t n = strlen(pan);
    memset(out, 0, 16);
    put_nibble(out, 0, (unsigned)(n - PAN_MIN));
    for (size_t i = 0; i < n; i++)
        put_nibble(out, 1 + i, (unsigned)(pan[i] - '0'));
}

/* PIN field: nibble 4, length, n digits, 'A' fillers to nibble 16, random. */
static void pin_field(const char *pin, size_t n, const uint8_t random8[8], uint8_t out[16])
{
    memset(out, 0, 16);
    put_nibble(out, 0, 4);
    put_nibble(out, 1, (unsigned)n);
    for (size_t i = 2; i < 16; i++)
        put_nibble(out, i, i - 2 < n ? (unsigned)(pin[i - 2] - '0') : 0xa);
    memcpy(out + 8, random8, 8);
}

/* Checks a deciphered PIN field and copies its PIN out. Returns 0 or
 * KKS_EINVAL; pin may hold some digits on failure (the caller wipes it). */
static int pin_field_parse(const uint8_t field[16], char pin[13])
{
    size_t n = get_nibble(field, 1);
    if (get_nibble(field, 0) != 4 || n < PIN_MIN || n > PIN_MAX)
        return KKS_EINVAL;
    for (size_t i = 2; i < 16; i++) {
        unsigned v = get_nibble(field, i);
        if (i - 2 < n ? v > 9 : v != 0xa)
            return KKS_EINVAL;
        if (i - 2 < n)
            pin[i - 2] = (char)('0' + v);
    }
    pin[n] = '\0';
    return 0;
}

/* OpenSSL 3 looks algorithms up by name on every implicit use, under a lock;
 * at thousands of PIN blocks a second that lookup cost more than the AES.
 * Fetch each algorithm once (the daemons are single-threaded; a race here
 * would only fetch twice). */
static EVP_CIPHER *aes_128_ecb(void)
{
    static EVP_CIPHER *c;
    if (!c)
        c = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
    return c;
}

/* Format 4 is two AES-128-ECB passes under one key with the PAN field XORed
 * in between: out = E(E(in) ^ xor) (enc), or D(D(in) ^ xor) (decrypt). One
 * context for both passes (setting a key up cost more than the block).
 * In place is fine. Returns 0 or KKS_ETLS. */
static int aes_twice(const uint8_t key[16], int enc, const uint8_t in[16], const uint8_t xor[16],
                     uint8_t out[16])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    EVP_CIPHER *aes = aes_128_ecb();
    uint8_t mid[16];
    int len = 0, len2 = 0,
        ok = ctx && aes && EVP_CipherInit_ex2(ctx, aes, key, NULL, enc, NULL) &&
             EVP_CIPHER_CTX_set_padding(ctx, 0) && EVP_CipherUpdate(ctx, mid, &len, in, 16) &&
             len == 16;
    if (ok) {
        for (int i = 0; i < 16; i++)
            mid[i] ^= xor[i];
        ok = EVP_CipherUpdate(ctx, out, &len2, mid, 16) && len2 == 16;
    }
    OPENSSL_cleanse(mid, sizeof mid);
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : KKS_ETLS;
}

/* RAND_bytes costs thousands of instructions a call however few bytes:
 * kks_random takes them from a pool refilled 512 bytes at a time. Each thread
 * its own; bytes handed out are wiped from the pool; a forked child (the
 * scenario runner's) starts with an empty pool, never its parent's bytes. */
static _Thread_local uint8_t rnd_pool[512];
static _Thread_local size_t rnd_left;
static pthread_once_t rnd_once = PTHREAD_ONCE_INIT;

static void rnd_forget(void)
{
    OPENSSL_cleanse(rnd_pool, sizeof rnd_pool);
    rnd_left = 0;
}

static void rnd_init(void)
{
    pthread_atfork(NULL, NULL, rnd_forget); /* in the child: its one thread's pool */
}

int kks_random(void *out, size_t n)
{
    uint8_t *pool = rnd_pool;
    size_t left = rnd_left;
    uint8_t *o = out;
    pthread_once(&rnd_once, rnd_init);
    while (n > 0) {
        if (left == 0) {
            if (RAND_bytes(pool, sizeof rnd_pool) != 1) {
                rnd_left = 0;
                return KKS_ETLS;
            }
            left = sizeof rnd_pool;
        }
        size_t k = n < left ? n : left;
        uint8_t *from = pool + sizeof rnd_pool - left;
        memcpy(o, from, k);
        OPENSSL_cleanse(from, k);
        o += k;
        n -= k;
        left -= k;
    }
    rnd_left = left;
    return 0;
}

int kks_pin_wellformed(const char *pin)
{
    return digits_len(pin, KKS_PIN_LEN, KKS_PIN_LEN) == KKS_PIN_LEN;
}

int kks_pin_trivial(const char *pin)
{
    if (!kks_pin_wellformed(pin))
        return 0;
    int step = pin[1] - pin[0];
    if (step < -1 || step > 1)
        return 0;
    for (int i = 2; i < KKS_PIN_LEN; i++)
        if (pin[i] - pin[i - 1] != step)
            return 0;
    return 1;
}

int kks_pinblock_encode(const uint8_t key[16], const char *pin, const char *pan,
                        const uint8_t *random8, uint8_t out[16])
{
    assert(key && out);
    size_t n = digits_len(pin, PIN_MIN, PIN_MAX);
    if (!n || !digits_len(pan, PAN_MIN, PAN_MAX))
        return KKS_EINVAL;
    uint8_t rnd[8], field[16], panf[16];
    if (!random8 && kks_random(rnd, sizeof rnd) < 0)
        return KKS_ETLS;
    pin_field(pin, n, random8 ? random8 : rnd, field);
    pan_field(pan, panf);
    int rc = aes_twice(key, 1, field, panf, field);
    if (rc == 0)
        memcpy(out, field, 16);
    OPENSSL_cleanse(rnd, sizeof rnd);
    OPENSSL_cleanse(field, sizeof field);
    return rc;
}

int kks_pinblock_decode(const uint8_t key[16], const uint8_t block[16], const char *pan,
                        char pin[13])
{
    assert(key && block && pin);
    pin[0] = '\0';
    if (!digits_len(pan, PAN_MIN, PAN_MAX))
        return KKS_EINVAL;
    uint8_t field[16], panf[16];
    pan_field(pan, panf);
    int rc = aes_twice(key, 0, block, panf, field);
    if (rc == 0 && (rc = pin_field_parse(field, pin)) != 0)
        OPENSSL_cleanse(pin, PIN_MAX + 1); /* zeros: leaves "" */
    OPENSSL_cleanse(field, sizeof field);
    return rc;
}

int kks_pinblock_translate(const uint8_t from[16], const uint8_t to[16], const uint8_t in[16],
                           const char *pan, uint8_t out[16])
{
    char pin[PIN_MAX + 1];
    int rc = kks_pinblock_decode(from, in, pan, pin);
    if (rc == 0)
        rc = kks_pinblock_encode(to, pin, pan, NULL, out);
    OPENSSL_cleanse(pin, sizeof pin);
    return rc;
}

int kks_tpk_derive(const uint8_t tmk[16], const char *terminal_id, uint8_t tpk[16])
{
    assert(tmk && tpk);
    if (!terminal_id || !*terminal_id)
        return KKS_EINVAL;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)tmk, 16),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, TPK_SALT, strlen(TPK_SALT)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)terminal_id,
                                          strlen(terminal_id)),
        OSSL_PARAM_construct_end(),
    };
    int ok = ctx && EVP_KDF_derive(ctx, tpk, 16, params) == 1;
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return ok ? 0 : KKS_ETLS;
}

int kks_pvv(const uint8_t *pvk, size_t pvk_len, const char *pan, const char *pin,
            uint8_t out[32])
{
    assert(out);
    if (!pvk || !pvk_len || !digits_len(pan, PAN_MIN, PAN_MAX) ||
        !digits_len(pin, PIN_MIN, PIN_MAX))
        return KKS_EINVAL;
    char msg[PAN_MAX + 1 + PIN_MAX + 1];
    uint8_t mac[KKS_PVV_LEN];
    int n = snprintf(msg, sizeof msg, "%s:%s", pan, pin);
    size_t len = 0;
    /* The context keyed last, one per thread: keying hashes the key into
     * HMAC's two pads, 8,900 of the issuer's 47,600 instructions an
     * authorisation when done for every PIN; with the same key, init starts
     * again from the pads already made. The key is kept to tell whether the
     * next call's is the same (one longer than 64 bytes is keyed every time). */
    static EVP_MAC *hmac;
    static _Thread_local EVP_MAC_CTX *mc;
    static _Thread_local uint8_t keyed[64];
    static _Thread_local size_t keyed_len;
    if (!hmac)
        hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!mc && hmac)
        mc = EVP_MAC_CTX_new(hmac);
    int same = keyed_len && keyed_len == pvk_len && CRYPTO_memcmp(keyed, pvk, pvk_len) == 0;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    keyed_len = 0; /* until this call is through: after a failure the key is set again */
    int ok = mc &&
             (same ? EVP_MAC_init(mc, NULL, 0, NULL) : EVP_MAC_init(mc, pvk, pvk_len, params)) &&
             EVP_MAC_update(mc, (uint8_t *)msg, (size_t)n) &&
             EVP_MAC_final(mc, mac, &len, sizeof mac) && len == sizeof mac;
    if (ok && pvk_len <= sizeof keyed) {
        if (!same)
            memcpy(keyed, pvk, pvk_len);
        keyed_len = pvk_len;
    }
    if (ok)
        memcpy(out, mac, sizeof mac);
    OPENSSL_cleanse(msg, sizeof msg);
    OPENSSL_cleanse(mac, sizeof mac);
    return ok ? 0 : KKS_ETLS;
}

int kks_pin_verify(const uint8_t zpk[16], const uint8_t block[16], const char *pan,
                   const uint8_t *pvk, size_t pvk_len, const uint8_t stored[32])
{
    assert(stored);
    char pin[PIN_MAX + 1];
    uint8_t pvv[KKS_PVV_LEN];
    int rc = kks_pinblock_decode(zpk, block, pan, pin);
    if (rc == 0 && kks_pin_wellformed(pin) && (rc = kks_pvv(pvk, pvk_len, pan, pin, pvv)) == 0)
        rc = CRYPTO_memcmp(pvv, stored, sizeof pvv) == 0;
    OPENSSL_cleanse(pin, sizeof pin);
    OPENSSL_cleanse(pvv, sizeof pvv);
    return rc;
}

int kks_pin_make_pvv(const uint8_t zpk[16], const uint8_t block[16], const char *pan,
                     const uint8_t *pvk, size_t pvk_len, int *trivial, uint8_t pvv_out[32])
{
    assert(trivial && pvv_out);
    char pin[PIN_MAX + 1];
    *trivial = 0;
    int rc = kks_pinblock_decode(zpk, block, pan, pin);
    if (rc == 0 && !kks_pin_wellformed(pin))
        rc = KKS_EINVAL;
    else if (rc == 0 && kks_pin_trivial(pin))
        *trivial = 1;
    else if (rc == 0)
        rc = kks_pvv(pvk, pvk_len, pan, pin, pvv_out);
    OPENSSL_cleanse(pin, sizeof pin);
    return rc;
}
