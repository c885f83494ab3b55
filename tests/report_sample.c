/* Writes the report of a made-up three-minute run to the path given: 300 requests a
 * second with log-normal latencies, a slow patch at 60 s where the generator falls
 * behind, and a three-second switch outage at 120 s. With --empty: the report of a
 * run that measured nothing. For e2e_report_chromium.sh and for a person who wants
 * to see the report without a switch.
 *
 * usage: report_sample PATH [--empty] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define SECONDS 180
#define RATE 300

static uint64_t state = 2026;
static double unit(void) /* (0, 1), xorshift64 */
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return ((double)(state >> 11) + 0.5) / 9007199254740992.0;
}

/* The response code of an answered request, by the share a bank sees. */
static int code(int outage_edge)
{
    double u = unit();
    if (outage_edge && u < 0.3)
        return 91;
    return u < 0.92 ? 0 : u < 0.96 ? 51 : u < 0.98 ? 55 : u < 0.99 ? 5 : u < 0.995 ? 61 : 14;
}

int main(int argc, char **argv)
{
    int empty = argc == 3 && strcmp(argv[2], "--empty") == 0;
    if (argc != 2 && !empty) {
        fprintf(stderr, "usage: report_sample PATH [--empty]\n");
        return 2;
    }
    static kl_second secs[SECONDS];
    static kr_hist all, sec;
    static uint64_t codes[100];
    uint64_t errors = 0, answered = 0, approved = 0, behind = 0;
    kr_hist_init(&all);
    for (int i = 0; i < SECONDS; i++) {
        kl_second *s = &secs[i];
        int slow = i >= 60 && i < 66, down = i >= 120 && i < 123;
        kr_hist_init(&sec);
        for (int k = 0; k < RATE; k++) {
            if (down) {
                s->errors++;
                continue;
            }
            double z = sqrt(-2 * log(unit())) * cos(2 * M_PI * unit());
            double ns = exp(log(4e6) + 0.45 * z) * (slow ? 12 : 1);
            if (unit() < 0.0005)
                ns += 150e6; /* a rare retransmission */
            kr_hist_add(&sec, (uint64_t)ns);
            int c = code(i == 119 || i == 123);
            s->codes[c]++;
            s->answered++;
            s->approved += c == 0;
            s->behind += slow && k > RATE / 3;
        }
        s->p50 = kr_hist_quantile(&sec, .5);
        s->p90 = kr_hist_quantile(&sec, .9);
        s->p99 = kr_hist_quantile(&sec, .99);
        s->p999 = kr_hist_quantile(&sec, .999);
        s->max = kr_hist_quantile(&sec, 1);
        kr_hist_merge(&all, &sec);
        for (int c = 0; c < 100; c++)
            codes[c] += s->codes[c];
        errors += s->errors;
        answered += s->answered;
        approved += s->approved;
        behind += s->behind;
    }
    char lines[8][64];
    snprintf(lines[0], 64, "%.1f/s", (double)answered / SECONDS);
    snprintf(lines[1], 64, "%.1f/s", (double)approved / SECONDS);
    snprintf(lines[2], 64, "%.2f ms", (double)kr_hist_quantile(&all, .5) / 1e6);
    snprintf(lines[3], 64, "%.2f ms", (double)kr_hist_quantile(&all, .99) / 1e6);
    snprintf(lines[4], 64, "%.2f ms", (double)kr_hist_quantile(&all, .999) / 1e6);
    snprintf(lines[5], 64, "yes: %llu requests started > 1 ms late", (unsigned long long)behind);
    snprintf(lines[6], 64, "%llu", (unsigned long long)errors);
    const kr_kv settings[] = {
        {"terminals", "50 (EDC 40, ATM 10)"},
        {"mix", "purchase 70%, withdrawal 20%, balance 10%"},
        {"model", "open"},
        {"rate", "300/s"},
        {"duration", "180 s"},
        {"warmup", "10 s (not measured)"},
        {"switch", "127.0.0.1:7443 (TLS)"},
    };
    const kr_kv summary[] = {
        {"throughput answered", lines[0]},
        {"throughput approved", lines[1]},
        {"p50", lines[2]},
        {"p99", lines[3]},
        {"p99.9", lines[4]},
        {"generator CPU", "31% of one core"},
        {"fell behind", lines[5]},
        {"transport errors", lines[6]},
        {"threshold p99 < 50 ms", "pass"},
        {"threshold errors = 0", "FAIL"},
    };
    kl_report r = {
        .title = "kks-terminal load, 2026-12-02 05:10 UTC (sample data)",
        .settings = settings,
        .nsettings = sizeof settings / sizeof settings[0],
        .summary = summary,
        .nsummary = sizeof summary / sizeof summary[0],
        .secs = secs,
        .nsecs = SECONDS,
        .all = &all,
        .codes = codes,
        .errors = errors,
    };
    if (empty) {
        kr_hist_init(&all);
        memset(codes, 0, sizeof codes);
        r = (kl_report){.title = "kks-terminal load (sample: nothing measured)",
                        .all = &all,
                        .codes = codes,
                        .settings = settings,
                        .nsettings = 1};
    }
    char err[512];
    if (kl_report_html(&r, argv[1], err, sizeof err) != 0) {
        fprintf(stderr, "report_sample: %s\n", err);
        return 1;
    }
    return 0;
}
