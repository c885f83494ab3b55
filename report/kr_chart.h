/* The pieces of the HTML reports (kks-terminal load --report, kksctl credit-run
 * --report): one self-contained page (inline CSS, inline SVG charts drawn here,
 * no script, nothing fetched; a Content-Security-Policy says so), readable at
 * ~900 px. A report is a body function that calls these in order between
 * kr_page_open and kr_page_close; kr_write runs it into a temporary file beside
 * the target and renames it over the target once complete.
 *
 * Every string given here is escaped (settings come from the command line).
 * A chart without data says "no data". Long runs stay small: a series keeps at
 * most two points per pixel column (the smallest and largest of the points
 * that fall in it, in time order). Nothing here divides by a count that can be
 * zero: an empty chart is drawn before any scale is made. */
#ifndef KR_CHART_H
#define KR_CHART_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kr_hist.h"

/* The colours every report uses (SVG colour values). */
#define KR_BLUE "#1f77b4"
#define KR_GREEN "#2ca02c"
#define KR_RED "#d62728"
#define KR_ORANGE "#ff7f0e"
#define KR_PURPLE "#9467bd"

typedef struct kr_kv {
    const char *key, *value;
} kr_kv;

/* A series of a time chart: n points (x in seconds from the start, ascending;
 * y NAN: no point there). optional: left out, legend too, when no y is above 0. */
typedef struct kr_series {
    const char *name, *color;
    const double *x, *y;
    size_t n;
    int dashed, optional;
} kr_series;

/* A bar of a bar chart: its label, its count and its colour. */
typedef struct kr_bar {
    const char *label, *color;
    uint64_t n;
} kr_bar;

/* The document's head, the style, and the title as its heading. */
void kr_page_open(FILE *f, const char *title);
/* The footer line and the end of the document. */
void kr_page_close(FILE *f, const char *footer);
/* A section heading, and a paragraph of text. */
void kr_h2(FILE *f, const char *text);
void kr_para(FILE *f, const char *text);
/* Text and attribute values: & < > " ' become entities, control characters spaces. */
void kr_esc(FILE *f, const char *s);
/* A two-column table (key, value); "none" when n is 0. */
void kr_kv_table(FILE *f, const kr_kv *kv, size_t n);

/* A chart of series over time: x from 0 to xmax seconds, y from 0 (unit names
 * the y axis). "no data" when the first series has no point. At most 8 series. */
void kr_time_chart(FILE *f, const char *title, const char *unit, double xmax,
                   const kr_series *ss, int nss);

/* The percentile spectrum of h (x: 0% .. 99.999% on the log scale of 1/(1-p),
 * y: ms), and a table of p50 .. p99.99, max, min and mean in ms; what names
 * the counted things ("latencies", "batches"). */
void kr_spectrum(FILE *f, const char *title, const kr_hist *h);
void kr_percentile_table(FILE *f, const kr_hist *h, const char *what);

/* Horizontal bars, one a kr_bar, with its count and its share of the total;
 * unit names the x axis; a legend of nlegend coloured squares above. "no data"
 * when every count is 0 (bars with a count of 0 are left out). */
void kr_bars(FILE *f, const char *title, const char *unit, const kr_bar *bars, size_t n,
             const char *const *legend_names, const char *const *legend_colors, int nlegend);

/* Writes a page to path atomically: body(f, ud) into a temporary file in the
 * same directory (mode 0644: a report holds no personal data), flushed and
 * synced, then renamed over path. 0, or -1 with the reason in err (may be NULL);
 * nothing is left behind on failure. */
typedef void (*kr_body_fn)(FILE *f, const void *ud);
int kr_write(const char *path, kr_body_fn body, const void *ud, char *err, size_t cap);

#endif
