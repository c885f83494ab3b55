/* PIN cryptography (SPEC §4): ISO 9564-1 format-4 PIN blocks under AES-128,
 * translation from a terminal PIN key (TPK) to the zone PIN key (ZPK), TPK
 * derivation from the terminal master key, and the issuer's keyed PIN
 * verification value (PVV). No function here logs; a clear PIN lives only in
 * local buffers that are wiped with OPENSSL_cleanse on every path.
 *
 * Keys and output buffers must not be NULL (asserted). A NULL PIN or PAN
 * string is KKS_EINVAL like any other malformed input. A PAN is 12..19 ASCII
 * digits. Outputs are written only on success. */
#ifndef KKS_PIN_H
#define KKS_PIN_H

#include <stddef.h>
#include <stdint.h>

#define KKS_PIN_LEN 6 /* KKS PINs are six digits */
#define KKS_PINBLOCK_LEN 16
#define KKS_PVV_LEN 32

/* 1 if pin is exactly six ASCII digits, else 0. */
int kks_pin_wellformed(const char *pin);

/* 1 if pin is well-formed and trivial, else 0. Trivial means all one digit
 * (000000 .. 999999) or a strict run of +1 or -1 steps without wrapping
 * (012345 .. 456789, 987654 .. 543210). Wrapping runs (890123, 109876) and
 * repeated pairs or patterns (112233, 121212) are not trivial. */
int kks_pin_trivial(const char *pin);

/* Builds an enciphered ISO 9564-1 format-4 PIN block under the AES-128 key.
 *   PIN field: nibble 4, PIN length, PIN digits, 'A' fillers up to nibble 16,
 *              then 8 random bytes (random8, or RAND_bytes if random8 is NULL;
 *              give random8 only for test vectors).
 *   PAN field: nibble (PAN length - 12), the PAN, zeros up to 32 nibbles.
 *   out = AES_K(AES_K(PIN field) XOR PAN field).
 * pin is 4..12 digits here (KKS itself uses six). Returns 0, KKS_EINVAL, or
 * KKS_ETLS if OpenSSL fails (no randomness, out of memory). */
int kks_pinblock_encode(const uint8_t key[16], const char *pin, const char *pan,
                        const uint8_t *random8, uint8_t out[16]);

/* Reverses kks_pinblock_encode and checks the control nibble (4), the length
 * (4..12), the digits and the 'A' fillers; writes the NUL-terminated PIN into
 * pin. A wrong key or PAN yields a PIN field that fails these checks except
 * with probability below 1e-7. On failure pin is wiped to "". Returns 0,
 * KKS_EINVAL (bad PAN, or the block does not decode) or KKS_ETLS. */
int kks_pinblock_decode(const uint8_t key[16], const uint8_t block[16], const char *pan,
                        char pin[13]);

/* Re-enciphers a PIN block from key `from` to key `to` for the same PAN with
 * fresh random fill; the clear PIN exists only inside. in and out may be the
 * same buffer. Returns 0, KKS_EINVAL (bad PAN, block does not decode under
 * `from`) or KKS_ETLS. */
int kks_pinblock_translate(const uint8_t from[16], const uint8_t to[16], const uint8_t in[16],
                           const char *pan, uint8_t out[16]);

/* Terminal PIN key = HKDF-SHA256(IKM = tmk, salt = "KKS-TPK-v1",
 * info = terminal_id), 16 bytes. Returns 0, KKS_EINVAL (terminal_id NULL or
 * empty) or KKS_ETLS. */
int kks_tpk_derive(const uint8_t tmk[16], const char *terminal_id, uint8_t tpk[16]);

/* PVV = HMAC-SHA256(pvk, "PAN:PIN"). pin is 4..12 digits, pvk at least one
 * byte. Returns 0, KKS_EINVAL or KKS_ETLS. */
int kks_pvv(const uint8_t *pvk, size_t pvk_len, const char *pan, const char *pin,
            uint8_t out[32]);

/* Decodes block under zpk for pan, computes the PVV and compares it with
 * stored in constant time (CRYPTO_memcmp). A block that decodes to a PIN that
 * is not six digits is a mismatch. Returns 1 (match), 0 (mismatch),
 * KKS_EINVAL (bad PAN or empty PVK, block does not decode) or KKS_ETLS. */
int kks_pin_verify(const uint8_t zpk[16], const uint8_t block[16], const char *pan,
                   const uint8_t *pvk, size_t pvk_len, const uint8_t stored[32]);

/* For setting a PIN: decodes block under zpk for pan and, if the PIN is six
 * digits and not trivial, writes its PVV to pvv_out with *trivial = 0. A
 * trivial PIN sets *trivial = 1 and returns 0 without touching pvv_out, so
 * the caller must check *trivial before storing anything. Returns 0,
 * KKS_EINVAL (bad PAN or empty PVK, block does not decode, PIN not six
 * digits) or KKS_ETLS. */
int kks_pin_make_pvv(const uint8_t zpk[16], const uint8_t block[16], const char *pan,
                     const uint8_t *pvk, size_t pvk_len, int *trivial, uint8_t pvv_out[32]);

/* n random bytes from OpenSSL's generator, drawn a pool at a time.
 * Returns 0 or KKS_ETLS. */
int kks_random(void *out, size_t n);

#endif
