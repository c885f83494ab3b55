/* PIN cryptography (core/pin.c): format-4 PIN blocks, translation, TPK
 * derivation, PVV, verify and PIN setting, trivial PINs, hostile input.
 *
 * Known answers come from outside this module: the PIN field is the
 * DOMAIN.md vector, unwrapped here with EVP directly; the block, the TPK and
 * the PVV were computed with Python's cryptography package and the openssl
 * command line (openssl kdf ... HKDF, openssl dgst -mac HMAC). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "kks_err.h"
#include "kks_pin.h"

#define PAN "4321987654321098"
/* nibble 4 (= 16 - 12), the PAN, zeros */
#define PAN_FIELD "44321987654321098000000000000000"

static void unhex(const char *hex, uint8_t *out, size_t len)
{
    cr_assert_eq(strlen(hex), 2 * len, "%s", hex);
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

static void key_of(const char *hex, uint8_t key[16])
{
    unhex(hex, key, 16);
}

/* One AES-128-ECB block straight through EVP, independent of pin.c. */
static void aes(const uint8_t key[16], int enc, const uint8_t in[16], uint8_t out[16])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0;
    cr_assert(ctx && EVP_CipherInit_ex2(ctx, EVP_aes_128_ecb(), key, NULL, enc, NULL));
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    cr_assert(EVP_CipherUpdate(ctx, out, &len, in, 16) && len == 16);
    EVP_CIPHER_CTX_free(ctx);
}

/* AES_K(AES_K(field) XOR PAN_FIELD): a block made by hand for PAN. */
static void seal(const uint8_t key[16], const char *field_hex, uint8_t out[16])
{
    uint8_t f[16], p[16];
    unhex(field_hex, f, 16);
    unhex(PAN_FIELD, p, 16);
    aes(key, 1, f, out);
    for (int i = 0; i < 16; i++)
        out[i] ^= p[i];
    aes(key, 1, out, out);
}

static const char *K1 = "00112233445566778899AABBCCDDEEFF";
static const char *K2 = "F0E1D2C3B4A5968778695A4B3C2D1E0F";
static const uint8_t R8[8] = {0x51, 0x7f, 0x94, 0x81, 0xba, 0x52, 0x75, 0xfa};

Test(pinblock, domain_vector)
{
    uint8_t key[16], block[16], want[16], x[16], pf[16];
    char pin[13];
    key_of(K1, key);
    cr_assert_eq(kks_pinblock_encode(key, "12345", PAN, R8, block), 0);
    unhex("CE173C078E98C496C9A9A441D31976F0", want, 16);
    cr_assert_arr_eq(block, want, 16);

    /* Peel the layers back with EVP: the PIN field is the DOMAIN.md one. */
    aes(key, 0, block, x);
    unhex(PAN_FIELD, pf, 16);
    for (int i = 0; i < 16; i++)
        x[i] ^= pf[i];
    aes(key, 0, x, x);
    unhex("4512345AAAAAAAAA517F9481BA5275FA", want, 16);
    cr_assert_arr_eq(x, want, 16);

    cr_assert_eq(kks_pinblock_decode(key, block, PAN, pin), 0);
    cr_assert_str_eq(pin, "12345");
}

Test(pinblock, round_trip_all_pin_and_pan_lengths)
{
    const char *digits = "9876543210987654321";
    uint8_t key[16], block[16];
    key_of(K2, key);
    for (size_t pl = 4; pl <= 12; pl++) {
        for (size_t nl = 12; nl <= 19; nl++) {
            char pin[13] = {0}, pan[20] = {0}, got[13];
            memcpy(pin, "135792468024", pl);
            memcpy(pan, digits, nl);
            cr_assert_eq(kks_pinblock_encode(key, pin, pan, NULL, block), 0, "%s %s", pin, pan);
            cr_assert_eq(kks_pinblock_decode(key, block, pan, got), 0, "%s %s", pin, pan);
            cr_assert_str_eq(got, pin);
        }
    }
}

Test(pinblock, wrong_key_or_pan_does_not_decode)
{
    const char *pans[] = {"4321987654321099", "5321987654321098", "432198765432109",
                          "43219876543210980", "000000000000", NULL};
    uint8_t key[16], bad[16], block[16];
    key_of(K1, key);
    memcpy(bad, key, 16);
    bad[15] ^= 1;
    for (size_t pl = 4; pl <= 12; pl++) {
        char pin[13] = {0}, got[13];
        memcpy(pin, "111122223333", pl);
        cr_assert_eq(kks_pinblock_encode(key, pin, PAN, R8, block), 0);
        cr_assert_eq(kks_pinblock_decode(bad, block, PAN, got), KKS_EINVAL, "len %zu", pl);
        cr_assert_str_eq(got, "", "nothing is left in the output");
        for (int i = 0; pans[i]; i++)
            cr_assert_eq(kks_pinblock_decode(key, block, pans[i], got), KKS_EINVAL, "%s", pans[i]);
        cr_assert_eq(kks_pinblock_decode(key, block, PAN, got), 0);
        cr_assert_str_eq(got, pin);
    }
}

Test(pinblock, decode_checks_every_field)
{
    struct {
        const char *field;
        const char *pin; /* NULL: must be refused */
    } cases[] = {
        {"46123456AAAAAAAA0123456789ABCDEF", "123456"},
        {"441234AAAAAAAAAAFFFFFFFFFFFFFFFF", "1234"},
        {"4C123456789012AA0000000000000000", "123456789012"},
        {"36123456AAAAAAAA0123456789ABCDEF", NULL}, /* format 3, not 4 */
        {"06123456AAAAAAAA0123456789ABCDEF", NULL},
        {"43123AAAAAAAAAAA0123456789ABCDEF", NULL}, /* PIN too short */
        {"4D1234567890123A0123456789ABCDEF", NULL}, /* PIN too long */
        {"4F123456789012340123456789ABCDEF", NULL},
        {"4612B456AAAAAAAA0123456789ABCDEF", NULL}, /* digit B */
        {"46123456AAAAAAAB0123456789ABCDEF", NULL}, /* filler B */
        {"46123456FAAAAAAA0123456789ABCDEF", NULL}, /* format-0 style filler */
        {"4512345AAAAAAAAA517F9481BA5275FA", "12345"},
    };
    uint8_t key[16], block[16];
    key_of(K2, key);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char got[13] = "garbage";
        seal(key, cases[i].field, block);
        int rc = kks_pinblock_decode(key, block, PAN, got);
        if (cases[i].pin) {
            cr_assert_eq(rc, 0, "%s", cases[i].field);
            cr_assert_str_eq(got, cases[i].pin);
        } else {
            cr_assert_eq(rc, KKS_EINVAL, "%s", cases[i].field);
            cr_assert_str_eq(got, "");
        }
    }
}

Test(pinblock, random_fill_makes_each_block_different)
{
    uint8_t key[16], a[16], b[16];
    char pa[13], pb[13];
    key_of(K1, key);
    cr_assert_eq(kks_pinblock_encode(key, "246810", PAN, NULL, a), 0);
    cr_assert_eq(kks_pinblock_encode(key, "246810", PAN, NULL, b), 0);
    cr_assert_arr_neq(a, b, 16);
    cr_assert_eq(kks_pinblock_decode(key, a, PAN, pa), 0);
    cr_assert_eq(kks_pinblock_decode(key, b, PAN, pb), 0);
    cr_assert_str_eq(pa, "246810");
    cr_assert_str_eq(pb, "246810");
}

Test(pinblock, translate_tpk_to_zpk)
{
    uint8_t tmk[16], tpk[16], zpk[16], in[16], out[16], keep[16];
    char got[13];
    key_of(K1, tmk);
    key_of(K2, zpk);
    cr_assert_eq(kks_tpk_derive(tmk, "ATM-BNI-0001", tpk), 0);
    cr_assert_eq(kks_pinblock_encode(tpk, "802468", PAN, NULL, in), 0);
    cr_assert_eq(kks_pinblock_translate(tpk, zpk, in, PAN, out), 0);
    cr_assert_arr_neq(in, out, 16);
    cr_assert_eq(kks_pinblock_decode(zpk, out, PAN, got), 0);
    cr_assert_str_eq(got, "802468");
    cr_assert_eq(kks_pinblock_decode(tpk, out, PAN, got), KKS_EINVAL);

    /* In place works; a block under another key or PAN is refused, out untouched. */
    memcpy(keep, in, 16);
    cr_assert_eq(kks_pinblock_translate(tpk, zpk, keep, PAN, keep), 0);
    cr_assert_eq(kks_pinblock_decode(zpk, keep, PAN, got), 0);
    cr_assert_str_eq(got, "802468");
    memset(out, 0x55, 16);
    memcpy(keep, out, 16);
    cr_assert_eq(kks_pinblock_translate(zpk, tpk, in, PAN, out), KKS_EINVAL);
    cr_assert_eq(kks_pinblock_translate(tpk, zpk, in, "4321987654321090", out), KKS_EINVAL);
    cr_assert_arr_eq(out, keep, 16);
}

Test(tpk, derivation_known_answer_and_separation)
{
    uint8_t tmk[16], a[16], b[16], want[16];
    key_of("000102030405060708090A0B0C0D0E0F", tmk);
    cr_assert_eq(kks_tpk_derive(tmk, "EW-127101-0001", a), 0);
    unhex("77D8D53150420B6988EC56FD1BF929C4", want, 16);
    cr_assert_arr_eq(a, want, 16);
    cr_assert_eq(kks_tpk_derive(tmk, "EW-127101-0001", b), 0);
    cr_assert_arr_eq(a, b, 16, "deterministic");
    cr_assert_eq(kks_tpk_derive(tmk, "EW-127101-0002", b), 0);
    cr_assert_arr_neq(a, b, 16, "per terminal");
    tmk[0] ^= 0x80;
    cr_assert_eq(kks_tpk_derive(tmk, "EW-127101-0001", b), 0);
    cr_assert_arr_neq(a, b, 16, "per master key");
    cr_assert_eq(kks_tpk_derive(tmk, "", b), KKS_EINVAL);
    cr_assert_eq(kks_tpk_derive(tmk, NULL, b), KKS_EINVAL);
}

Test(pvv, known_answer_and_separation)
{
    uint8_t pvk[16], a[32], b[32], want[32];
    key_of("0F0E0D0C0B0A09080706050403020100", pvk);
    cr_assert_eq(kks_pvv(pvk, sizeof pvk, PAN, "246810", a), 0);
    unhex("09691f65b33601b6ce8ebdc33bfbd411ee7bb93429e7513eb72613801f462a91", want, 32);
    cr_assert_arr_eq(a, want, 32);
    cr_assert_eq(kks_pvv(pvk, sizeof pvk, PAN, "246810", b), 0);
    cr_assert_arr_eq(a, b, 32, "deterministic");
    cr_assert_eq(kks_pvv(pvk, sizeof pvk, PAN, "246811", b), 0);
    cr_assert_arr_neq(a, b, 32, "per PIN");
    cr_assert_eq(kks_pvv(pvk, sizeof pvk, "4321987654321099", "246810", b), 0);
    cr_assert_arr_neq(a, b, 32, "per PAN");
    pvk[0] ^= 1;
    cr_assert_eq(kks_pvv(pvk, sizeof pvk, PAN, "246810", b), 0);
    cr_assert_arr_neq(a, b, 32, "per key");
    /* the context keeps the last key: a key changed in the same buffer, a
     * longer one with the same first bytes, one too long to keep, and the
     * first again */
    pvk[0] ^= 1;
    cr_assert_eq(kks_pvv(pvk, sizeof pvk, PAN, "246810", b), 0);
    cr_assert_arr_eq(b, want, 32, "the first key again");
    uint8_t longer[17], huge[100], ref[32];
    size_t reflen = 0;
    const char *msg = PAN ":246810";
    memcpy(longer, pvk, 16);
    longer[16] = 0;
    cr_assert_eq(kks_pvv(longer, sizeof longer, PAN, "246810", b), 0);
    cr_assert_not_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, longer, sizeof longer,
                                 (const uint8_t *)msg, strlen(msg), ref, sizeof ref, &reflen));
    cr_assert_arr_eq(b, ref, 32, "a longer key with the same first bytes");
    memset(huge, 7, sizeof huge);
    cr_assert_not_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, huge, sizeof huge,
                                 (const uint8_t *)msg, strlen(msg), ref, sizeof ref, &reflen));
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(kks_pvv(huge, sizeof huge, PAN, "246810", b), 0);
        cr_assert_arr_eq(b, ref, 32, "a key too long to keep, call %d", i + 1);
    }
    cr_assert_eq(kks_pvv(pvk, sizeof pvk, PAN, "246810", b), 0);
    cr_assert_arr_eq(b, want, 32, "the first key after one too long to keep");
}

/* A card with PIN 246810: its PVV, made the way the issuer makes it. */
static void enrol(uint8_t zpk[16], uint8_t pvk[16], uint8_t stored[32])
{
    uint8_t block[16];
    int trivial = -1;
    key_of(K2, zpk);
    key_of("0F0E0D0C0B0A09080706050403020100", pvk);
    cr_assert_eq(kks_pinblock_encode(zpk, "246810", PAN, NULL, block), 0);
    cr_assert_eq(kks_pin_make_pvv(zpk, block, PAN, pvk, 16, &trivial, stored), 0);
    cr_assert_eq(trivial, 0);
}

Test(pin, verify_match_mismatch_and_bad_blocks)
{
    uint8_t zpk[16], pvk[16], stored[32], four[32], block[16], other[16];
    enrol(zpk, pvk, stored);
    cr_assert_eq(kks_pinblock_encode(zpk, "246810", PAN, NULL, block), 0);
    cr_assert_eq(kks_pin_verify(zpk, block, PAN, pvk, 16, stored), 1);
    cr_assert_eq(kks_pinblock_encode(zpk, "246811", PAN, NULL, block), 0);
    cr_assert_eq(kks_pin_verify(zpk, block, PAN, pvk, 16, stored), 0);
    cr_assert_eq(kks_pinblock_encode(zpk, "2468", PAN, NULL, block), 0);
    cr_assert_eq(kks_pin_verify(zpk, block, PAN, pvk, 16, stored), 0, "4 digits never match");
    cr_assert_eq(kks_pvv(pvk, 16, PAN, "2468", four), 0);
    cr_assert_eq(kks_pin_verify(zpk, block, PAN, pvk, 16, four), 0, "not even their own PVV");
    cr_assert_eq(kks_pinblock_encode(zpk, "246810", PAN, NULL, block), 0);
    pvk[0] ^= 1;
    cr_assert_eq(kks_pin_verify(zpk, block, PAN, pvk, 16, stored), 0, "another PVK");
    pvk[0] ^= 1;
    stored[31] ^= 1;
    cr_assert_eq(kks_pin_verify(zpk, block, PAN, pvk, 16, stored), 0);
    stored[31] ^= 1;
    key_of(K1, other);
    cr_assert_eq(kks_pin_verify(other, block, PAN, pvk, 16, stored), KKS_EINVAL);
    cr_assert_eq(kks_pin_verify(zpk, block, "4321987654321099", pvk, 16, stored), KKS_EINVAL);
}

Test(pin, make_pvv_refuses_trivial_and_malformed)
{
    uint8_t zpk[16], pvk[16], stored[32], block[16], out[32], keep[32], want[32];
    int trivial;
    enrol(zpk, pvk, stored);
    cr_assert_eq(kks_pvv(pvk, 16, PAN, "246810", want), 0);
    cr_assert_arr_eq(stored, want, 32, "make_pvv stores the PVV of the decoded PIN");

    memset(out, 0x55, 32);
    memcpy(keep, out, 32);
    cr_assert_eq(kks_pinblock_encode(zpk, "654321", PAN, NULL, block), 0);
    cr_assert_eq(kks_pin_make_pvv(zpk, block, PAN, pvk, 16, &trivial, out), 0);
    cr_assert_eq(trivial, 1);
    cr_assert_arr_eq(out, keep, 32, "no PVV for a trivial PIN");
    cr_assert_eq(kks_pinblock_encode(zpk, "24681", PAN, NULL, block), 0);
    cr_assert_eq(kks_pin_make_pvv(zpk, block, PAN, pvk, 16, &trivial, out), KKS_EINVAL);
    cr_assert_eq(kks_pinblock_encode(zpk, "2468101", PAN, NULL, block), 0);
    cr_assert_eq(kks_pin_make_pvv(zpk, block, PAN, pvk, 16, &trivial, out), KKS_EINVAL);
    cr_assert_eq(kks_pinblock_encode(zpk, "246810", PAN, NULL, block), 0);
    cr_assert_eq(kks_pin_make_pvv(pvk, block, PAN, pvk, 16, &trivial, out), KKS_EINVAL);
    cr_assert_eq(trivial, 0);
    cr_assert_arr_eq(out, keep, 32);
}

Test(pin, wellformed_and_trivial_table)
{
    const char *trivial[] = {"000000", "111111", "999999", "123456", "654321", "012345",
                             "987654", "456789", "543210", NULL};
    /* Wrapping runs, pairs, patterns and near-runs are allowed. */
    const char *fine[] = {"123457", "135790", "112233", "890123", "109876", "121212",
                          "123321", "000001", "246810", "234568", NULL};
    const char *malformed[] = {"", "12345", "1234567", "12a456", " 12345", "12345\n",
                               "-12345", "１２３４５６", NULL};
    for (int i = 0; trivial[i]; i++) {
        cr_assert(kks_pin_wellformed(trivial[i]), "%s", trivial[i]);
        cr_assert(kks_pin_trivial(trivial[i]), "%s", trivial[i]);
    }
    for (int i = 0; fine[i]; i++) {
        cr_assert(kks_pin_wellformed(fine[i]), "%s", fine[i]);
        cr_assert_not(kks_pin_trivial(fine[i]), "%s", fine[i]);
    }
    for (int i = 0; malformed[i]; i++) {
        cr_assert_not(kks_pin_wellformed(malformed[i]), "%s", malformed[i]);
        cr_assert_not(kks_pin_trivial(malformed[i]), "%s", malformed[i]);
    }
    cr_assert_not(kks_pin_wellformed(NULL));
    cr_assert_not(kks_pin_trivial(NULL));
}

Test(pin, hostile_input_is_einval)
{
    char longpan[1024];
    memset(longpan, '4', sizeof longpan - 1);
    longpan[sizeof longpan - 1] = '\0';
    const char *pans[] = {"", "43219876543", "43219876543210987654", "4321-87654321098",
                          "432198765432109X", "4321 987654321098", longpan, NULL};
    const char *pins[] = {"", "123", "1234567890123", "12a456", "123456 ", "12.345", NULL};
    uint8_t key[16], block[16], good[16], out[16], keep[16], pvv[32];
    char got[13];
    int trivial;
    key_of(K1, key);
    memset(out, 0x55, 16);
    memcpy(keep, out, 16);
    memset(pvv, 0, sizeof pvv);
    cr_assert_eq(kks_pinblock_encode(key, "246810", PAN, R8, good), 0);
    for (int i = 0; pans[i]; i++) {
        cr_assert_eq(kks_pinblock_encode(key, "246810", pans[i], NULL, out), KKS_EINVAL);
        snprintf(got, sizeof got, "garbage");
        cr_assert_eq(kks_pinblock_decode(key, good, pans[i], got), KKS_EINVAL);
        cr_assert_str_eq(got, "");
        cr_assert_eq(kks_pinblock_translate(key, key, good, pans[i], out), KKS_EINVAL);
        cr_assert_eq(kks_pvv(key, 16, pans[i], "246810", pvv), KKS_EINVAL);
        cr_assert_eq(kks_pin_verify(key, good, pans[i], key, 16, pvv), KKS_EINVAL);
        cr_assert_eq(kks_pin_make_pvv(key, good, pans[i], key, 16, &trivial, pvv), KKS_EINVAL);
    }
    for (int i = 0; pins[i]; i++) {
        cr_assert_eq(kks_pinblock_encode(key, pins[i], PAN, R8, out), KKS_EINVAL, "%s", pins[i]);
        cr_assert_eq(kks_pvv(key, 16, PAN, pins[i], pvv), KKS_EINVAL, "%s", pins[i]);
    }
    cr_assert_eq(kks_pinblock_encode(key, NULL, PAN, R8, out), KKS_EINVAL);
    cr_assert_eq(kks_pinblock_encode(key, "246810", NULL, R8, out), KKS_EINVAL);
    cr_assert_eq(kks_pinblock_decode(key, good, NULL, got), KKS_EINVAL);
    cr_assert_eq(kks_pvv(key, 0, PAN, "246810", pvv), KKS_EINVAL);
    cr_assert_eq(kks_pvv(NULL, 16, PAN, "246810", pvv), KKS_EINVAL);
    cr_assert_arr_eq(out, keep, 16, "failed calls leave the output alone");
    for (int i = 0; i < 16; i++) {
        memcpy(block, good, 16);
        block[i] ^= 0x01;
        cr_assert_eq(kks_pinblock_decode(key, block, PAN, got), KKS_EINVAL, "byte %d", i);
    }
}

/* The pool: requests across its refills (512 bytes) come out whole and do not
 * repeat; the bytes are not all one value. */
Test(random, pool_refills_and_never_repeats_a_draw)
{
    static uint8_t a[2000], b[2000];
    uint8_t small[8][8];
    cr_assert_eq(kks_random(a, sizeof a), 0);
    cr_assert_eq(kks_random(b, sizeof b), 0);
    cr_assert_neq(memcmp(a, b, sizeof a), 0);
    int seen[256] = {0}, distinct = 0;
    for (size_t i = 0; i < sizeof a; i++)
        distinct += !seen[a[i]]++;
    cr_assert_gt(distinct, 200, "2000 random bytes take most of the 256 values: %d", distinct);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(kks_random(small[i], 8), 0);
        for (int j = 0; j < i; j++)
            cr_assert_neq(memcmp(small[i], small[j], 8), 0, "draws %d and %d repeat", i, j);
    }
}

/* A forked child never draws its parent's pooled bytes (the scenario runner
 * forks a child per scenario). */
Test(random, a_forked_child_starts_with_a_pool_of_its_own)
{
    uint8_t parent[16], child[16], first[1];
    int fds[2];
    cr_assert_eq(kks_random(first, 1), 0); /* the pool now holds 511 bytes */
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        uint8_t b[16];
        _exit(kks_random(b, sizeof b) == 0 && write(fds[1], b, sizeof b) == sizeof b ? 0 : 1);
    }
    close(fds[1]);
    cr_assert_eq(read(fds[0], child, sizeof child), (ssize_t)sizeof child);
    close(fds[0]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_eq(kks_random(parent, sizeof parent), 0);
    cr_assert_neq(memcmp(parent, child, sizeof parent), 0, "the child drew the parent's bytes");
}
