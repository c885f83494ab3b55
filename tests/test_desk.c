/* core/desk.c: the complaints desk's text checks, SLA policy and due dates. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kks_desk.h"
#include "kks_err.h"

static char why[200];

Test(desk, text_is_bounded_and_clean)
{
    char big[KKS_DESK_NOTE_MAX + 2];
    cr_assert_eq(kks_desk_text_check("note", "Kartu hilang di pasar", 1000, why, sizeof why), 0);
    cr_assert_eq(kks_desk_text_check("note", "Saldo\tBPNT — terpotong", 1000, why, sizeof why), 0);
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cr_assert_eq(kks_desk_text_check("note", big, KKS_DESK_NOTE_MAX, why, sizeof why), KKS_EINVAL);
    cr_assert(strstr(why, "at most 1000"), "%s", why);
    big[KKS_DESK_NOTE_MAX] = '\0';
    cr_assert_eq(kks_desk_text_check("note", big, KKS_DESK_NOTE_MAX, why, sizeof why), 0);
    const char *bad[] = {"", "   ", "\x1b[2Jclear", "bell\x07", "nl\n", "del\x7f", "caf\xe9",
                         "\xc0\xaf", "\xed\xa0\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(kks_desk_text_check("resolution", bad[i], 1000, why, sizeof why), KKS_EINVAL,
                     "accepted %zu", i);
    cr_assert(strstr(why, "resolution"), "%s", why);
}

Test(desk, kinds)
{
    cr_assert_eq(kks_desk_kind("lost-card"), KKS_DESK_LOST_CARD);
    cr_assert_eq(kks_desk_kind("transaction"), KKS_DESK_TRANSACTION);
    cr_assert_eq(kks_desk_kind("Lost-Card"), -1);
    cr_assert_eq(kks_desk_kind(NULL), -1);
}

static void policy_file(const char *dir, const char *text)
{
    char p[300];
    snprintf(p, sizeof p, "%s/complaint-policy.csv", dir);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(desk, policy_loads_with_line_numbered_errors)
{
    char dir[] = "/tmp/kks-desk-XXXXXX", err[300];
    kks_desk_policy p;
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(kks_desk_policy_load(&p, KKS_SOURCE_DIR "/seeds", err, sizeof err), 0, "%s", err);
    cr_assert_eq(p.days[KKS_DESK_LOST_CARD], 7);
    policy_file(dir, "kind,days\ndata,0\nlost-card,1\ndisbursement,2\ntransaction,365\n");
    cr_assert_eq(kks_desk_policy_load(&p, dir, err, sizeof err), 0, "%s", err);
    cr_assert_eq(p.days[KKS_DESK_DATA], 0);
    const struct {
        const char *text, *want;
    } bad[] = {
        {"kind,days\ndata,1\nrefund,3\n", "line 3"},
        {"kind,days\ndata,1\ndata,2\n", "given twice"},
        {"kind,days\ndata,-1\n", "line 2"},
        {"kind,days\ndata,366\n", "0..365"},
        {"kind,days\ndata,1\n", "no row for kind lost-card"},
        {"kind,sla\n", "header"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        policy_file(dir, bad[i].text);
        cr_assert_eq(kks_desk_policy_load(&p, dir, err, sizeof err), KKS_EINVAL, "%zu", i);
        cr_assert(strstr(err, bad[i].want), "%zu: %s", i, err);
    }
    char path[300];
    snprintf(path, sizeof path, "%s/complaint-policy.csv", dir);
    unlink(path);
    rmdir(dir);
}

Test(desk, due_dates)
{
    char out[11];
    cr_assert_eq(kks_desk_add_days("2026-12-28", 7, out), 0);
    cr_assert_str_eq(out, "2027-01-04");
    cr_assert_eq(kks_desk_add_days("2028-02-28", 1, out), 0);
    cr_assert_str_eq(out, "2028-02-29");
    cr_assert_eq(kks_desk_add_days("2026-11-24", 0, out), 0);
    cr_assert_str_eq(out, "2026-11-24");
    cr_assert_eq(kks_desk_add_days("2026-02-30", 1, out), KKS_EINVAL);
    cr_assert_eq(kks_desk_add_days("2026-11-24", 400, out), KKS_EINVAL);
}
