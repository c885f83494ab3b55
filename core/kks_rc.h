/* ISO 8583 field 39 response codes used on the wire (DOMAIN.md), as one table. */
#ifndef KKS_RC_H
#define KKS_RC_H

#define KKS_RC_MAP(X)                                                                              \
    X(APPROVED, "00", "approved")                                                                  \
    X(DO_NOT_HONOR, "05", "do not honor")                                                          \
    X(INVALID_TXN, "12", "invalid transaction")                                                    \
    X(INVALID_AMOUNT, "13", "invalid amount")                                                      \
    X(NO_CARD, "14", "no such card")                                                               \
    X(FORMAT, "30", "format error")                                                                \
    X(LOST, "41", "lost card")                                                                     \
    X(STOLEN, "43", "stolen card")                                                                 \
    X(NSF, "51", "insufficient funds")                                                             \
    X(EXPIRED, "54", "expired card")                                                               \
    X(BAD_PIN, "55", "incorrect PIN")                                                              \
    X(NOT_PERMITTED_CARD, "57", "transaction not permitted to cardholder")                         \
    X(NOT_PERMITTED_TERMINAL, "58", "transaction not permitted to terminal")                       \
    X(OVER_LIMIT, "61", "exceeds amount limit")                                                    \
    X(OVER_FREQUENCY, "65", "exceeds frequency limit")                                             \
    X(ISSUER_TIMEOUT, "68", "issuer response timed out")                                           \
    X(PIN_TRIES, "75", "PIN tries exceeded")                                                       \
    X(INOPERATIVE, "91", "issuer or switch inoperative")                                           \
    X(NO_ROUTE, "92", "no route to issuer")                                                        \
    X(DUPLICATE, "94", "duplicate transmission")                                                   \
    X(SYSTEM, "96", "system malfunction")

#define KKS_RC_APPROVED "00"
#define KKS_RC_DO_NOT_HONOR "05"
#define KKS_RC_INVALID_TXN "12"
#define KKS_RC_INVALID_AMOUNT "13"
#define KKS_RC_NO_CARD "14"
#define KKS_RC_FORMAT "30"
#define KKS_RC_LOST "41"
#define KKS_RC_STOLEN "43"
#define KKS_RC_NSF "51"
#define KKS_RC_EXPIRED "54"
#define KKS_RC_BAD_PIN "55"
#define KKS_RC_NOT_PERMITTED_CARD "57"
#define KKS_RC_NOT_PERMITTED_TERMINAL "58"
#define KKS_RC_OVER_LIMIT "61"
#define KKS_RC_OVER_FREQUENCY "65"
#define KKS_RC_ISSUER_TIMEOUT "68"
#define KKS_RC_PIN_TRIES "75"
#define KKS_RC_INOPERATIVE "91"
#define KKS_RC_NO_ROUTE "92"
#define KKS_RC_DUPLICATE "94"
#define KKS_RC_SYSTEM "96"

/* The standard meaning of a code ("lost card"), or "unknown response code". */
const char *kks_rc_meaning(const char *rc);

#endif
