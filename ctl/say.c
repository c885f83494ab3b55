/* ctl_say (ctl.h): its own file, as credit_manifest.c, which the fuzzer
 * builds without the rest of kksctl, says through it too. */
#include <stdarg.h>
#include <stdio.h>

#include "ctl.h"

static char said[512];

void ctl_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kks_cli_keep(said, sizeof said, "kksctl: ", fmt, ap);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

const char *ctl_said(void)
{
    return said;
}
