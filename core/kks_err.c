#include "kks_err.h"

const char *kks_strerror(int code)
{
    switch (code) {
    case KKS_OK:
        return "success";
#define KKS__ERR_MSG(name, c, msg)                                                                 \
    case c:                                                                                        \
        return msg;
        KKS_ERRNO_MAP(KKS__ERR_MSG)
#undef KKS__ERR_MSG
    }
    return "unknown error";
}

const char *kks_errname(int code)
{
    switch (code) {
    case KKS_OK:
        return "KKS_OK";
#define KKS__ERR_NAME(name, c, msg)                                                                \
    case c:                                                                                        \
        return "KKS_E" #name;
        KKS_ERRNO_MAP(KKS__ERR_NAME)
#undef KKS__ERR_NAME
    }
    return "KKS_EUNKNOWN";
}
