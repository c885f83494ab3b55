#include "kks_tls.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "kks_err.h"
#include "kks_log.h"

static const struct {
    unsigned role;
    const char *name;
} roles[] = {
    {KKS_ROLE_ISSUER, "issuer"},
    {KKS_ROLE_SWITCH, "switch"},
    {KKS_ROLE_TERMINAL, "terminal"},
    {KKS_ROLE_OPERATOR, "operator"},
};

const char *kks_role_name(unsigned role)
{
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (roles[i].role == role)
            return roles[i].name;
    return "?";
}

unsigned kks_role_parse(const char *name)
{
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(roles[i].name, name) == 0)
            return roles[i].role;
    return 0;
}

const char *kks_tls_errstr(char *buf, size_t cap)
{
    unsigned long e = ERR_get_error();
    buf[0] = '\0';
    if (e)
        ERR_error_string_n(e, buf, cap);
    ERR_clear_error();
    return buf;
}

int kks_tls_ctx_new(SSL_CTX **out, int server, const char *ca, const char *cert, const char *key)
{
    char err[256];
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    *out = NULL;
    if (!ctx)
        return KKS_ENOMEM;
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set1_groups_list(ctx, "P-256") ||
        !SSL_CTX_set1_sigalgs_list(ctx, "ECDSA+SHA256")) {
        kks_error("tls configuration failed", "error", kks_tls_errstr(err, sizeof err));
        SSL_CTX_free(ctx);
        return KKS_ETLS;
    }
    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        kks_error("cannot load CA certificate", "file", ca, "error",
                  kks_tls_errstr(err, sizeof err));
        SSL_CTX_free(ctx);
        return KKS_EPKI;
    }
    if (cert && key) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            kks_error("cannot load certificate or key", "cert", cert, "key", key, "error",
                      kks_tls_errstr(err, sizeof err));
            SSL_CTX_free(ctx);
            return KKS_EPKI;
        }
    }
    /* Fail closed: the peer must present a certificate from our CA. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_verify_depth(ctx, 2);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (server)
        SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"kks", 3);
    *out = ctx;
    return 0;
}

int kks_tls_ctx_from_pki(SSL_CTX **out, int server, const char *dir, const char *name)
{
    char ca[4096], cert[4096], key[4096];
    if ((size_t)snprintf(ca, sizeof ca, "%s/ca.crt", dir) >= sizeof ca ||
        (size_t)snprintf(cert, sizeof cert, "%s/%s.crt", dir, name) >= sizeof cert ||
        (size_t)snprintf(key, sizeof key, "%s/%s.key", dir, name) >= sizeof key)
        return KKS_EINVAL;
    return kks_tls_ctx_new(out, server, ca, cert, key);
}

static int name_entry(X509_NAME *n, int nid, char *buf, size_t cap)
{
    int i = X509_NAME_get_index_by_NID(n, nid, -1);
    if (i < 0)
        return -1;
    ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
    int len = ASN1_STRING_length(s);
    const unsigned char *d = ASN1_STRING_get0_data(s);
    if (len <= 0 || (size_t)len >= cap)
        return -1;
    for (int k = 0; k < len; k++)
        if (d[k] < 0x21 || d[k] > 0x7e) /* printable, no spaces: it goes into logs */
            return -1;
    memcpy(buf, d, (size_t)len);
    buf[len] = '\0';
    return 0;
}

int kks_tls_peer(SSL *ssl, unsigned *role, char id[KKS_ID_MAX])
{
    char ou[32];
    X509 *peer = SSL_get0_peer_certificate(ssl);
    *role = 0;
    id[0] = '\0';
    if (!peer || SSL_get_verify_result(ssl) != X509_V_OK)
        return KKS_ENOCERT;
    X509_NAME *subj = X509_get_subject_name(peer);
    if (name_entry(subj, NID_organizationalUnitName, ou, sizeof ou) < 0 ||
        name_entry(subj, NID_commonName, id, KKS_ID_MAX) < 0)
        return KKS_EPEERROLE;
    *role = kks_role_parse(ou);
    return *role ? 0 : KKS_EPEERROLE;
}
