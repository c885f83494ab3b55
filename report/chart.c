/* The report pieces: plain fprintf of HTML and SVG. Every chart shares one
 * geometry (below); values map to the plot area by the chart's own scale. */
#include "kr_chart.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* SVG user units; the page shows them 1:1 at 900 px. */
#define W 900
#define PL 80.0 /* plot area: left, right, top (legend above), bottom (x labels below) */
#define PR 860.0
#define PT 48.0
#define PB 272.0
#define H 320
#define SPECTRUM_DECADES 5 /* the spectrum runs to 99.999% */
#define SPECTRUM_POINTS 400

static const char CSS[] =
    "body{font-family:sans-serif;color:#222;max-width:920px;margin:16px auto;padding:0 10px}"
    "h1{font-size:20px}h2{font-size:16px;margin:24px 0 6px}"
    "table{border-collapse:collapse;margin:4px 0}"
    "th,td{padding:3px 12px 3px 0;border-bottom:1px solid #ddd;text-align:left;"
    "vertical-align:top}"
    "th{font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
    "svg{display:block;max-width:100%;height:auto;background:#fff}"
    "svg text{font:12px sans-serif;fill:#333}svg text.big{font-size:16px;fill:#888}"
    ".grid{stroke:#e4e4e4}.axis{stroke:#555}"
    "footer{margin-top:24px;color:#777;font-size:12px}";

/* Text and attribute values: & < > " ' become entities, control characters spaces. */
void kr_esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s, f);
        }
    }
}

/* A latency in ms with the digits that matter: 0.412, 12.35, 1203.4 */
static const char *ms(char buf[32], uint64_t ns)
{
    double v = (double)ns / 1e6;
    snprintf(buf, 32, "%.*f", v < 1 ? 3 : v < 100 ? 2 : 1, v);
    return buf;
}

/* An axis from 0 to top in steps of 1, 2 or 5 times a power of ten, about want of them. */
typedef struct axis {
    double top, step;
    int dec; /* decimals of a tick label */
} axis;

static axis nice_axis(double max, int want, int whole)
{
    if (!(max > 0))
        max = 1;
    double raw = max / want, mag = pow(10, floor(log10(raw))), norm = raw / mag;
    double step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
    if (whole && step < 1)
        step = 1;
    axis a = {ceil(max / step - 1e-9) * step, step, 0};
    if (step < 1)
        a.dec = (int)-floor(log10(step) + 1e-9);
    return a;
}

static void svg_open(FILE *f, int height, const char *title)
{
    fprintf(f, "<svg viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\"><title>", W,
            height, W, height);
    kr_esc(f, title);
    fputs("</title>\n", f);
}

/* The whole chart when there is nothing to draw. */
static void no_data(FILE *f, const char *title)
{
    svg_open(f, 120, title);
    fprintf(f,
            "<rect x=\"%.0f\" y=\"10\" width=\"%.0f\" height=\"100\" fill=\"none\" "
            "class=\"axis\"/><text class=\"big\" x=\"%.0f\" y=\"66\" "
            "text-anchor=\"middle\">no data</text></svg>\n",
            PL, PR - PL, (PL + PR) / 2);
}

/* Entries side by side above the plot area: a short line (or square) and the name. */
static void legend(FILE *f, const char *const *names, const char *const *colors, const int *dashed,
                   int n, int squares)
{
    double x = PL;
    for (int i = 0; i < n; i++) {
        if (squares)
            fprintf(f, "<rect x=\"%.0f\" y=\"14\" width=\"12\" height=\"12\" fill=\"%s\"/>", x,
                    colors[i]);
        else
            fprintf(f,
                    "<line x1=\"%.0f\" y1=\"20\" x2=\"%.0f\" y2=\"20\" stroke=\"%s\" "
                    "stroke-width=\"2.5\"%s/>",
                    x, x + 24, colors[i], dashed && dashed[i] ? " stroke-dasharray=\"5 3\"" : "");
        fprintf(f, "<text x=\"%.0f\" y=\"24\">", x + (squares ? 18 : 30));
        kr_esc(f, names[i]);
        fputs("</text>\n", f);
        x += (squares ? 18 : 30) + 6.5 * (double)strlen(names[i]) + 24;
    }
}

/* Horizontal grid lines with labels on the left, and the y axis title turned up. */
static void y_axis(FILE *f, axis a, const char *title)
{
    for (int k = 0; k * a.step <= a.top + a.step / 2; k++) {
        double v = k * a.step, y = PB - v / a.top * (PB - PT);
        fprintf(f,
                "<line class=\"grid\" x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\"/>"
                "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.*f</text>\n",
                PL, y, PR, y, PL - 6, y + 4, a.dec, v);
    }
    fprintf(f,
            "<text x=\"16\" y=\"%.0f\" text-anchor=\"middle\" "
            "transform=\"rotate(-90 16 %.0f)\">",
            (PT + PB) / 2, (PT + PB) / 2);
    kr_esc(f, title);
    fprintf(f,
            "</text><line class=\"axis\" x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/>"
            "<line class=\"axis\" x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/>\n",
            PL, PT, PL, PB, PL, PB, PR, PB);
}

/* The x axis of the time charts: seconds from the start, 0 .. xmax. */
static void time_axis(FILE *f, double xmax)
{
    axis a = nice_axis(xmax, 8, xmax >= 8);
    for (int k = 0; k * a.step <= xmax + 1e-9; k++) {
        double x = PL + k * a.step / xmax * (PR - PL);
        fprintf(f,
                "<line class=\"axis\" x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\"/>"
                "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.*f</text>\n",
                x, PB, x, PB + 5, x, PB + 18, a.dec, k * a.step);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">time (s)</text>\n",
            (PL + PR) / 2, PB + 38);
}

static double series_max(const kr_series *s)
{
    double m = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->y[i] > m) /* false for NAN */
            m = s->y[i];
    return m;
}

static size_t series_points(const kr_series *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        k += !isnan(s->y[i]);
    return k;
}

/* A series as one polyline. With more points than two a pixel column, a column
 * keeps only its lowest and highest point (in time order), so spikes and dips
 * stay while the size stays bounded. A series of one point is drawn as a level
 * line across, not as an invisible dot. */
static void polyline(FILE *f, const kr_series *s, double xmax, double top)
{
    const double width = PR - PL;
    const size_t cols = (size_t)width;
    size_t points = series_points(s);
    fprintf(f,
            "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" "
            "stroke-linejoin=\"round\"%s points=\"",
            s->color, s->dashed ? " stroke-dasharray=\"5 3\"" : "");
    for (size_t i = 0; i < s->n;) {
        double cx = s->x[i] / xmax * (double)cols;
        size_t col = cx < 0 ? 0 : cx >= (double)cols ? cols - 1 : (size_t)cx, j = i;
        size_t lo = SIZE_MAX, hi = SIZE_MAX;
        do { /* the points of this column, or only point i when there are few */
            if (!isnan(s->y[j])) {
                if (lo == SIZE_MAX || s->y[j] < s->y[lo])
                    lo = j;
                if (hi == SIZE_MAX || s->y[j] > s->y[hi])
                    hi = j;
            }
            j++;
        } while (points > 2 * cols && j < s->n && s->x[j] / xmax * (double)cols < (double)col + 1);
        i = j;
        if (lo == SIZE_MAX)
            continue;
        size_t pick[2] = {lo < hi ? lo : hi, lo < hi ? hi : lo};
        for (int k = 0; k < (pick[0] == pick[1] ? 1 : 2); k++) {
            double y = PB - s->y[pick[k]] / top * (PB - PT);
            if (points == 1)
                fprintf(f, "%.1f,%.1f %.1f,%.1f", PL, y, PR, y);
            else
                fprintf(f, "%.1f,%.1f ", PL + s->x[pick[k]] / xmax * width, y);
        }
    }
    fputs("\"/>\n", f);
}

void kr_time_chart(FILE *f, const char *title, const char *unit, double xmax,
                   const kr_series *ss, int nss)
{
    if (nss < 1 || series_points(&ss[0]) == 0 || !(xmax > 0)) {
        no_data(f, title);
        return;
    }
    const char *names[8], *colors[8];
    int dashed[8], shown[8], m = 0;
    double top = 0;
    for (int i = 0; i < nss && i < 8; i++) {
        double mx = series_max(&ss[i]);
        shown[i] = !ss[i].optional || mx > 0;
        if (!shown[i])
            continue;
        names[m] = ss[i].name;
        colors[m] = ss[i].color;
        dashed[m++] = ss[i].dashed;
        if (mx > top)
            top = mx;
    }
    axis a = nice_axis(top, 5, 0);
    svg_open(f, H, title);
    legend(f, names, colors, dashed, m, 0);
    y_axis(f, a, unit);
    time_axis(f, xmax);
    for (int i = 0; i < nss && i < 8; i++)
        if (shown[i])
            polyline(f, &ss[i], xmax, a.top);
    fputs("</svg>\n", f);
}

/* x of a percentile on the spectrum's scale: -log10(1 - p), 0 .. SPECTRUM_DECADES */
static double spectrum_x(double decades)
{
    return PL + decades / SPECTRUM_DECADES * (PR - PL);
}

void kr_spectrum(FILE *f, const char *title, const kr_hist *h)
{
    if (!h || h->total == 0) {
        no_data(f, title);
        return;
    }
    double pmax = 1 - pow(10, -SPECTRUM_DECADES);
    axis a = nice_axis((double)kr_hist_quantile(h, pmax) / 1e6, 5, 0);
    static const char *const names[] = {"latency at percentile"};
    static const char *const colors[] = {KR_BLUE};
    svg_open(f, H, title);
    legend(f, names, colors, NULL, 1, 0);
    y_axis(f, a, "latency (ms)");
    static const char *const ticks[] = {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"};
    for (int k = 0; k <= SPECTRUM_DECADES; k++) {
        double x = spectrum_x(k);
        fprintf(f,
                "<line class=\"grid\" x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\"/>"
                "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>\n",
                x, PT, x, PB + 5, x, PB + 18, ticks[k]);
    }
    fprintf(f,
            "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">percentile "
            "(log scale of 1/(1-p))</text>\n",
            (PL + PR) / 2, PB + 38);
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", KR_BLUE);
    for (int k = 0; k <= SPECTRUM_POINTS; k++) {
        double d = (double)SPECTRUM_DECADES * k / SPECTRUM_POINTS;
        double v = (double)kr_hist_quantile(h, 1 - pow(10, -d)) / 1e6;
        fprintf(f, "%.1f,%.1f ", spectrum_x(d), PB - v / a.top * (PB - PT));
    }
    fputs("\"/>\n</svg>\n", f);
}

void kr_percentile_table(FILE *f, const kr_hist *h, const char *what)
{
    static const struct {
        const char *name;
        double q;
    } cols[] = {{"p50", .5},     {"p90", .9},       {"p99", .99},
                {"p99.9", .999}, {"p99.99", .9999}, {"max", 1}};
    char b[32];
    fputs("<table><tr><th class=\"n\">", f);
    kr_esc(f, what);
    fputs("</th>", f);
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
        fprintf(f, "<th class=\"n\">%s</th>", cols[i].name);
    fputs("<th class=\"n\">min</th><th class=\"n\">mean</th></tr>\n<tr>", f);
    uint64_t n = h ? h->total : 0;
    fprintf(f, "<td class=\"n\">%llu</td>", (unsigned long long)n);
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
        fprintf(f, "<td class=\"n\">%s</td>", n ? ms(b, kr_hist_quantile(h, cols[i].q)) : "-");
    fprintf(f, "<td class=\"n\">%s</td>", n ? ms(b, h->min) : "-");
    fprintf(f, "<td class=\"n\">%s</td></tr></table>\n",
            n ? ms(b, (uint64_t)(h->sum / (double)n)) : "-");
    fputs("<p>Latencies in ms. Above p99.9 a few values decide the figure: read it with the "
          "count.</p>\n",
          f);
}

void kr_bars(FILE *f, const char *title, const char *unit, const kr_bar *bars, size_t n,
             const char *const *legend_names, const char *const *legend_colors, int nlegend)
{
    uint64_t total = 0, top = 0;
    int rows = 0;
    for (size_t i = 0; i < n; i++) {
        total += bars[i].n;
        rows += bars[i].n > 0;
        if (bars[i].n > top)
            top = bars[i].n;
    }
    if (total == 0) {
        no_data(f, title);
        return;
    }
    const double bl = 360, br = 740, row = 24, y0 = PT;
    axis a = nice_axis((double)top, 5, 1);
    int height = (int)(y0 + rows * row + 48);
    svg_open(f, height, title);
    legend(f, legend_names, legend_colors, NULL, nlegend, 1);
    double yb = y0 + rows * row;
    for (int k = 0; k * a.step <= a.top + a.step / 2; k++) {
        double x = bl + k * a.step / a.top * (br - bl);
        fprintf(f,
                "<line class=\"grid\" x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\"/>"
                "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.0f</text>\n",
                x, y0, x, yb + 5, x, yb + 18, k * a.step);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">", (bl + br) / 2, yb + 38);
    kr_esc(f, unit);
    fprintf(f, "</text><line class=\"axis\" x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/>\n",
            bl, y0, bl, yb);
    double y = y0;
    for (size_t i = 0; i < n; i++) {
        if (bars[i].n == 0)
            continue;
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">", bl - 8, y + 16);
        kr_esc(f, bars[i].label);
        double w = (double)bars[i].n / a.top * (br - bl);
        fprintf(f,
                "</text><rect x=\"%.0f\" y=\"%.0f\" width=\"%.1f\" height=\"%.0f\" "
                "fill=\"%s\"/><text x=\"%.1f\" y=\"%.0f\">%llu (%.1f%%)</text>\n",
                bl, y + 4, w, row - 7, bars[i].color, bl + w + 6, y + 16,
                (unsigned long long)bars[i].n, 100.0 * (double)bars[i].n / (double)total);
        y += row;
    }
    fputs("</svg>\n", f);
}

void kr_kv_table(FILE *f, const kr_kv *kv, size_t n)
{
    if (n == 0) {
        fputs("<p>none</p>\n", f);
        return;
    }
    fputs("<table>\n", f);
    for (size_t i = 0; i < n; i++) {
        fputs("<tr><th>", f);
        kr_esc(f, kv[i].key);
        fputs("</th><td>", f);
        kr_esc(f, kv[i].value);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

void kr_page_open(FILE *f, const char *title)
{
    /* The policy makes "nothing is fetched" hold even for a string that got past kr_esc. */
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" "
          "content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
          "<meta name=\"viewport\" content=\"width=device-width\">\n<title>",
          f);
    kr_esc(f, title);
    fprintf(f, "</title>\n<style>%s</style></head>\n<body>\n<h1>", CSS);
    kr_esc(f, title);
    fputs("</h1>\n", f);
}

void kr_page_close(FILE *f, const char *footer)
{
    fputs("<footer>", f);
    kr_esc(f, footer);
    fputs("</footer>\n</body></html>\n", f);
}

void kr_h2(FILE *f, const char *text)
{
    fputs("<h2>", f);
    kr_esc(f, text);
    fputs("</h2>\n", f);
}

void kr_para(FILE *f, const char *text)
{
    fputs("<p>", f);
    kr_esc(f, text);
    fputs("</p>\n", f);
}

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int kr_write(const char *path, kr_body_fn body, const void *ud, char *err, size_t cap)
{
    if (!body || !path || !*path)
        return fail(err, cap, "no report or no path");
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base)
        return fail(err, cap, "%s: not a file name", path);
    char tmp[PATH_MAX];
    int len = snprintf(tmp, sizeof tmp, "%.*s.%s.XXXXXX", (int)(base - path), path, base);
    if (len < 0 || (size_t)len >= sizeof tmp)
        return fail(err, cap, "%s: path too long", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return fail(err, cap, "cannot create a file beside %s: %s", path, strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return fail(err, cap, "%s: %s", tmp, strerror(e));
    }
    fchmod(fd, 0644); /* mkstemp's 0600 would hide the report from the team */
    body(f, ud);
    int e = 0;
    errno = 0;
    if (fflush(f) != 0 || ferror(f))
        e = errno ? errno : EIO;
    else if (fsync(fd) != 0)
        e = errno;
    if (fclose(f) != 0 && !e)
        e = errno;
    if (!e && rename(tmp, path) != 0)
        e = errno;
    if (e) {
        unlink(tmp);
        return fail(err, cap, "cannot write %s: %s", path, strerror(e));
    }
    return 0;
}
