/* libFuzzer target: key files as the daemons read them from the PKI
 * directory (core/pki.c, kks_key_file_load). The first byte picks the key
 * length (1..80 bytes; 80 is over the reader's line and always refused), the
 * rest is the file. Every file is refused with KKS_EPKI (and the output
 * cleared) or loaded, and a loaded key is exactly the file's first line:
 * 2 x length hex digits, then a newline or the end. Build and run: make fuzz. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kks_err.h"
#include "kks_log.h"
#include "kks_pki.h"

static char path[64];

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_key_file: %s\n", what);
        abort();
    }
}

static void remove_file(void)
{
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    int fd;
    snprintf(path, sizeof path, "/tmp/kks-fuzz-key-XXXXXX");
    if ((fd = mkstemp(path)) < 0)
        abort();
    close(fd);
    atexit(remove_file);
    kks_log_set_level(KKS_LOG_ERROR + 1); /* a refused file is not news */
    return 0;
}

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? tolower(c) - 'a' + 10 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t key[80];
    size_t len, i;
    FILE *f;
    int rc;
    if (size < 1)
        return 0;
    len = 1 + data[0] % 80;
    if (!(f = fopen(path, "wb")))
        abort();
    fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    data++;
    size--;
    memset(key, 0xa5, sizeof key);
    rc = kks_key_file_load(path, key, len);
    check(rc == 0 || rc == KKS_EPKI, "an error other than KKS_EPKI");
    if (rc < 0) {
        for (i = 0; i < len; i++)
            check(key[i] == 0, "a refused key is not cleared");
        return 0;
    }
    check(size >= 2 * len, "loaded a key from a file shorter than its hex");
    for (i = 0; i < len; i++) {
        int hi = hexval(data[2 * i]), lo = hexval(data[2 * i + 1]);
        check(hi >= 0 && lo >= 0, "loaded a key whose text is not hex digits");
        check(key[i] == (uint8_t)(hi << 4 | lo), "loaded a key that is not the file's hex");
    }
    check(size == 2 * len || data[2 * len] == '\n', "loaded a key followed by more on its line");
    return 0;
}
