/* Training lessons (kks-terminal train): one YAML file a lesson.
 *
 *   name: aktivasi                       # required, [a-z0-9-]
 *   title: {id: ..., en: ...}            # required, both languages
 *   family: "1271102108080001"           # the training family whose card is used
 *   card: new                            # new: handed over, waiting for activation;
 *                                        # active (default): activated with pin
 *   pin: "135792"                        # the card's PIN (required when active)
 *   scene: {id: ..., en: ...}            # what the recipient brings and says
 *   steps:                               # at least one
 *     - expect: {menu: activate}         # menu | card | nik | pin | pin_again | rc | bank
 *                                        # bank: lost | replace is done by the bank
 *                                        # itself when the step comes (no key)
 *       guide: {id: ..., en: ...}        # required
 *       hint: {id: ..., en: ...}         # optional
 *       wrong: {id: ..., en: ...}        # optional: said on a mistake
 *       fault: link-timeout              # menu steps: the transaction meets it
 *                                        # (issuer-down | link-timeout)
 *   (rc: "none" expects no reply at all)
 *   explain: {"55": {id: ..., en: ...}}  # response codes in plain words
 *
 * Every error names the file, line, column and reason. Strings point into the
 * node tree, which the lesson owns. */
#ifndef KKS_LESSON_H
#define KKS_LESSON_H

#include <stddef.h>

#include "scenario/scenario.h"

#define TL_STEPS_MAX 64
#define TL_EXPLAIN_MAX 32
#define TL_LESSONS_MAX 32

enum tl_kind { TL_MENU, TL_CARD, TL_NIK, TL_PIN, TL_PIN_AGAIN, TL_RC, TL_BANK };

typedef struct tl_text {
    const char *t[2]; /* [0] Bahasa Indonesia, [1] English; NULL when absent */
} tl_text;

typedef struct tl_step {
    enum tl_kind kind;
    const char *value; /* menu: activate...; card/nik: family; pin: strong|wrong|right|any... */
    tl_text guide, hint, wrong;
    const char *fault; /* menu steps: issuer-down | link-timeout for this transaction */
    int line;
} tl_step;

typedef struct tl_lesson {
    const char *name, *family, *pin;
    int card_new; /* the lesson starts with a card waiting for activation */
    tl_text title, scene;
    tl_step steps[TL_STEPS_MAX];
    size_t nsteps;
    struct {
        const char *rc;
        tl_text text;
    } explain[TL_EXPLAIN_MAX];
    size_t nexplain;
    sc_node *root;
} tl_lesson;

/* 0, or -1 with "PATH:LINE:COL: reason" in err. */
int tl_load_mem(const char *path, const char *data, size_t len, tl_lesson *out, char *err,
                size_t cap);
int tl_load_file(const char *path, tl_lesson *out, char *err, size_t cap);
void tl_free(tl_lesson *l);
/* Every *.yaml in dir, by name; the files that do not load are named in errs
 * (one line each). Returns how many loaded (at most max). */
size_t tl_load_dir(const char *dir, tl_lesson *out, size_t max, char *errs, size_t cap);
/* The text in lang (0 id, 1 en), else the other, else "". */
const char *tl_str(const tl_text *t, int lang);
/* The explanation of rc in this lesson, or NULL. */
const tl_text *tl_explain(const tl_lesson *l, const char *rc);
/* 1 when a PIN is easy to guess: not 6 digits, one digit repeated, or a run
 * up or down (123456, 987654). */
int tl_pin_trivial(const char *pin);

#endif
