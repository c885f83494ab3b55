#define _GNU_SOURCE /* syncfs */
#include "kks_pki.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "kks_err.h"
#include "kks_log.h"
#include "kks_pin.h"
#include "kks_tls.h"

#define CA_DAYS 3650
#define LEAF_DAYS 825

static int path_join(char *out, size_t cap, const char *dir, const char *name)
{
    return (size_t)snprintf(out, cap, "%s/%s", dir, name) < cap ? 0 : KKS_EINVAL;
}

/* mkdir -p: the parents too (made with mode 0755 unless they exist). */
static int mkdir_p(const char *path, mode_t mode)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p)
        return KKS_EINVAL;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            kks_error("cannot create directory", "dir", p, "error", strerror(errno));
            return KKS_EIO;
        }
        *s = '/';
    }
    if (mkdir(path, mode) == 0 || errno == EEXIST)
        return 0;
    kks_error("cannot create directory", "dir", path, "error", strerror(errno));
    return KKS_EIO;
}

/* Writes a file atomically with the given mode: PATH.tmp, fsync, rename. */
typedef int (*writer_fn)(FILE *f, const void *obj);

/* Set while a batch of terminals is made: their files are synced once, at
 * the end (syncfs), instead of one fsync each. */
static int sync_later;

static int write_atomic(const char *path, mode_t mode, writer_fn fn, const void *obj)
{
    char tmp[4200];
    int fd, ok;
    FILE *f;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return KKS_EINVAL;
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        if (fd >= 0)
            close(fd);
        kks_error("cannot write file", "file", tmp, "error", strerror(errno));
        return KKS_EIO;
    }
    ok = fn(f, obj) == 0 && fflush(f) == 0 && (sync_later || fsync(fileno(f)) == 0);
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        kks_error("cannot write file", "file", path, "error", strerror(errno));
        unlink(tmp);
        return KKS_EIO;
    }
    return 0;
}

static int write_key_pem(FILE *f, const void *k)
{
    return PEM_write_PrivateKey(f, (EVP_PKEY *)k, NULL, NULL, 0, NULL, NULL) == 1 ? 0 : -1;
}

static int write_cert_pem(FILE *f, const void *x)
{
    return PEM_write_X509(f, (X509 *)x) == 1 ? 0 : -1;
}

struct hexkey {
    const uint8_t *b;
    size_t n;
};

static int write_hex(FILE *f, const void *obj)
{
    const struct hexkey *k = obj;
    for (size_t i = 0; i < k->n; i++)
        if (fprintf(f, "%02X", k->b[i]) < 0)
            return -1;
    return fputc('\n', f) == EOF ? -1 : 0;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!ext)
        return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/* Issues a certificate for key with OU=role, CN=cn, signed by ca_key (ca_cert
 * NULL: self-signed CA). */
static X509 *make_cert(EVP_PKEY *key, const char *ou, const char *cn, X509 *ca_cert,
                       EVP_PKEY *ca_key)
{
    X509 *x = X509_new();
    X509_NAME *name;
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    int is_ca = ca_cert == NULL;

    if (!x || RAND_bytes(serial, sizeof serial) != 1)
        goto fail;
    serial[0] &= 0x7f; /* positive */
    if (!(bn = BN_bin2bn(serial, sizeof serial, NULL)) ||
        !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
        goto fail;
    X509_set_version(x, 2);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), (long)(is_ca ? CA_DAYS : LEAF_DAYS) * 86400);
    X509_set_pubkey(x, key);
    name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"KKS Simulator",
                                    -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, (const unsigned char *)ou, -1, -1,
                                    0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                    0))
        goto fail;
    X509_set_issuer_name(x, is_ca ? name : X509_get_subject_name(ca_cert));
    if (is_ca) {
        if (add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
            add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
            add_ext(x, x, NID_subject_key_identifier, "hash"))
            goto fail;
    } else {
        if (add_ext(x, ca_cert, NID_basic_constraints, "critical,CA:FALSE") ||
            add_ext(x, ca_cert, NID_key_usage, "critical,digitalSignature") ||
            add_ext(x, ca_cert, NID_ext_key_usage, "serverAuth,clientAuth") ||
            add_ext(x, ca_cert, NID_subject_alt_name, "IP:127.0.0.1,IP:::1,DNS:localhost") ||
            add_ext(x, ca_cert, NID_authority_key_identifier, "keyid:always"))
            goto fail;
    }
    if (!X509_sign(x, is_ca ? key : ca_key, EVP_sha256()))
        goto fail;
    BN_free(bn);
    return x;
fail:
    BN_free(bn);
    X509_free(x);
    return NULL;
}

/* Makes NAME.key and NAME.crt in dir. */
static int issue(const char *dir, const char *name, const char *ou, const char *cn,
                 X509 *ca_cert, EVP_PKEY *ca_key, X509 **cert_out, EVP_PKEY **key_out)
{
    char kp[4096], cp[4096], file[300];
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = NULL;
    int rc = KKS_ETLS;

    if (!key)
        goto out;
    if (!(x = make_cert(key, ou, cn, ca_cert, ca_key)))
        goto out;
    snprintf(file, sizeof file, "%s.key", name);
    if ((rc = path_join(kp, sizeof kp, dir, file)) < 0)
        goto out;
    snprintf(file, sizeof file, "%s.crt", name);
    if ((rc = path_join(cp, sizeof cp, dir, file)) < 0)
        goto out;
    if ((rc = write_atomic(kp, 0600, write_key_pem, key)) < 0 ||
        (rc = write_atomic(cp, 0644, write_cert_pem, x)) < 0)
        goto out;
    rc = 0;
out:
    if (rc == KKS_ETLS)
        kks_error("cannot make certificate", "name", name);
    if (rc == 0 && cert_out) {
        *cert_out = x;
        x = NULL;
    }
    if (rc == 0 && key_out) {
        *key_out = key;
        key = NULL;
    }
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

static int make_sym_key(const char *dir, const char *name, size_t len)
{
    uint8_t k[32];
    char p[4096], kd[4096], file[64];
    struct hexkey hk = {k, len};
    int rc;
    if (len > sizeof k || RAND_bytes(k, (int)len) != 1)
        return KKS_ETLS;
    snprintf(file, sizeof file, "keys/%s.key", name);
    if ((rc = path_join(p, sizeof p, dir, file)) < 0 || (rc = path_join(kd, sizeof kd, dir, "keys")) < 0)
        return rc;
    rc = write_atomic(p, 0600, write_hex, &hk);
    OPENSSL_cleanse(k, sizeof k);
    return rc;
}

int kks_pki_init(const char *dir)
{
    static const struct {
        const char *name;
    } leaves[] = {{"issuer"}, {"switch"}, {"operator"}};
    char p[4096];
    X509 *ca = NULL;
    EVP_PKEY *cakey = NULL;
    int rc;

    if ((rc = path_join(p, sizeof p, dir, "ca.key")) < 0)
        return rc;
    if (access(p, F_OK) == 0) {
        kks_error("a PKI already exists here; remove it first to make a new one", "dir", dir);
        return KKS_EEXISTS;
    }
    if ((rc = mkdir_p(dir, 0700)) < 0)
        return rc;
    if ((rc = path_join(p, sizeof p, dir, "terminals")) < 0 || (rc = mkdir_p(p, 0700)) < 0)
        return rc;
    if ((rc = path_join(p, sizeof p, dir, "keys")) < 0 || (rc = mkdir_p(p, 0700)) < 0)
        return rc;
    if ((rc = issue(dir, "ca", "ca", "KKS Simulator Development CA", NULL, NULL, &ca, &cakey)) < 0)
        goto out;
    for (size_t i = 0; i < sizeof leaves / sizeof leaves[0]; i++)
        if ((rc = issue(dir, leaves[i].name, leaves[i].name, leaves[i].name, ca, cakey, NULL,
                        NULL)) < 0)
            goto out;
    if ((rc = make_sym_key(dir, "tmk", 16)) < 0 || (rc = make_sym_key(dir, "zpk", 16)) < 0 ||
        (rc = make_sym_key(dir, "pvk", 32)) < 0)
        goto out;
out:
    X509_free(ca);
    EVP_PKEY_free(cakey);
    return rc;
}

int kks_terminal_id_valid(const char *id)
{
    size_t n = strlen(id), plen;
    if (strncmp(id, "EW-", 3) == 0)
        plen = 3;
    else if (strncmp(id, "ATM-", 4) == 0)
        plen = 4;
    else if (strncmp(id, "BR-", 3) == 0)
        plen = 3;
    else
        return 0;
    if (n <= plen || n > 40)
        return 0;
    for (size_t i = plen; i < n; i++)
        if (!((id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
            return 0;
    return 1;
}

static int load_ca(const char *dir, X509 **ca, EVP_PKEY **key)
{
    char p[4096];
    FILE *f;
    *ca = NULL;
    *key = NULL;
    if (path_join(p, sizeof p, dir, "ca.crt") < 0 || !(f = fopen(p, "r")))
        goto fail;
    *ca = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (path_join(p, sizeof p, dir, "ca.key") < 0 || !(f = fopen(p, "r")))
        goto fail;
    *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (*ca && *key)
        return 0;
fail:
    kks_error("cannot read the CA; run kksctl pki init first", "dir", dir);
    X509_free(*ca);
    EVP_PKEY_free(*key);
    return KKS_EPKI;
}

/* One terminal's certificate, key and PIN key in td (DIR/terminals). */
static int terminal_issue(const char *td, const char *id, X509 *ca, EVP_PKEY *cakey,
                          const uint8_t tmk[16])
{
    uint8_t tpk[16];
    char p[4200];
    struct hexkey hk = {tpk, sizeof tpk};
    int rc;
    if (!kks_terminal_id_valid(id)) {
        kks_error("not a terminal ID (EW-..., ATM-... or BR-..., A-Z 0-9 -)", "id", id);
        return KKS_EINVAL;
    }
    if ((rc = issue(td, id, "terminal", id, ca, cakey, NULL, NULL)) < 0)
        return rc;
    /* The terminal's own PIN key, as if injected at the factory: derived from
     * the master key (which stays with the switch) over its ID. */
    rc = kks_tpk_derive(tmk, id, tpk) < 0 ? KKS_ETLS : 0;
    snprintf(p, sizeof p, "%s/%s.tpk", td, id);
    if (rc == 0)
        rc = write_atomic(p, 0600, write_hex, &hk);
    OPENSSL_cleanse(tpk, sizeof tpk);
    return rc;
}

int kks_pki_terminals(const char *dir, const char *const *ids, size_t n)
{
    char td[4096];
    X509 *ca;
    EVP_PKEY *cakey;
    uint8_t tmk[16];
    int rc;
    for (size_t i = 0; i < n; i++)
        if (!kks_terminal_id_valid(ids[i])) {
            kks_error("not a terminal ID (EW-..., ATM-... or BR-..., A-Z 0-9 -)", "id", ids[i]);
            return KKS_EINVAL;
        }
    /* the CA first: a directory that holds none is left as it was */
    if ((rc = load_ca(dir, &ca, &cakey)) < 0)
        return rc;
    if ((rc = path_join(td, sizeof td, dir, "terminals")) == 0 && (rc = mkdir_p(td, 0700)) == 0 &&
        (rc = kks_pki_load_key(dir, "tmk", tmk, sizeof tmk)) == 0) {
        sync_later = n > 1;
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = terminal_issue(td, ids[i], ca, cakey, tmk);
        sync_later = 0;
        int fd = open(td, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) { /* the batch's files, durable together */
            if (n > 1 && syncfs(fd) < 0 && rc == 0)
                rc = KKS_EIO;
            close(fd);
        }
    }
    OPENSSL_cleanse(tmk, sizeof tmk);
    X509_free(ca);
    EVP_PKEY_free(cakey);
    return rc;
}

int kks_pki_terminal(const char *dir, const char *id)
{
    return kks_pki_terminals(dir, &id, 1);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Exactly 2 x len hex digits, then a newline or the end of the file. Each
 * pair is read digit by digit: sscanf("%2X") took one digit before the end
 * of the line, a sign, "0x" or a leading space as part of a byte. */
int kks_key_file_load(const char *p, uint8_t *out, size_t len)
{
    char line[160];
    FILE *f;
    size_t i, n = 0;
    int ok;
    if (!(f = fopen(p, "r"))) {
        kks_error("cannot read key file", "file", p, "error", strerror(errno));
        return KKS_EPKI;
    }
    ok = 2 * len < sizeof line;
    if (ok)
        n = fread(line, 1, 2 * len + 1, f);
    fclose(f);
    ok = ok && n >= 2 * len && (n == 2 * len || line[2 * len] == '\n');
    for (i = 0; ok && i < len; i++) {
        int hi = hex_digit(line[2 * i]), lo = hex_digit(line[2 * i + 1]);
        if (hi < 0 || lo < 0)
            ok = 0;
        else
            out[i] = (uint8_t)(hi << 4 | lo);
    }
    OPENSSL_cleanse(line, sizeof line);
    if (!ok) {
        OPENSSL_cleanse(out, len);
        kks_error("key file is not the expected hex key", "file", p);
        return KKS_EPKI;
    }
    return 0;
}

int kks_pki_load_key(const char *dir, const char *name, uint8_t *out, size_t len)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/keys/%s.key", dir, name);
    return kks_key_file_load(p, out, len);
}
