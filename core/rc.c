#include "kks_rc.h"

#include <string.h>

const char *kks_rc_meaning(const char *rc)
{
#define KKS__RC_CMP(name, code, text)                                                              \
    if (strcmp(rc, code) == 0)                                                                     \
        return text;
    KKS_RC_MAP(KKS__RC_CMP)
#undef KKS__RC_CMP
    return "unknown response code";
}
