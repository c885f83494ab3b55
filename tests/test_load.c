/* ewarong/load/cards.c: what the card preparation makes of kksctl's results
 * (ld_ctl_result). A rerun against another switch generates new families, and
 * a few of them may share a KK with families enrolled before: kksctl enroll
 * then refuses those rows and exits 1, which the preparation took for a
 * failure and reported as "no reply". */
#include <criterion/criterion.h>
#include <string.h>

#include "kks_err.h"
#include "load.h"

static const char *enrolled_but_one =
    "{\"rows\":2000,\"enrolled\":1999,\"unchanged\":0,\"accounts\":null,\"rejected\":"
    "[{\"line\":467,\"reason\":\"KK 3205052309030101 is already enrolled with other data; one "
    "card per family\"}]}";

Test(load, rows_refused_by_enroll_or_credit_run_leave_the_rest_prepared)
{
    char why[300] = "";
    json_t *j = ld_ctl_result("enroll", 1, enrolled_but_one, "", why, sizeof why);
    cr_assert_not_null(j, "%s", why);
    cr_assert_eq(json_integer_value(json_object_get(j, "enrolled")), 1999);
    json_decref(j);
    j = ld_ctl_result("credit-run", 1, "{\"credited\":1999,\"rejected\":[{\"line\":2}]}", "",
                      why, sizeof why);
    cr_assert_not_null(j, "%s", why);
    json_decref(j);
    j = ld_ctl_result("print", 1, "{\"batch\":0,\"cards\":0}", "", why, sizeof why);
    cr_assert_not_null(j, "%s", why);
    json_decref(j);
    j = ld_ctl_result("handover", 0, "{\"handed_over\":3}", "", why, sizeof why);
    cr_assert_not_null(j, "%s", why);
    json_decref(j);
}

Test(load, a_failure_says_what_kksctl_said_never_no_reply)
{
    char why[300] = "";
    /* a hand-over refused: 1 is a failure for every other command */
    cr_assert_null(ld_ctl_result("handover", 1, "{\"error\":\"batch 7 is not printed\"}", "", why,
                                 sizeof why));
    cr_assert_str_eq(why, "kksctl handover: exit status 1: {\"error\":\"batch 7 is not printed\"}");
    cr_assert_null(ld_ctl_result("enroll", 3, "", "kksctl: cannot reach the issuer\n", why,
                                 sizeof why));
    cr_assert(strstr(why, "cannot reach the issuer"), "%s", why);
    cr_assert_null(ld_ctl_result("enroll", 3, NULL, NULL, why, sizeof why));
    cr_assert_str_eq(why, "kksctl enroll: exit status 3: nothing said");
    cr_assert_null(ld_ctl_result("enroll", -1, NULL, NULL, why, sizeof why));
    cr_assert_str_eq(why, "kksctl enroll: could not be run");
    cr_assert_null(ld_ctl_result("enroll", KKS_EOUTPUT, "{\"rows\":", NULL, why, sizeof why));
    cr_assert_str_eq(why, "kksctl enroll: program output longer than the cap");
    cr_assert_null(ld_ctl_result("enroll", 0, "rows: 2000", NULL, why, sizeof why));
    cr_assert_str_eq(why, "kksctl enroll: its output is not JSON");
    cr_assert(!strstr(why, "no reply"));
}
