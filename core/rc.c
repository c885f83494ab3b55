#include "kks_rc.h"
#include "kks_reject.h"

#include <string.h>

static const struct {
    const char *code, *meaning, *text[2]; /* text[KKS_LANG_ID], text[KKS_LANG_EN] */
} rc_table[] = {
#define KKS__RC_ROW(name, code, meaning, en, id) {code, meaning, {id, en}},
    KKS_RC_MAP(KKS__RC_ROW)
#undef KKS__RC_ROW
};

static int rc_find(const char *rc)
{
    for (size_t i = 0; rc && i < sizeof rc_table / sizeof rc_table[0]; i++)
        if (strcmp(rc, rc_table[i].code) == 0) return (int)i;
    return -1;
}

const char *kks_rc_meaning(const char *rc)
{
    int i = rc_find(rc);
    return i < 0 ? "unknown response code" : rc_table[i].meaning;
}

const char *kks_rc_text(const char *rc, kks_lang lang)
{
    int i = rc_find(rc);
    int l = lang == KKS_LANG_EN ? KKS_LANG_EN : KKS_LANG_ID;
    if (i < 0) return l == KKS_LANG_EN ? "Unknown response code" : "Kode respon tidak dikenal";
    return rc_table[i].text[l];
}

const char *kks_reject_words(unsigned kind)
{
    static const char *const words[KKS_REJECT__COUNT] = {
#define KKS__REJECT_WORDS(name, number, w) [number] = w,
        KKS_REJECT_MAP(KKS__REJECT_WORDS)
#undef KKS__REJECT_WORDS
    };
    return kind < KKS_REJECT__COUNT ? words[kind] : words[KKS_REJECT_OTHER];
}
