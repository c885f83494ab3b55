/* kksctl gen population: a synthetic DTSEN registry extract (SPEC §10) on stdout.
 *
 * One row per family: the card holder's KK, NIK, name, birth date, sex and address, the welfare
 * decile, the bank and the programme components. The output depends only on (families, seed,
 * city): no clock, no C library random numbers, no locale.
 *
 * Identity numbers are unique by construction, not by luck:
 *   NIK = kecamatan(6) DDMMYY(DD+40 for women) seq(4). Row i falls in block q = i / B, where
 *         B = kecamatan count x birth days x 4. Inside a block a keyed Feistel permutation
 *         (cycle-walked onto [0, B)) turns i % B into a distinct (kecamatan, birth day, s);
 *         seq = base + 4q + s. Sex does not take part, so NIKs stay unique whatever it is.
 *   KK  = kecamatan(6) DDMMYY(registration day) serial(4). Block q = i / R, R = registration
 *         days 1998-01-01..2025-12-31 (10,227); a permutation of i % R gives the day and
 *         serial = base + q. (day, serial) is distinct for every row, so KKs are unique whatever
 *         the kecamatan; 100,000,000 rows need 9,779 serials.
 * The sample extracts in seeds/ are made with --sample, which starts both numbers at 1 and is
 * limited to GEN_SAMPLE_MAX families, so they use only serials and sequences 1..4. Without it
 * base is GEN_SAMPLE_RESERVED + 1: a generated population never reuses a KK or NIK of a sample
 * extract, whatever its seed, and the two can be enrolled into one issuer.
 * Everything else (sex, name, address, decile, bank, components) comes from a splitmix64
 * stream seeded with (seed, i), so each row is independent of the others.
 *
 * Places come from the seeds directory: the city's kecamatan (kecamatan.csv, file order), their
 * kelurahan (kelurahan.csv) and their streets (streets.csv), so that every row passes the
 * issuer's registry rules. Holders are born 1950-01-01..2004-12-31 (earlier still if the
 * registry policy's minimum age asks for it) and deciles are kept inside the policy's range. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "kks_csv.h"
#include "kks_seeds.h"

#define GEN_MAX_FAMILIES 100000000LL
#define GEN_ROW_CAP 1024
#define GEN_OUTBUF (1u << 20)
#define GEN_REF_YEAR 2026 /* "now" for ages, fixed so the output never changes */
#define GEN_NIK_SLOTS 4   /* NIK sequence numbers per (kecamatan, birth day) in one block */
#define GEN_SAMPLE_RESERVED 100 /* KK serials and NIK sequences 1..100 belong to --sample */
#define GEN_SAMPLE_MAX 10000     /* --sample families: serials and sequences stay below 5 */
#define GEN_MAX_STREETS 4096
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char gen_usage[] =
    "usage: kksctl gen population --families N [--seed S] [--city CODE] [--sample]\n"
    "                             [--seeds DIR]\n"
    "  --families N  families (rows) to write, 1..100000000\n"
    "  --seed S      PRNG seed, a decimal number (default 1); same N, S and CODE give the\n"
    "                same bytes\n"
    "  --city CODE   4-digit regency/city code with kecamatan in the seeds (default 1271,\n"
    "                Kota Medan; 3171 is Jakarta Pusat)\n"
    "  --sample      number KKs and NIKs from the range kept for the sample extracts\n"
    "                (at most 10000 families); without it, no KK or NIK of a sample\n"
    "                extract is ever written\n"
    "  --seeds DIR   kecamatan, kelurahan, streets and registry policy (default\n"
    "                $KKS_SEEDS, else the installed share/kks/seeds, else the source\n"
    "                tree's)\n"
    "Writes a synthetic DTSEN registry extract (the enrolment CSV) on stdout.\n";

static const char gen_header[] =
    "kk,nik,name,birth_date,sex,address,kelurahan,kecamatan,city_code,decile,bank,pkh_pregnant,"
    "pkh_early_childhood,pkh_sd,pkh_smp,pkh_sma,pkh_disability,pkh_elderly,bpnt\n";

/* ---- places ---------------------------------------------------------------------------- */

/* Streets of each kecamatan (streets.csv), and the places of the city being generated. */
typedef struct gen_places {
    kks_seeds seeds;
    char street[GEN_MAX_STREETS][KKS_PLACE_NAME];
    int street_kec[GEN_MAX_STREETS]; /* kecamatan index in seeds */
    int nstreets;
} gen_places;

/* clang-format off */
static const char *const gen_gangs[] = {
    "Mawar", "Melati", "Kenanga", "Anggrek", "Dahlia", "Cempaka", "Flamboyan", "Sepakat", "Rukun",
    "Damai", "Keluarga", "Bersama", "Sederhana", "Masjid", "Mushola", "Sejahtera", "Pendidikan",
    "Amal", "Ikhlas", "Setia", "Famili", "Bakti", "Saudara", "Langgar", "Swadaya", "Pertama",
    "Buntu", "Murni"};

static const char *const gen_roman[] = {
    "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV"};

/* ---- people ---------------------------------------------------------------------------- */

enum { GRP_BATAK, GRP_MALAY_JAVA, GRP_MINANG, GRP_CHINESE, GRP_N };

static const char *const gen_batak_f[] = {
    "Rosmawati", "Lasmaria", "Romauli", "Tiurma", "Rugun", "Dameria", "Hotmaida", "Rismawati",
    "Nurmala", "Marlina", "Sondang", "Lamtiar", "Erna", "Juliana", "Rotua", "Masdiana", "Roslina",
    "Mariani", "Herawati", "Deliana", "Rosdiana", "Tetty", "Melva", "Friska", "Sarma", "Riama",
    "Nurhayati", "Hotnida"};
static const char *const gen_batak_m[] = {
    "Togar", "Parulian", "Hotman", "Marihot", "Binsar", "Sahat", "Bonar", "Tumpal", "Poltak",
    "Maruli", "Jhonson", "Darwin", "Mangatas", "Gomgom", "Hasudungan", "Amran", "Ridwan",
    "Syahrial", "Lamhot", "Monang", "Jonner", "Torang"};
static const char *const gen_batak_marga[] = {
    "Siregar", "Nasution", "Harahap", "Lubis", "Simanjuntak", "Sitompul", "Hutapea", "Sinaga",
    "Situmorang", "Simbolon", "Pardede", "Tambunan", "Panjaitan", "Manurung", "Sihombing",
    "Hutagalung", "Silalahi", "Ginting", "Tarigan", "Sembiring", "Purba", "Saragih", "Damanik",
    "Sitepu", "Pohan", "Daulay", "Batubara", "Rangkuti", "Hasibuan", "Pulungan", "Ritonga",
    "Napitupulu", "Siahaan", "Sirait", "Nainggolan", "Marpaung", "Pasaribu", "Gultom", "Sitorus",
    "Barus", "Sinulingga", "Girsang"};

/* Malay and Javanese names, by generation: holders born before 1978, and from 1978 on. */
static const char *const gen_malay_f_old[] = {
    "Siti Aminah", "Sumiati", "Suparmi", "Ponirah", "Wagiyem", "Sulastri", "Mardiah", "Rosmiati",
    "Zubaidah", "Syarifah", "Sumarni", "Tumini", "Fatimah", "Salmiah", "Rukiah", "Mariyam",
    "Kasmini", "Painem", "Ernawati", "Nurhasanah", "Suriani", "Sri Rahayu", "Dewi Sartika",
    "Rahmawati", "Sri Wahyuni"};
static const char *const gen_malay_f_new[] = {
    "Rina Syahfitri", "Nadia Syahfitri", "Anggi Pratiwi", "Wulan Dari", "Putri Ayu Lestari",
    "Nurul Hidayah", "Dewi Anggraini", "Yuliani", "Ratna Sari", "Nur Aini", "Khairani", "Suryani",
    "Yusnita", "Puji Astuti", "Sri Handayani", "Rahmawati", "Sri Wahyuni", "Indah Permata Sari",
    "Fitri Handayani", "Ayu Lestari"};
static const char *const gen_malay_m_old[] = {
    "Sugianto", "Suparman", "Sukirman", "Ponimin", "Misran", "Junaidi", "Herman", "Syamsul Bahri",
    "Abdul Rahman", "Zulkifli", "Azhar", "Budi Santoso", "Joko Susilo", "Agus Salim", "Wahyudi",
    "Tri Sutrisno", "Paiman", "Sutrisno"};
static const char *const gen_malay_m_new[] = {
    "Muhammad Rizki", "Ilham Syahputra", "Andi Syahputra", "Dedi Irawan", "Rahmat Hidayat",
    "Muhammad Yusuf", "Ahmad Fauzi", "Khairul Anwar", "Syahrul", "Fajar Ramadhan", "Rizky Pratama",
    "Hendra Gunawan", "Wahyudi", "Agus Setiawan"};

static const char *const gen_minang_f[] = {
    "Yusnidar", "Rosnelli", "Nurlela", "Erniwati", "Fitri Yeni", "Elvi Yanti", "Desmawati",
    "Yulnida", "Asnimar", "Nurbaiti", "Yusmaniar", "Nelly Marlina", "Zuraida", "Warnidar",
    "Syafrida", "Yenti", "Rosmaniar", "Elfida"};
static const char *const gen_minang_m[] = {
    "Syafrizal", "Zulhendri", "Afrizal", "Yusrizal", "Nofrizal", "Hendri", "Asrul", "Zulfikar",
    "Amiruddin", "Jasman", "Syamsuar", "Darmawan", "Yuskardi", "Efendi"};
static const char *const gen_minang_suku[] = {
    "Tanjung", "Chaniago", "Piliang", "Sikumbang", "Koto", "Jambak", "Guci", "Melayu"};

static const char *const gen_chinese_f[] = {
    "Lina", "Yenny", "Susanti", "Meiliana", "Erlina", "Lili", "Fenny", "Winny", "Lisa", "Suwarni",
    "Meliani", "Jenny", "Linda", "Rosalina"};
static const char *const gen_chinese_m[] = {
    "Hendra", "Sutrisno", "Rudy", "Suwandi", "Johan", "Tjandra", "Hartono", "Wiliam", "Edy",
    "Benny", "Hasan", "Sunardi"};
static const char *const gen_chinese_sur[] = {
    "Wijaya", "Halim", "Gunawan", "Tanjaya", "Salim", "Kusuma", "Santoso", "Lim", "Tan", "Lie",
    "Chandra", "Susanto"};
/* Hokkien names as older Medan residents carry them on their KTP. */
static const char *const gen_chinese_full_f[] = {
    "Lim Siu Lan", "Ng Ah Moi", "Ong Siew Ling", "Khoo Ah Lian", "Chew Mei Ling", "Tan Siok Hoa"};
static const char *const gen_chinese_full_m[] = {
    "Tan Bun Kiat", "Tjong A Hok", "Lim Ah Huat", "Tan Kim Seng", "Lie Kim Hwa", "Ng Tjoe Liang"};
/* clang-format on */

/* ---- small tools ----------------------------------------------------------------------- */

typedef struct gen_rng {
    uint64_t s;
} gen_rng;

static uint64_t gen_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* splitmix64 */
static uint64_t rng_next(gen_rng *r)
{
    r->s += 0x9e3779b97f4a7c15ULL;
    return gen_mix(r->s);
}

/* Uniform in [0, n), n > 0 (the bias of a 64-bit modulo is far below what anyone sees). */
static unsigned rng_below(gen_rng *r, unsigned n)
{
    return (unsigned)(rng_next(r) % n);
}

/* An index into w[0..n-1] drawn with the given weights. */
static unsigned rng_weighted(gen_rng *r, const unsigned char *w, unsigned n)
{
    unsigned total = 0, i, x;
    for (i = 0; i < n; i++)
        total += w[i];
    x = rng_below(r, total);
    for (i = 0; i + 1 < n && x >= w[i]; i++)
        x -= w[i];
    return i;
}

#define PICK(r, arr) ((arr)[rng_below((r), (unsigned)NELEM(arr))])

/* A keyed permutation of [0, n): a 4-round Feistel network on 2*half bits, cycle-walked until the
 * value lands in range. half is the least with 4^half >= n, so fewer than 4 walks on average. */
typedef struct gen_perm {
    uint64_t n, key;
    unsigned half;
} gen_perm;

static void perm_init(gen_perm *p, uint64_t n, uint64_t key)
{
    p->n = n;
    p->key = key;
    p->half = 1;
    while ((1ULL << (2 * p->half)) < n)
        p->half++;
}

static uint64_t perm_apply(const gen_perm *p, uint64_t x, uint64_t tweak)
{
    const uint64_t mask = (1ULL << p->half) - 1;
    do {
        uint64_t l = x >> p->half, r = x & mask;
        for (uint64_t k = 0; k < 4; k++) {
            uint64_t t = l ^ (gen_mix(r ^ p->key ^ tweak ^ (k << 56)) & mask);
            l = r;
            r = t;
        }
        x = (l << p->half) | r;
    } while (x >= p->n);
    return x;
}

/* Days since 1970-01-01 <-> proleptic Gregorian date (H. Hinnant's algorithms). */
static long days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long)doe - 719468;
}

static void civil_from_days(long z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)((long)yoe + era * 400 + (*m <= 2));
}

/* One output row, built in place; overflow is remembered, never written past. */
typedef struct gen_row {
    char b[GEN_ROW_CAP];
    size_t n;
    int overflow;
} gen_row;

static void row_raw(gen_row *w, const char *s, size_t len)
{
    if (len > sizeof w->b - w->n) {
        w->overflow = 1;
        return;
    }
    memcpy(w->b + w->n, s, len);
    w->n += len;
}

static void row_char(gen_row *w, char c)
{
    row_raw(w, &c, 1);
}

/* v in decimal, left-padded with zeros to width digits (width 0: as many as needed). */
static void row_uint(gen_row *w, uint64_t v, unsigned width)
{
    char tmp[24];
    unsigned n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < sizeof tmp);
    while (n < width && n < sizeof tmp)
        tmp[sizeof tmp - 1 - n++] = '0';
    row_raw(w, tmp + sizeof tmp - n, n);
}

/* A CSV field (RFC 4180: quoted, with quotes doubled, only when it has to be), then sep. */
static void row_field(gen_row *w, const char *s, char sep)
{
    if (!strpbrk(s, ",\"\r\n")) {
        row_raw(w, s, strlen(s));
    } else {
        row_char(w, '"');
        for (; *s; s++) {
            if (*s == '"')
                row_char(w, '"');
            row_char(w, *s);
        }
        row_char(w, '"');
    }
    row_char(w, sep);
}

/* ---- one family ------------------------------------------------------------------------ */

typedef struct gen_city {
    unsigned code; /* 4 digits */
    int medan;
    unsigned nkec;
    const kks_kecamatan *kec[KKS_MAX_KECAMATAN]; /* the city's, in kecamatan.csv order */
    const char *streets[KKS_MAX_KECAMATAN][64];  /* per kecamatan, at most 64 */
    unsigned nstreets[KKS_MAX_KECAMATAN];
    const kks_seeds *seeds;
    unsigned char groups[GRP_N]; /* name-group weights for this province */
} gen_city;

typedef struct gen_family {
    unsigned pregnant, early, sd, smp, sma, disability, elderly, bpnt;
} gen_family;

static void gen_name(gen_rng *r, const gen_city *c, int female, int year, char *out, size_t cap)
{
    int old = year < 1978;
    unsigned g = rng_weighted(r, c->groups, GRP_N), x = rng_below(r, 100);
    switch (g) {
    case GRP_BATAK:
        if (female && x < 55)
            snprintf(out, cap, "%s Br %s", PICK(r, gen_batak_f), PICK(r, gen_batak_marga));
        else if (female && x < 75)
            snprintf(out, cap, "%s", PICK(r, gen_batak_f));
        else
            snprintf(out, cap, "%s %s", female ? PICK(r, gen_batak_f) : PICK(r, gen_batak_m),
                     PICK(r, gen_batak_marga));
        break;
    case GRP_MINANG:
        if (x < 40)
            snprintf(out, cap, "%s %s", female ? PICK(r, gen_minang_f) : PICK(r, gen_minang_m),
                     PICK(r, gen_minang_suku));
        else
            snprintf(out, cap, "%s", female ? PICK(r, gen_minang_f) : PICK(r, gen_minang_m));
        break;
    case GRP_CHINESE:
        if (x < 20)
            snprintf(out, cap, "%s",
                     female ? PICK(r, gen_chinese_full_f) : PICK(r, gen_chinese_full_m));
        else
            snprintf(out, cap, "%s %s", female ? PICK(r, gen_chinese_f) : PICK(r, gen_chinese_m),
                     PICK(r, gen_chinese_sur));
        break;
    default:
        if (female)
            snprintf(out, cap, "%s", old ? PICK(r, gen_malay_f_old) : PICK(r, gen_malay_f_new));
        else
            snprintf(out, cap, "%s", old ? PICK(r, gen_malay_m_old) : PICK(r, gen_malay_m_new));
        break;
    }
}

static void gen_address(gen_rng *r, const gen_city *c, unsigned kec, char *out, size_t cap)
{
    const char *street = c->streets[kec][rng_below(r, c->nstreets[kec])];
    char gang[48] = "", area[32];
    unsigned no = 1 + rng_below(r, rng_below(r, 4) ? 120 : 400);
    if (rng_below(r, 100) < 55)
        snprintf(gang, sizeof gang, " Gg. %s", PICK(r, gen_gangs));
    if (c->medan) /* Medan's kelurahan are divided into lingkungan */
        snprintf(area, sizeof area, " Lingk. %s", PICK(r, gen_roman));
    else
        snprintf(area, sizeof area, " RT %03u RW %03u", 1 + rng_below(r, 12), 1 + rng_below(r, 8));
    snprintf(out, cap, "Jl. %s%s No. %u%s", street, gang, no, area);
}

/* Programme components. About 15% of families get PKH only, 45% BPNT only, 40% both; counts
 * lean on the holder's age (children for holders of child-rearing age, the elderly component
 * for old holders) and stay within what one household holds. */
static void gen_programmes(gen_rng *r, int female, int age, gen_family *f)
{
    static const unsigned char early_young[] = {45, 40, 15}, early_old[] = {85, 12, 3};
    static const unsigned char sd_mid[] = {35, 35, 20, 10}, sd_other[] = {75, 20, 4, 1};
    static const unsigned char smp_mid[] = {55, 35, 10}, smp_other[] = {85, 13, 2};
    static const unsigned char sma_mid[] = {60, 32, 8}, sma_other[] = {88, 11, 1};
    unsigned kind = rng_below(r, 100);
    memset(f, 0, sizeof *f);
    f->bpnt = kind >= 15;
    if (kind >= 15 && kind < 60) return; /* BPNT only */
    f->pregnant = rng_below(r, 100) < (female && age <= 42 ? 18u : 3u);
    f->early = rng_weighted(r, age <= 45 ? early_young : early_old, 3);
    f->sd = rng_weighted(r, age >= 25 && age <= 55 ? sd_mid : sd_other, 4);
    f->smp = rng_weighted(r, age >= 30 && age <= 60 ? smp_mid : smp_other, 3);
    f->sma = rng_weighted(r, age >= 33 && age <= 65 ? sma_mid : sma_other, 3);
    f->disability = rng_below(r, 100) < 7;
    f->elderly = rng_below(r, 100) < (age >= 60 ? 70u : 12u);
    while (f->early + f->sd + f->smp + f->sma > 5) { /* no more than five children listed */
        if (f->sd > 1)
            f->sd--;
        else if (f->smp > 1)
            f->smp--;
        else
            f->sma--;
    }
    if (!(f->pregnant | f->early | f->sd | f->smp | f->sma | f->disability | f->elderly)) {
        if (age >= 60)
            f->elderly = 1;
        else if (age <= 40)
            f->early = 1;
        else
            f->sd = 1;
    }
}

/* The date digits of a NIK or KK: DDMMYY, with 40 added to DD when women is set. */
static void row_ddmmyy(gen_row *w, long days, int women)
{
    int y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    row_uint(w, d + (women ? 40u : 0u), 2);
    row_uint(w, m, 2);
    row_uint(w, (unsigned)(y % 100), 2);
}

typedef struct gen_ctx {
    gen_city city;
    uint64_t seed;
    unsigned base;                /* first KK serial and NIK sequence: 1, or past the samples' */
    int decile_min, decile_max;   /* the registry policy's */
    long birth_first, birth_days; /* holders born 1950-01-01 .. 2004-12-31 */
    long reg_first, reg_days;     /* KKs registered 1998-01-01 .. 2025-12-31 */
    uint64_t nik_block;           /* kecamatan x birth days x GEN_NIK_SLOTS */
    gen_perm nik_perm, kk_perm;
} gen_ctx;

static void gen_family_row(const gen_ctx *g, uint64_t i, gen_row *w)
{
    static const char *const banks[] = {"BNI", "BRI", "MANDIRI", "BTN"};
    static const unsigned char bank_w[] = {30, 35, 25, 10};
    static const unsigned char decile_pkh[] = {40, 30, 18, 12}, decile_bpnt[] = {22, 30, 26, 22};
    const gen_city *c = &g->city;
    gen_rng r = {gen_mix(g->seed ^ gen_mix(i + 0x632be59bd9b4e019ULL))};
    uint64_t q = i / g->nik_block, v = perm_apply(&g->nik_perm, i % g->nik_block, gen_mix(q));
    unsigned kec = (unsigned)(v % c->nkec);
    long bday = g->birth_first + (long)(v / c->nkec % (uint64_t)g->birth_days);
    uint64_t seq = g->base + q * GEN_NIK_SLOTS + v / c->nkec / (uint64_t)g->birth_days;
    uint64_t kq = i / (uint64_t)g->reg_days;
    long reg = g->reg_first + (long)perm_apply(&g->kk_perm, i % (uint64_t)g->reg_days,
                                               gen_mix(kq ^ 0x5bd1e995ULL));
    uint64_t region = strtoull(c->kec[kec]->code, NULL, 10);
    int female = rng_below(&r, 100) < 80, y, age, pkh, decile;
    unsigned m, d;
    char name[96], addr[160];
    const char *kel;
    gen_family f;

    civil_from_days(bday, &y, &m, &d);
    age = GEN_REF_YEAR - y;
    gen_name(&r, c, female, y, name, sizeof name);
    gen_address(&r, c, kec, addr, sizeof addr);
    kel = c->seeds->kelurahan[c->kec[kec]->kel_first + (int)rng_below(&r, (unsigned)c->kec[kec]->nkel)]
              .name;
    gen_programmes(&r, female, age, &f);
    pkh = f.pregnant | f.early | f.sd | f.smp | f.sma | f.disability | f.elderly;

    w->n = 0;
    row_uint(w, region, 6); /* kk */
    row_ddmmyy(w, reg, 0);
    row_uint(w, g->base + kq, 4);
    row_char(w, ',');
    row_uint(w, region, 6); /* nik */
    row_ddmmyy(w, bday, female);
    row_uint(w, seq, 4);
    row_char(w, ',');
    row_field(w, name, ',');
    row_uint(w, (uint64_t)y, 4);
    row_char(w, '-');
    row_uint(w, m, 2);
    row_char(w, '-');
    row_uint(w, d, 2);
    row_raw(w, female ? ",P," : ",L,", 3);
    row_field(w, addr, ',');
    row_field(w, kel, ',');
    row_field(w, c->kec[kec]->name, ',');
    row_uint(w, c->code, 4);
    row_char(w, ',');
    decile = 1 + (int)rng_weighted(&r, pkh ? decile_pkh : decile_bpnt, 4);
    decile = decile < g->decile_min ? g->decile_min
             : decile > g->decile_max ? g->decile_max
                                      : decile;
    row_uint(w, (uint64_t)decile, 0);
    row_char(w, ',');
    row_field(w, banks[rng_weighted(&r, bank_w, NELEM(bank_w))], ',');
    const unsigned counts[] = {f.pregnant, f.early, f.sd, f.smp, f.sma, f.disability, f.elderly};
    for (size_t k = 0; k < NELEM(counts); k++) {
        row_uint(w, counts[k], 0);
        row_char(w, ',');
    }
    row_uint(w, f.bpnt, 0);
    row_char(w, '\n');
}

/* ---- the command ----------------------------------------------------------------------- */

/* A whole decimal number in [lo, hi] with nothing around it; 0 or -1. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int street_row(void *ctx, const kks_csv *csv, char *why, size_t cap)
{
    gen_places *p = ctx;
    const kks_kecamatan *k = strlen(csv->fields[0]) == 6
                                 ? kks_seeds_kecamatan(&p->seeds, csv->fields[0])
                                 : NULL;
    size_t n = strlen(csv->fields[1]);
    if (!k) {
        snprintf(why, cap, "kecamatan_code %.10s is not in kecamatan.csv", csv->fields[0]);
        return -1;
    }
    if (n == 0 || n >= KKS_PLACE_NAME || strpbrk(csv->fields[1], "\r\n\t")) {
        snprintf(why, cap, "street name must be 1..%d bytes on one line", KKS_PLACE_NAME - 1);
        return -1;
    }
    if (p->nstreets == GEN_MAX_STREETS) {
        snprintf(why, cap, "more than %d streets", GEN_MAX_STREETS);
        return -1;
    }
    memcpy(p->street[p->nstreets], csv->fields[1], n + 1);
    p->street_kec[p->nstreets++] = (int)(k - p->seeds.kecamatan);
    return 0;
}

/* The city's kecamatan, kelurahan and streets from the seeds. Returns 0, or -1 after saying
 * why on stderr (EXIT_USAGE for the caller). */
static int city_init(gen_city *c, gen_places *p, const char *code, const char *dir)
{
    static const char *const hdr[] = {"kecamatan_code", "name"};
    char err[300];
    unsigned prov;
    if (kks_seeds_load(&p->seeds, dir, err, sizeof err) < 0 ||
        kks_csv_load(p, dir, "streets.csv", hdr, 2, street_row, err, sizeof err) < 0) {
        ctl_say("kksctl gen population: seeds: %s\n", err);
        return -1;
    }
    if (strlen(code) != 4 || strspn(code, "0123456789") != 4 ||
        !kks_seeds_city_known(&p->seeds, code)) {
        ctl_say(
                "kksctl gen population: --city %s: want the 4-digit code of a city whose "
                "kecamatan are in %s/kecamatan.csv (e.g. 1271 Kota Medan, 3171 Jakarta Pusat)\n",
                code, dir);
        return -1;
    }
    c->code = (unsigned)atoi(code);
    c->seeds = &p->seeds;
    prov = c->code / 100;
    c->medan = c->code == 1271; /* Medan's kelurahan are divided into lingkungan, not RT/RW */
    for (int i = 0; i < p->seeds.nkecamatan; i++) {
        const kks_kecamatan *k = &p->seeds.kecamatan[i];
        if (memcmp(k->code, code, 4) != 0)
            continue;
        if (k->nkel == 0) {
            ctl_say("kksctl gen population: seeds: kecamatan %s (%s) has no kelurahan\n",
                    k->code, k->name);
            return -1;
        }
        for (int j = 0; j < p->nstreets; j++)
            if (p->street_kec[j] == i && c->nstreets[c->nkec] < NELEM(c->streets[0]))
                c->streets[c->nkec][c->nstreets[c->nkec]++] = p->street[j];
        if (c->nstreets[c->nkec] == 0) {
            ctl_say(
                    "kksctl gen population: seeds: kecamatan %s (%s) has no street in "
                    "streets.csv\n",
                    k->code, k->name);
            return -1;
        }
        c->kec[c->nkec++] = k;
    }
    /* Name groups: batak, malay/javanese, minang, chinese-indonesian. */
    static const unsigned char w_sumut[] = {40, 35, 13, 12}, w_sumbar[] = {7, 15, 75, 3},
                               w_sumatra[] = {8, 75, 12, 5}, w_other[] = {4, 85, 4, 7};
    const unsigned char *w = prov == 12   ? w_sumut
                             : prov == 13 ? w_sumbar
                             : prov < 30  ? w_sumatra
                                          : w_other;
    memcpy(c->groups, w, GRP_N);
    return 0;
}

static int gen_population(int argc, char **argv)
{
    static const struct option opts[] = {{"families", required_argument, 0, 'n'},
                                         {"seed", required_argument, 0, 's'},
                                         {"city", required_argument, 0, 'c'},
                                         {"sample", no_argument, 0, 'S'},
                                         {"seeds", required_argument, 0, 'd'},
                                         {"help", no_argument, 0, 'h'},
                                         {"version", no_argument, 0, 'V'},
                                         {0, 0, 0, 0}};
    static char outbuf[GEN_OUTBUF]; /* static: stdout may still use it after we return */
    const char *families = NULL, *seed = "1", *city = "1271", *dir = kks_seeds_default(NULL);
    static gen_ctx g;      /* static: the city tables are large */
    static gen_places places;
    uint64_t n = 0;
    int sample = 0;
    gen_row row;
    int o;

    while ((o = ctl_getopt(argc, argv, opts)) != -1) {
        switch (o) {
        case 'n': families = optarg; break;
        case 's': seed = optarg; break;
        case 'c': city = optarg; break;
        case 'S': sample = 1; break;
        case 'd': dir = optarg; break;
        case 'V': return kks_version_print(stdout, "kksctl");
        case 'h': fputs(gen_usage, stdout); return EXIT_OK;
        default: ctl_say("%s", gen_usage); return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        ctl_say("kksctl gen population: unexpected argument %s\n%s", argv[optind],
                gen_usage);
        return EXIT_USAGE;
    }
    if (!families) {
        ctl_say("kksctl gen population: --families N is required\n%s", gen_usage);
        return EXIT_USAGE;
    }
    if (parse_u64(families, 1, GEN_MAX_FAMILIES, &n) < 0) {
        ctl_say("kksctl gen population: --families %s: want a whole number 1..%lld\n",
                families, GEN_MAX_FAMILIES);
        return EXIT_USAGE;
    }
    if (parse_u64(seed, 0, UINT64_MAX, &g.seed) < 0) {
        ctl_say("kksctl gen population: --seed %s: want a whole number 0..%llu\n", seed,
                (unsigned long long)UINT64_MAX);
        return EXIT_USAGE;
    }
    if (sample && n > GEN_SAMPLE_MAX) {
        ctl_say("kksctl gen population: --sample makes at most %d families\n",
                GEN_SAMPLE_MAX);
        return EXIT_USAGE;
    }
    if (city_init(&g.city, &places, city, dir) < 0)
        return EXIT_USAGE;
    g.base = sample ? 1 : GEN_SAMPLE_RESERVED + 1;
    g.decile_min = places.seeds.decile_min;
    g.decile_max = places.seeds.decile_max;
    /* the youngest holder is of KTP age on the first day of GEN_REF_YEAR */
    int last_year = GEN_REF_YEAR - places.seeds.holder_min_age - 1;
    g.birth_first = days_from_civil(1950, 1, 1);
    g.birth_days = days_from_civil(last_year < 2004 ? last_year + 1 : 2005, 1, 1) - g.birth_first;
    if (g.birth_days < 366) {
        ctl_say("kksctl gen population: seeds: holder_min_age %d leaves no birth years "
                "from 1950\n", places.seeds.holder_min_age);
        return EXIT_USAGE;
    }
    g.reg_first = days_from_civil(1998, 1, 1);
    g.reg_days = days_from_civil(2026, 1, 1) - g.reg_first;
    g.nik_block = (uint64_t)g.city.nkec * (uint64_t)g.birth_days * GEN_NIK_SLOTS;
    perm_init(&g.nik_perm, g.nik_block, gen_mix(g.seed ^ 0x6e696b));
    perm_init(&g.kk_perm, (uint64_t)g.reg_days, gen_mix(g.seed ^ 0x6b6b));

    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    ctl_stdout_taken();
    fputs(gen_header, stdout);
    memset(&row, 0, sizeof row);
    for (uint64_t i = 0; i < n; i++) {
        gen_family_row(&g, i, &row);
        if (row.overflow) { /* cannot happen with the tables above */
            ctl_say("kksctl gen population: row %llu too long\n",
                    (unsigned long long)i + 1);
            return EXIT_INTERNAL;
        }
        if (fwrite(row.b, 1, row.n, stdout) != row.n)
            break;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("kksctl gen population: stdout");
        return EXIT_INTERNAL;
    }
    return EXIT_OK;
}

int cmd_gen(ctl *c, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "population") == 0)
        return gen_population(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "--version") == 0)
        return kks_version_print(stdout, "kksctl");
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(gen_usage, stdout);
        return EXIT_OK;
    }
    ctl_say("%s", gen_usage);
    return EXIT_USAGE;
}
