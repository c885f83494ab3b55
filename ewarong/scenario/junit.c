/* JUnit XML as Jenkins and GitLab read it: one testsuite per scenario file,
 * one testcase per scenario with its time; a failure carries the failed step,
 * what was expected and the whole reply. */
#include "scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* XML text or attribute: &<>"' escaped; control characters other than tab
 * and newline dropped (XML 1.0 forbids them). */
static void xml(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        switch (ch) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            if (ch >= 0x20 || ch == '\t' || ch == '\n')
                fputc(ch, f);
        }
    }
}

int sc_junit_write(const char *path, const sc_case *cases, size_t n)
{
    char tmp[4200];
    FILE *f;
    size_t total = 0, failed = 0;
    double secs = 0;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!(f = fopen(tmp, "w")))
        return -1;
    for (size_t i = 0; i < n; i++) {
        total++;
        failed += !cases[i].r->passed;
        secs += cases[i].r->seconds;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites name=\"kks-terminal run\" tests=\"%zu\" failures=\"%zu\" time=\"%.3f\">\n",
            total, failed, secs);
    for (size_t i = 0; i < n;) {
        const char *file = cases[i].s->file;
        size_t j = i, nf = 0;
        double t = 0;
        while (j < n && strcmp(cases[j].s->file, file) == 0) {
            nf += !cases[j].r->passed;
            t += cases[j].r->seconds;
            j++;
        }
        fputs("  <testsuite name=\"", f);
        xml(f, file);
        fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"0\" time=\"%.3f\">\n",
                j - i, nf, t);
        for (size_t k = i; k < j; k++) {
            const sc_result *r = cases[k].r;
            fputs("    <testcase classname=\"", f);
            xml(f, file);
            fputs("\" name=\"", f);
            xml(f, cases[k].s->name);
            fprintf(f, "\" time=\"%.3f\"", r->seconds);
            if (r->passed) {
                fputs("/>\n", f);
                continue;
            }
            fputs(">\n      <failure message=\"", f);
            xml(f, r->failure ? r->failure : "failed");
            fputs("\" type=\"ScenarioStepFailed\">", f);
            xml(f, r->failure ? r->failure : "failed");
            if (r->reply) {
                fputs("\nreply: ", f);
                xml(f, r->reply);
            }
            fputs("</failure>\n    </testcase>\n", f);
        }
        fputs("  </testsuite>\n", f);
        i = j;
    }
    fputs("</testsuites>\n", f);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0) {
        unlink(tmp);
        return -1;
    }
    return rename(tmp, path) == 0 ? 0 : -1;
}
