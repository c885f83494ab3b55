/* TLS configuration and peer identity (SPEC §4).
 *
 * Mutual TLS 1.3 only, ECDSA P-256. Every peer must present a certificate that
 * chains to the project CA; a certificate's OU is its role and its CN its
 * identity. There is no way to turn verification off. */
#ifndef KKS_TLS_H
#define KKS_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

enum kks_role {
    KKS_ROLE_ISSUER = 1u << 0,
    KKS_ROLE_SWITCH = 1u << 1,
    KKS_ROLE_TERMINAL = 1u << 2,
    KKS_ROLE_OPERATOR = 1u << 3,
};

#define KKS_ID_MAX 64 /* identity (CN) buffer size, with NUL */

/* "issuer", "switch", "terminal", "operator"; "?" for anything else. */
const char *kks_role_name(unsigned role);
/* The role for a name, or 0 when unknown. */
unsigned kks_role_parse(const char *name);

/* Makes a TLS context. cert and key may both be NULL for a client with no
 * certificate (which every server refuses; used by the tests that prove it).
 * Returns 0, KKS_EPKI (a file missing or unreadable: msg says which) or KKS_ETLS. */
int kks_tls_ctx_new(SSL_CTX **out, int server, const char *ca, const char *cert, const char *key);

/* Builds DIR/NAME.crt and DIR/NAME.key (and DIR/ca.crt) and makes a context
 * from them. name may be "terminals/EW-..." for a terminal. */
int kks_tls_ctx_from_pki(SSL_CTX **out, int server, const char *dir, const char *name);

/* Reads the verified peer's role (from OU) and identity (CN, at most
 * KKS_ID_MAX-1 bytes of printable ASCII). Returns 0, KKS_ENOCERT, or
 * KKS_EPEERROLE when the OU is not a known role or the CN is unusable. */
int kks_tls_peer(SSL *ssl, unsigned *role, char id[KKS_ID_MAX]);

/* The last OpenSSL error in words, for logs ("" when none). Clears the queue. */
const char *kks_tls_errstr(char *buf, size_t cap);

#endif
