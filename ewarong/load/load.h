/* kks-terminal load: many terminals against a switch, open or closed model.
 *
 *   load.c   the command line, the run (terminals on one loop, the schedule,
 *            measurement), the summary, --json, thresholds and the report
 *   cards.c  the cards a run uses: prepared through the operator's path
 *            (enrolled, accounts opened, printed, handed over, credited,
 *            activated) and remembered in the state directory
 *   hdr.c    the latency histogram; report.c the HTML report */
#ifndef KKS_LOAD_H
#define KKS_LOAD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "kc_world.h"

int load_cli(int argc, char **argv);

/* A card the run may use. The PIN is not stored: it is derived from the PAN
 * under the state directory's key (ld_pin). */
typedef struct ld_card {
    char pan[20], nik[17];
    uint8_t pkh, bpnt; /* the family is in the programme (and was credited) */
} ld_card;

typedef struct ld_cards {
    ld_card *v;
    size_t n;
    uint8_t key[32]; /* the state directory's PIN key */
    /* whose cards they are: the switch's and the issuer's database
     * identities (kksctl ping), SWITCH-ISSUER; not their addresses, which a
     * restart on port 0 changes */
    char world[72];
} ld_cards;

/* Where the cards come from: the daemons and kksctl. */
typedef struct ld_world {
    uv_loop_t *loop;
    const char *bin, *pki, *issuer, *sw; /* kksctl's directory and its peers */
    const char *state;                   /* the state directory (0700) */
    const char *today;                   /* the business date, YYYY-MM-DD */
    FILE *say;                           /* progress for people */
} ld_world;

/* The run's cards: those remembered in the state directory for this switch
 * and issuer (their databases, out->world) when there are at least n and
 * fresh is 0, else n new ones prepared through
 * the operator's path (activation is the caller's: cards come back handed
 * over, waiting for it; *activate is set). 0, or -1 with the reason in why. */
int ld_cards_get(const ld_world *w, size_t n, int fresh, ld_cards *out, int *activate,
                 char *why, size_t cap);
/* Remembers the (activated) cards for the next run on this switch and issuer. */
int ld_cards_save(const ld_world *w, const ld_cards *c, char *why, size_t cap);
void ld_cards_free(ld_cards *c);
/* What a kksctl --json command (cmd, its first argument) that exited with ec
 * (-1: not run) and printed out and err gives the preparation: its JSON when
 * it did its work (exit 0; or 1, rows refused or nothing to print, for
 * enroll, credit-run and print), else NULL with why (its message, or its exit
 * status and output). Free with json_decref. */
json_t *ld_ctl_result(const char *cmd, int ec, const char *out, const char *err, char *why,
                      size_t cap);
/* mkdir -p with mode 0700: 0 or -1 (errno). */
int ld_mkdir_p(const char *dir);
/* The card's PIN: six digits from HMAC-SHA-256(key, PAN), never trivial. */
void ld_pin(const ld_cards *c, const char *pan, char pin[7]);

#endif
