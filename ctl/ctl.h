/* kksctl internals shared by its command files. */
#ifndef KKS_CTL_H
#define KKS_CTL_H

#include "kks_net.h"

/* Exit codes (SPEC §9). */
enum { EXIT_OK = 0, EXIT_DECLINED = 1, EXIT_USAGE = 2, EXIT_PEER = 3, EXIT_INTERNAL = 4 };

typedef struct ctl {
    const char *pki;    /* --pki or KKS_PKI */
    const char *sw;     /* --switch or KKS_SWITCH */
    const char *issuer; /* --issuer or KKS_ISSUER */
    int json;
    uv_loop_t *loop;
    SSL_CTX *ctx; /* operator credentials, made on first use */
} ctl;

/* Connects to addr as the operator, expecting a server of role. Prints why
 * and returns NULL when the PKI cannot be read (see *exit_code). */
kks_client *ctl_connect(ctl *c, const char *addr, unsigned role, int *exit_code);

int cmd_pki(ctl *c, int argc, char **argv);
int cmd_ping(ctl *c, int argc, char **argv);

#endif
