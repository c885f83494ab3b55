/* Development PKI (SPEC §4, §10), made with the OpenSSL API.
 *
 * DIR/ca.crt ca.key, issuer.*, switch.*, operator.*, terminals/ID.*, and
 * keys/ holding the symmetric keys: tmk.key (terminal master key, from which
 * each terminal's PIN key is derived), zpk.key (zone PIN key shared by switch
 * and issuer), pvk.key (the issuer's PIN verification key). Every key file is
 * mode 0600 and written atomically (temporary file, then rename). */
#ifndef KKS_PKI_H
#define KKS_PKI_H

#include <stddef.h>
#include <stdint.h>

/* Creates the CA, the issuer, switch and operator certificates and the
 * symmetric keys. Refuses (KKS_EEXISTS) if DIR already holds a CA.
 * Returns 0, KKS_EEXISTS, KKS_EIO or KKS_ETLS; failures are logged. */
int kks_pki_init(const char *dir);

/* Makes DIR/terminals/ID.crt and .key signed by the CA in DIR, and ID.tpk,
 * the terminal's PIN key (hex; HKDF of keys/tmk.key over the ID). The ID must be
 * a terminal ID (kks_terminal_id_valid). Returns 0, KKS_EINVAL, KKS_EPKI,
 * KKS_EIO or KKS_ETLS. */
int kks_pki_terminal(const char *dir, const char *id);
/* The same for n terminals at once (the CA and master key read once, the
 * files synced together at the end): for load tests with thousands. */
int kks_pki_terminals(const char *dir, const char *const *ids, size_t n);

/* True for EW-..., ATM-..., BR-... made of A-Z, 0-9 and '-', at most 40 chars. */
int kks_terminal_id_valid(const char *id);

/* Reads a hex key file at path into out (exactly len bytes). 0 or KKS_EPKI. */
int kks_key_file_load(const char *path, uint8_t *out, size_t len);

/* Reads DIR/keys/NAME.key (hex) into out, which must be exactly len bytes.
 * Returns 0, KKS_EPKI. */
int kks_pki_load_key(const char *dir, const char *name, uint8_t *out, size_t len);

#endif
