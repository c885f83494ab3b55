/* libFuzzer target: HOST:PORT addresses as the daemons and kksctl read them
 * from flags and configuration (core/net.c, kks_addr_parse). The input is the
 * text. Every input is refused with KKS_EADDR or parsed into an IPv4 or IPv6
 * address, and a parsed address formats (kks_addr_format) to text that parses
 * back to the same family, address and port. Build and run: make fuzz. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kks_err.h"
#include "kks_net.h"

static void check(int ok, const char *what, const char *text)
{
    if (!ok) {
        fprintf(stderr, "fuzz_addr: \"%s\": %s\n", text, what);
        abort();
    }
}

static int same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[256], back[KKS_ADDR_MAX];
    struct sockaddr_storage a, b;
    int rc;
    if (size >= sizeof text)
        size = sizeof text - 1;
    memcpy(text, data, size);
    text[size] = '\0';
    rc = kks_addr_parse(text, &a);
    check(rc == 0 || rc == KKS_EADDR, "an error other than KKS_EADDR", text);
    if (rc < 0)
        return 0;
    check(a.ss_family == AF_INET || a.ss_family == AF_INET6, "parsed to another family", text);
    kks_addr_format((const struct sockaddr *)&a, back, sizeof back);
    check(kks_addr_parse(back, &b) == 0, "formats to text that does not parse", text);
    check(same(&a, &b), "formats to text that parses to another address", text);
    return 0;
}
