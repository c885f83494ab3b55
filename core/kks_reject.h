/* Why a credit row was refused, as a class: the words of a rejection name the
 * family, the months and the amounts; its class does not, so a run's figures
 * group by it ("already paid: 1,204 rows"). The switch sends the class with
 * each rejected row (Rejected.kind); kksctl gives the rows it refuses itself
 * one too. The numbers are on the wire: never renumber, only add. */
#ifndef KKS_REJECT_H
#define KKS_REJECT_H

/* X(name, number, words): the words are what reports and --json show. */
#define KKS_REJECT_MAP(X)                                                                          \
    X(OTHER, 0, "other")                                                                           \
    X(BAD_ROW, 1, "not a manifest row")                                                            \
    X(BAD_KK, 2, "bad KK")                                                                         \
    X(BAD_AMOUNT, 3, "bad amount")                                                                 \
    X(OVER_MAX, 4, "over the policy maximum")                                                      \
    X(TWICE, 5, "twice in the manifest")                                                           \
    X(OTHER_AMOUNT, 6, "credited before with another amount")                                      \
    X(ALREADY_PAID, 7, "already paid")                                                             \
    X(NO_ACCOUNT, 8, "no account")                                                                 \
    X(NOT_IN_PROGRAMME, 9, "not in the programme")

enum kks_reject {
#define KKS__REJECT_ENUM(name, number, words) KKS_REJECT_##name = number,
    KKS_REJECT_MAP(KKS__REJECT_ENUM)
#undef KKS__REJECT_ENUM
        KKS_REJECT__COUNT
};

/* The words of a class; "other" for a number this build does not know. */
const char *kks_reject_words(unsigned kind);

#endif
