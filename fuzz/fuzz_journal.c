/* libFuzzer target: the terminal journal as kks-terminal, the scenario runner
 * and the load generator read it back (client/journal.c). The input is the
 * file DIR/ID.journal of a private directory; journal_totals and journal_find
 * read it whole, and each of its lines goes through journal_parse. Checks:
 * the readers return their documented codes; a parsed line that
 * journal_format accepts formats to a line that parses to the same entry, and
 * a parsed line whose text fields hold no comma, quote or control byte is
 * always accepted by journal_format. Build and run: make fuzz. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kc_journal.h"
#include "kks_err.h"
#include "kks_log.h"

#define ID "EW-FUZZ"

static char dir[64], path[128];

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_journal: %s\n", what);
        abort();
    }
}

/* At exit: the private directory goes (libFuzzer exits normally at its time limit). */
static void remove_dir(void)
{
    static const char *const ext[] = {"journal", "lock", "stan"};
    char p[160];
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        snprintf(p, sizeof p, "%s/%s.%s", dir, ID, ext[i]);
        unlink(p);
    }
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    snprintf(dir, sizeof dir, "/tmp/kks-fuzz-journal-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof path, "%s/%s.journal", dir, ID);
    kks_log_set_level(KKS_LOG_ERROR + 1);
    atexit(remove_dir);
    return 0;
}

static int plain(const char *s)
{
    for (; *s; s++)
        if (*s == ',' || *s == '"' || (unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static void round_trip(const char *line)
{
    journal_entry e, back;
    char out[256];
    if (journal_parse(line, &e) < 0)
        return;
    if (journal_format(&e, out, sizeof out) < 0) {
        check(!(plain(e.date) && plain(e.type) && plain(e.rc) && plain(e.rrn)),
              "a plain parsed line that journal_format refuses");
        return;
    }
    check(journal_parse(out, &back) == 0, "a formatted line that does not parse");
    check(strcmp(e.date, back.date) == 0 && e.stan == back.stan &&
              strcmp(e.type, back.type) == 0 && strcmp(e.rc, back.rc) == 0 &&
              e.amount == back.amount && strcmp(e.rrn, back.rrn) == 0 &&
              e.reversed == back.reversed,
          "a formatted line that parses to another entry");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char date[11] = "2026-01-15", line[512];
    journal_entry e;
    uint32_t count, stan = 1;
    int64_t total;
    size_t i = 0;
    int first = 1;
    FILE *f;
    int rc;
    if (!(f = fopen(path, "wb")))
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    while (i < size) {
        size_t n = 0;
        while (i + n < size && data[i + n] != '\n')
            n++;
        if (n < sizeof line - 1) {
            memcpy(line, data + i, n);
            line[n] = '\0';
            if (first && journal_parse(line, &e) == 0) { /* find the first entry later */
                memcpy(date, e.date, sizeof date);
                stan = e.stan;
                first = 0;
            }
            round_trip(line);
        }
        i += n + 1;
    }
    rc = journal_totals(dir, ID, date, &count, &total);
    check(rc == 0 || rc == KKS_EIO || rc == KKS_EINVAL, "journal_totals: an unexpected code");
    rc = journal_find(dir, ID, date, stan, &e);
    check(rc == 0 || rc == 1 || rc == KKS_EIO || rc == KKS_ENOMEM, "journal_find: an unexpected code");
    if (rc == 1)
        check(strcmp(e.date, date) == 0 && e.stan == stan, "journal_find: another entry");
    return 0;
}
