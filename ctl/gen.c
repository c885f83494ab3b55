/* kksctl gen population: a synthetic DTSEN registry extract (SPEC §10) on stdout.
 *
 * One row per family: the card holder's KK, NIK, name, birth date, sex and address, the welfare
 * decile, the bank and the programme components. The output depends only on (families, seed,
 * city) and the seeds: no clock, no C library random numbers, no locale. It is streamed: no
 * state is kept per family, so memory stays the same at 29 million families as at ten.
 *
 * Where families live. Without --city, every province of provinces.csv: row i goes to the
 * province of entry i % T of the province table, where each province holds a share of the
 * T (about GEN_TABLE) entries in proportion to its population (province-population.csv; at least
 * one), shuffled with the seed. Inside a province the rows are numbered j = 0, 1, ... (entry
 * rank + cycle i / T times the share), and everything below is per province, on j. With --city,
 * the one city is the one "province" and j = i, as it always was: the same bytes as before for
 * Medan and Jakarta Pusat. A province's kecamatan slots are those of each of its cities
 * (cities.csv): the listed kecamatan of a city that has them (kecamatan.csv, file order; Medan,
 * Jakarta Pusat), else GEN_SYN_KEC made-up kecamatan codes 01..08 with made-up names.
 *
 * Identity numbers are unique by construction, not by luck:
 *   NIK = kecamatan(6) DDMMYY(DD+40 for women) seq(4). Row j falls in block q = j / B, where
 *         B = slot count x birth days x 4. Inside a block a keyed Feistel permutation
 *         (cycle-walked onto [0, B)) turns j % B into a distinct (slot, birth day, s);
 *         seq = base + 4q + s. Slots have distinct region codes, and provinces differ in
 *         the first two digits. Sex does not take part, so NIKs stay unique whatever it is.
 *   KK  = kecamatan(6) DDMMYY(registration day) serial(4). Block q = j / R, R = registration
 *         days 1998-01-01..2025-12-31 (10,227); a permutation of j % R gives the day and
 *         serial = base + q. (day, serial) is distinct for every row of a province, so KKs are
 *         unique whatever the kecamatan; 100,000,000 rows in one place need 9,779 serials, and
 *         groups_init refuses a size that would need more than 4 digits.
 * The sample extracts in seeds/ are made with --sample, which starts both numbers at 1 and is
 * limited to GEN_SAMPLE_MAX families, so they use only serials and sequences 1..4. Without it
 * base is GEN_SAMPLE_RESERVED + 1: a generated population never reuses a KK or NIK of a sample
 * extract, whatever its seed, and the two can be enrolled into one issuer.
 * Everything else (sex, name, address, kelurahan, decile, bank, components) comes from a
 * splitmix64 stream seeded with (seed, i), so each row is independent of the others, and N
 * families are the first N rows of any larger extract with the same seed.
 *
 * Places come from the seeds directory, so that every row passes the issuer's registry rules:
 * in a city with lists, the kecamatan's own kelurahan (kelurahan.csv) and streets
 * (streets.csv); elsewhere made-up kecamatan and kelurahan names (the registry cannot check
 * them) and streets that nearly every town has. Holders are born 1950-01-01..2004-12-31
 * (earlier still if the registry policy's minimum age asks for it) and deciles are kept inside
 * the policy's range. */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "gen.h"
#include "kks_csv.h"
#include "kks_seeds.h"
#include "kks_sort.h"

#define GEN_ROW_CAP 1024
#define GEN_OUTBUF (1u << 20)
#define GEN_REF_YEAR 2026 /* "now" for ages, fixed so the output never changes */
#define GEN_NIK_SLOTS 4   /* NIK sequence numbers per (kecamatan, birth day) in one block */
#define GEN_SAMPLE_RESERVED 100 /* KK serials and NIK sequences 1..100 belong to --sample */
#define GEN_SAMPLE_MAX 10000     /* --sample families: serials and sequences stay below 5 */
#define GEN_MAX_STREETS 4096
#define GEN_STREETS_PER_KEC 64 /* a listed kecamatan's streets beyond these are not used */
#define GEN_SYN_KEC 8   /* made-up kecamatan 01..08 of a city whose kecamatan are not listed */
#define GEN_SYN_KEL 12  /* made-up kelurahan names in each of them */
#define GEN_TABLE 10000 /* the province table: a province's share in 1/10000 of the rows */
#define GEN_TABLE_MAX (GEN_TABLE + 100) /* rounding up and at least one entry each: <= 38 more */
#define GEN_MAX_SLOTS (KKS_MAX_CITIES * GEN_SYN_KEC + KKS_MAX_KECAMATAN) /* under 2^16 */
#define GEN_MAX_SERIAL 9999 /* KK serials and NIK sequences are 4 digits */
/* positions of the place order computed at a time: 16 bytes each */
#ifdef KKS_TEST_HOOKS
#define GEN_WINDOW 10000u /* the test build: e2e_period's runs refill it and serve from it */
#else
#define GEN_WINDOW (2u << 20)
#endif
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char gen_usage[] =
    "usage: kksctl gen population --families N [--seed S] [--city CODE] [--sample]\n"
    "                             [--seeds DIR]\n"
    "  --families N  families (rows) to write, 1..100000000\n"
    "  --seed S      PRNG seed, a decimal number (default 1); same N, S and CODE give the\n"
    "                same bytes\n"
    "  --city CODE   only this 4-digit regency or city (cities.csv), e.g. 1271 Kota Medan,\n"
    "                3171 Jakarta Pusat; without it, families of every province, in\n"
    "                proportion to its population (province-population.csv)\n"
    "  --sample      number KKs and NIKs from the range kept for the sample extracts\n"
    "                (at most 10000 families); without it, no KK or NIK of a sample\n"
    "                extract is ever written\n"
    "  --seeds DIR   provinces, cities, kecamatan, kelurahan, streets and registry\n"
    "                policy (default $KKS_SEEDS, else the installed share/kks/seeds,\n"
    "                else the source tree's)\n"
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

/* Streets found in almost every Indonesian town, for cities whose own streets are not in the
 * seeds. */
static const char *const gen_common_streets[] = {
    "Merdeka", "Jenderal Sudirman", "Diponegoro", "Ahmad Yani", "Gatot Subroto", "Imam Bonjol",
    "Pahlawan", "Veteran", "Pemuda", "Kartini", "Hasanuddin", "Gajah Mada", "Hayam Wuruk",
    "Pattimura", "Cut Nyak Dien", "Teuku Umar", "Ki Hajar Dewantara", "Pasar", "Pendidikan",
    "Juanda", "Urip Sumoharjo", "Cokroaminoto", "Dr. Sutomo", "Pramuka", "Kenanga", "Cendana",
    "Perintis Kemerdekaan", "Raya", "Bhayangkara", "Sisingamangaraja", "Panglima Polim",
    "Wolter Monginsidi"};

/* Made-up kecamatan and kelurahan names of cities without lists, from the commonest parts of
 * real village names ("Sukamaju", "Karang Anyar", "Sumber Rejo"). */
static const char *const gen_place_head[] = {
    "Suka", "Mekar", "Sido", "Karang", "Sumber", "Tanjung", "Bukit", "Sungai", "Padang", "Tanah",
    "Teluk", "Batu", "Pasir", "Air", "Kampung", "Talang"};
static const char *const gen_place_tail[] = {
    "Maju", "Jaya", "Makmur", "Mulya", "Sari", "Rejo", "Harapan", "Baru", "Indah", "Damai",
    "Asri", "Raya", "Lestari", "Agung", "Anyar", "Permai"};

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

/* v in decimal, left-padded with zeros to width digits (width 0: as many as needed), at the
 * end of tmp, two digits at a time; returns how many. */
static unsigned uint_digits(char tmp[24], uint64_t v, unsigned width)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930"
                                "31323334353637383940414243444546474849505152535455565758596061"
                                "62636465666768697071727374757677787980818283848586878889909192"
                                "93949596979899";
    unsigned n = 0;
    while (v >= 100) {
        memcpy(tmp + 24 - 2 - n, pairs + v % 100 * 2, 2);
        v /= 100;
        n += 2;
    }
    if (v >= 10) {
        memcpy(tmp + 24 - 2 - n, pairs + v * 2, 2);
        n += 2;
    } else {
        tmp[24 - 1 - n++] = (char)('0' + v);
    }
    while (n < width && n < 24)
        tmp[24 - 1 - n++] = '0';
    return n;
}

static void row_uint(gen_row *w, uint64_t v, unsigned width)
{
    char tmp[24];
    unsigned n = uint_digits(tmp, v, width);
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

/* A kecamatan a family may live in: one listed in the seeds (kec >= 0, its index in
 * kecamatan.csv), or one of GEN_SYN_KEC made-up kecamatan 01.. of a city without a list. */
typedef struct gen_slot {
    uint32_t region; /* 6 digits */
    int kec;
    int medan; /* Medan's kelurahan are divided into lingkungan, not RT/RW */
} gen_slot;

/* The slots whose families are numbered together, one NIK and KK series: a province, or the
 * one city of --city. A row i falls in group table_group[i % table_n] as its member
 * j = (i / table_n) * share + table_rank[i % table_n], a number no other row of the group has. */
typedef struct gen_group {
    unsigned code;  /* the province */
    unsigned first, nslots;
    unsigned share; /* entries of the province table */
    uint64_t nik_block; /* nslots x birth days x GEN_NIK_SLOTS */
    gen_perm nik_perm, kk_perm;
    unsigned char groups[GRP_N]; /* name-group weights for this province */
} gen_group;

typedef struct gen_family {
    unsigned pregnant, early, sd, smp, sma, disability, elderly, bpnt;
} gen_family;

/* Text built by appending, cut (never overrun) at cap - 1 bytes, always terminated: what
 * snprintf would make of the same pieces, without its cost on every row. */
typedef struct gen_text {
    char *p;
    size_t n, cap;
} gen_text;

static void text_put(gen_text *t, const char *s)
{
    size_t k = strlen(s);
    if (k > t->cap - 1 - t->n)
        k = t->cap - 1 - t->n;
    memcpy(t->p + t->n, s, k);
    t->n += k;
    t->p[t->n] = '\0';
}

/* v in decimal, at least width digits. */
static void text_uint(gen_text *t, unsigned v, unsigned width)
{
    char tmp[25];
    unsigned n = uint_digits(tmp, v, width);
    tmp[24] = '\0';
    text_put(t, tmp + 24 - n);
}

/* a, then sep and b when b is not NULL, into out. */
static void text_join(char *out, size_t cap, const char *a, const char *sep, const char *b)
{
    gen_text t = {out, 0, cap};
    out[0] = '\0';
    text_put(&t, a);
    if (b) {
        text_put(&t, sep);
        text_put(&t, b);
    }
}

/* The holder's name. Where a name has two drawn parts, the second part is drawn first (the
 * order the extracts in seeds/ were made with). */
static void gen_name(gen_rng *r, const gen_group *c, int female, int year, char *out, size_t cap)
{
    int old = year < 1978;
    unsigned g = rng_weighted(r, c->groups, GRP_N), x = rng_below(r, 100);
    const char *first, *last;
    switch (g) {
    case GRP_BATAK:
        if (female && x < 55) {
            last = PICK(r, gen_batak_marga);
            text_join(out, cap, PICK(r, gen_batak_f), " Br ", last);
        } else if (female && x < 75) {
            text_join(out, cap, PICK(r, gen_batak_f), "", NULL);
        } else {
            last = PICK(r, gen_batak_marga);
            first = female ? PICK(r, gen_batak_f) : PICK(r, gen_batak_m);
            text_join(out, cap, first, " ", last);
        }
        break;
    case GRP_MINANG:
        if (x < 40) {
            last = PICK(r, gen_minang_suku);
            first = female ? PICK(r, gen_minang_f) : PICK(r, gen_minang_m);
            text_join(out, cap, first, " ", last);
        } else {
            text_join(out, cap, female ? PICK(r, gen_minang_f) : PICK(r, gen_minang_m), "", NULL);
        }
        break;
    case GRP_CHINESE:
        if (x < 20) {
            text_join(out, cap, female ? PICK(r, gen_chinese_full_f) : PICK(r, gen_chinese_full_m),
                      "", NULL);
        } else {
            last = PICK(r, gen_chinese_sur);
            first = female ? PICK(r, gen_chinese_f) : PICK(r, gen_chinese_m);
            text_join(out, cap, first, " ", last);
        }
        break;
    default:
        if (female)
            text_join(out, cap, old ? PICK(r, gen_malay_f_old) : PICK(r, gen_malay_f_new), "",
                      NULL);
        else
            text_join(out, cap, old ? PICK(r, gen_malay_m_old) : PICK(r, gen_malay_m_new), "",
                      NULL);
        break;
    }
}

/* "Jl. STREET[ Gg. GANG] No. N" and a lingkungan (Medan's kelurahan are divided into them) or
 * an RT and RW (the RW drawn before the RT). */
static void gen_address(gen_rng *r, const char *const *streets, unsigned nstreets, int medan,
                        char *out, size_t cap)
{
    const char *street = streets[rng_below(r, nstreets)];
    gen_text t = {out, 0, cap};
    unsigned no = 1 + rng_below(r, rng_below(r, 4) ? 120 : 400);
    out[0] = '\0';
    text_put(&t, "Jl. ");
    text_put(&t, street);
    if (rng_below(r, 100) < 55) {
        text_put(&t, " Gg. ");
        text_put(&t, PICK(r, gen_gangs));
    }
    text_put(&t, " No. ");
    text_uint(&t, no, 0);
    if (medan) {
        text_put(&t, " Lingk. ");
        text_put(&t, PICK(r, gen_roman));
    } else {
        unsigned rw = 1 + rng_below(r, 8), rt = 1 + rng_below(r, 12);
        text_put(&t, " RT ");
        text_uint(&t, rt, 3);
        text_put(&t, " RW ");
        text_uint(&t, rw, 3);
    }
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
    const kks_seeds *seeds;
    uint64_t seed;
    unsigned base;                /* first KK serial and NIK sequence: 1, or past the samples' */
    int decile_min, decile_max;   /* the registry policy's */
    long birth_first, birth_days; /* holders born 1950-01-01 .. 2004-12-31 */
    long reg_first, reg_days;     /* KKs registered 1998-01-01 .. 2025-12-31 */
    gen_slot slot[GEN_MAX_SLOTS];
    unsigned nslots;
    gen_group group[100];
    unsigned ngroups;
    unsigned char table_group[GEN_TABLE_MAX]; /* the province table (one entry for --city) */
    uint16_t table_rank[GEN_TABLE_MAX];
    unsigned table_n;
    const char *streets[KKS_MAX_KECAMATAN][GEN_STREETS_PER_KEC]; /* per listed kecamatan */
    unsigned nstreets[KKS_MAX_KECAMATAN];
} gen_ctx;

/* A made-up place name, the same for the same key. */
static void gen_place(uint64_t key, char *out, size_t cap)
{
    uint64_t h = gen_mix(key);
    text_join(out, cap, gen_place_head[h % NELEM(gen_place_head)], " ",
              gen_place_tail[(h >> 32) % NELEM(gen_place_tail)]);
}

/* Row i's group (*c), its number j in the group, and the NIK permutation's value v for it,
 * from which its slot (c->first + v % c->nslots), birth day and sequence follow. */
static uint64_t row_nik(const gen_ctx *g, uint64_t i, const gen_group **c, uint64_t *j)
{
    const unsigned t = (unsigned)(i % g->table_n);
    *c = &g->group[g->table_group[t]];
    *j = i / g->table_n * (*c)->share + g->table_rank[t];
    return perm_apply(&(*c)->nik_perm, *j % (*c)->nik_block, gen_mix(*j / (*c)->nik_block));
}

static void gen_family_row(const gen_ctx *g, uint64_t i, gen_row *w)
{
    static const char *const banks[] = {"BNI", "BRI", "MANDIRI", "BTN"};
    static const unsigned char bank_w[] = {30, 35, 25, 10};
    static const unsigned char decile_pkh[] = {40, 30, 18, 12}, decile_bpnt[] = {22, 30, 26, 22};
    const gen_group *c;
    uint64_t j; /* the row in its group */
    const uint64_t v = row_nik(g, i, &c, &j), q = j / c->nik_block;
    gen_rng r = {gen_mix(g->seed ^ gen_mix(i + 0x632be59bd9b4e019ULL))};
    const gen_slot *sl = &g->slot[c->first + v % c->nslots];
    long bday = g->birth_first + (long)(v / c->nslots % (uint64_t)g->birth_days);
    uint64_t seq = g->base + q * GEN_NIK_SLOTS + v / c->nslots / (uint64_t)g->birth_days;
    uint64_t kq = j / (uint64_t)g->reg_days;
    long reg = g->reg_first + (long)perm_apply(&c->kk_perm, j % (uint64_t)g->reg_days,
                                               gen_mix(kq ^ 0x5bd1e995ULL));
    int female = rng_below(&r, 100) < 80, y, age, pkh, decile;
    unsigned m, d;
    char name[96], addr[160], kel_name[KKS_PLACE_NAME], kec_name[KKS_PLACE_NAME];
    const char *kel, *kec;
    gen_family f;

    civil_from_days(bday, &y, &m, &d);
    age = GEN_REF_YEAR - y;
    gen_name(&r, c, female, y, name, sizeof name);
    if (sl->kec >= 0) {
        const kks_kecamatan *k = &g->seeds->kecamatan[sl->kec];
        gen_address(&r, g->streets[sl->kec], g->nstreets[sl->kec], sl->medan, addr, sizeof addr);
        kel = g->seeds->kelurahan[k->kel_first + (int)rng_below(&r, (unsigned)k->nkel)].name;
        kec = k->name;
    } else {
        gen_address(&r, gen_common_streets, NELEM(gen_common_streets), 0, addr, sizeof addr);
        gen_place((uint64_t)sl->region * GEN_SYN_KEL + rng_below(&r, GEN_SYN_KEL), kel_name,
                  sizeof kel_name);
        gen_place(sl->region ^ 0x6b6563ULL << 32, kec_name, sizeof kec_name);
        kel = kel_name;
        kec = kec_name;
    }
    gen_programmes(&r, female, age, &f);
    pkh = f.pregnant | f.early | f.sd | f.smp | f.sma | f.disability | f.elderly;

    w->n = 0;
    row_uint(w, sl->region, 6); /* kk */
    row_ddmmyy(w, reg, 0);
    row_uint(w, g->base + kq, 4);
    row_char(w, ',');
    row_uint(w, sl->region, 6); /* nik */
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
    row_field(w, kec, ',');
    row_uint(w, sl->region / 100, 4);
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

/* Name-group weights of a province: batak, malay/javanese, minang, chinese-indonesian. */
static void province_names(unsigned prov, unsigned char out[GRP_N])
{
    static const unsigned char w_sumut[] = {40, 35, 13, 12}, w_sumbar[] = {7, 15, 75, 3},
                               w_sumatra[] = {8, 75, 12, 5}, w_other[] = {4, 85, 4, 7};
    const unsigned char *w = prov == 12   ? w_sumut
                             : prov == 13 ? w_sumbar
                             : prov < 30  ? w_sumatra
                                          : w_other;
    memcpy(out, w, GRP_N);
}

/* Adds the slots of city (a cities.csv entry) to the last group: its listed kecamatan in
 * kecamatan.csv order, each with its kelurahan and streets, or GEN_SYN_KEC made-up ones.
 * Returns 0, or -1 after saying why on stderr. */
static int add_city(gen_ctx *g, const gen_places *p, const kks_city *city)
{
    const kks_seeds *s = &p->seeds;
    unsigned code = (unsigned)atoi(city->code);
    int listed = 0;
    for (int i = 0; i < s->nkecamatan; i++) {
        const kks_kecamatan *k = &s->kecamatan[i];
        if (memcmp(k->code, city->code, 4) != 0)
            continue;
        if (k->nkel == 0) {
            ctl_say("kksctl gen population: seeds: kecamatan %s (%s) has no kelurahan\n",
                    k->code, k->name);
            return -1;
        }
        for (int j = 0; j < p->nstreets; j++)
            if (p->street_kec[j] == i && g->nstreets[i] < GEN_STREETS_PER_KEC)
                g->streets[i][g->nstreets[i]++] = p->street[j];
        if (g->nstreets[i] == 0) {
            ctl_say(
                    "kksctl gen population: seeds: kecamatan %s (%s) has no street in "
                    "streets.csv\n",
                    k->code, k->name);
            return -1;
        }
        g->slot[g->nslots++] = (gen_slot){(uint32_t)atoi(k->code), i, code == 1271};
        listed = 1;
    }
    for (unsigned k = 1; !listed && k <= GEN_SYN_KEC; k++)
        g->slot[g->nslots++] = (gen_slot){code * 100 + k, -1, 0};
    g->group[g->ngroups - 1].nslots = g->nslots - g->group[g->ngroups - 1].first;
    return 0;
}

/* Opens a new group for province prov. */
static void add_group(gen_ctx *g, unsigned prov, unsigned share)
{
    gen_group *gr = &g->group[g->ngroups++];
    memset(gr, 0, sizeof *gr);
    gr->code = prov;
    gr->first = g->nslots;
    gr->share = share;
    province_names(prov, gr->groups);
}

/* The province table: each province gets a share of GEN_TABLE entries by its population
 * (at least one), and the entries are shuffled with the seed, so that the provinces mix in
 * every stretch of rows and stay within one entry of their shares. */
static void province_table(gen_ctx *g)
{
    uint64_t total = 0;
    unsigned n = 0;
    gen_rng r = {gen_mix(g->seed ^ 0x70726f76ULL)};
    for (unsigned p = 0; p < 100; p++)
        total += g->seeds->province[p] ? g->seeds->province_pop[p] : 0;
    for (unsigned k = 0; k < g->ngroups; k++) {
        gen_group *gr = &g->group[k];
        uint64_t share = (g->seeds->province_pop[gr->code] * (uint64_t)GEN_TABLE + total / 2) /
                         total;
        gr->share = share ? (unsigned)share : 1;
    }
    for (unsigned k = 0; k < g->ngroups; k++)
        for (unsigned e = 0; e < g->group[k].share; e++, n++) {
            assert(n < GEN_TABLE_MAX); /* each share rounds up by less than 1, plus 1 at most */
            g->table_group[n] = (unsigned char)k;
            g->table_rank[n] = (uint16_t)e;
        }
    for (unsigned e = n; e-- > 1;) { /* Fisher-Yates */
        unsigned o = rng_below(&r, e + 1);
        unsigned char tg = g->table_group[e];
        uint16_t tr = g->table_rank[e];
        g->table_group[e] = g->table_group[o];
        g->table_rank[e] = g->table_rank[o];
        g->table_group[o] = tg;
        g->table_rank[o] = tr;
    }
    g->table_n = n;
}

/* The places from the seeds: with city, that city alone (a regency or city of cities.csv);
 * without, every province of provinces.csv and every city of cities.csv. Returns 0, or -1
 * after saying why on stderr (EXIT_USAGE for the caller). */
static int places_init(gen_ctx *g, gen_places *p, const char *city, const char *dir)
{
    static const char *const hdr[] = {"kecamatan_code", "name"};
    char err[300];
    const kks_city *c;
    if (kks_seeds_load(&p->seeds, dir, err, sizeof err) < 0 ||
        kks_csv_load(p, dir, "streets.csv", hdr, 2, street_row, err, sizeof err) < 0) {
        ctl_say("kksctl gen population: seeds: %s\n", err);
        return -1;
    }
    g->seeds = &p->seeds;
    if (city) {
        if (strlen(city) != 4 || !(c = kks_seeds_city(&p->seeds, city))) {
            ctl_say(
                    "kksctl gen population: --city %s: want the 4-digit code of a regency or "
                    "city in %s/cities.csv (e.g. 1271 Kota Medan, 3171 Jakarta Pusat)\n",
                    city, dir);
            return -1;
        }
        add_group(g, (unsigned)atoi(city) / 100, 1);
        g->table_n = 1; /* table_group[0] = 0, table_rank[0] = 0: row i is the city's i */
        return add_city(g, p, c);
    }
    for (unsigned prov = 0; prov < 100; prov++) {
        if (!p->seeds.province[prov])
            continue;
        add_group(g, prov, 0);
        for (int k = 0; k < p->seeds.ncities; k++)
            if ((unsigned)atoi(p->seeds.cities[k].code) / 100 == prov &&
                add_city(g, p, &p->seeds.cities[k]) < 0)
                return -1;
        if (g->group[g->ngroups - 1].nslots == 0) {
            ctl_say("kksctl gen population: seeds: province %02u has no city in "
                    "cities.csv\n", prov);
            return -1;
        }
    }
    province_table(g);
    return 0;
}

/* The numbering of each group: its keyed permutations, and a check that n families fit the
 * 4-digit KK serials and NIK sequences. Returns 0, or -1 after saying why on stderr. */
static int groups_init(gen_ctx *g, uint64_t n, int national)
{
    for (unsigned k = 0; k < g->ngroups; k++) {
        gen_group *gr = &g->group[k];
        /* --city keeps the keys it always had; a province's are its own */
        uint64_t salt = national ? (uint64_t)gr->code << 40 : 0;
        uint64_t last = (n - 1) / g->table_n * gr->share + gr->share - 1; /* largest j */
        gr->nik_block = (uint64_t)gr->nslots * (uint64_t)g->birth_days * GEN_NIK_SLOTS;
        perm_init(&gr->nik_perm, gr->nik_block, gen_mix(g->seed ^ 0x6e696b ^ salt));
        perm_init(&gr->kk_perm, (uint64_t)g->reg_days, gen_mix(g->seed ^ 0x6b6b ^ salt));
        if (g->base + last / gr->nik_block * GEN_NIK_SLOTS + GEN_NIK_SLOTS - 1 > GEN_MAX_SERIAL ||
            g->base + last / (uint64_t)g->reg_days > GEN_MAX_SERIAL) {
            ctl_say(
                    "kksctl gen population: --families %llu: too many for the 4-digit NIK "
                    "sequences and KK serials of province %02u\n",
                    (unsigned long long)n, gr->code);
            return -1;
        }
    }
    return 0;
}

struct ctl_gen {
    gen_ctx g;
    gen_places places;
    uint64_t families;
    /* The place order (ctl_gen_place_order): group k's rows are its table entries ascending,
     * entry[first[k] .. first[k] + share[k]), cycle after cycle; before[k] rows come in groups
     * before it. Slots ranked by region code: slot_at[r] is rank r's, rank[] the inverse,
     * slot_group[] each slot's group, and at[r] the positions before rank r's rows. */
    int ordered;
    uint16_t entry[GEN_TABLE_MAX];
    unsigned first[100], share[100];
    uint64_t before[101];
    unsigned slot_at[GEN_MAX_SLOTS], rank[GEN_MAX_SLOTS];
    unsigned char slot_group[GEN_MAX_SLOTS];
    uint64_t at[GEN_MAX_SLOTS + 1], seen[GEN_MAX_SLOTS];
    /* the window: positions win_first .. win_first + win_n - 1, in order, each as
     * rank << 40 | row; chunks are served from it until one leaves it */
    uint64_t *win, win_first, win_n;
};

/* Row r (0-based) of group k, in extract order. */
static uint64_t group_row(const ctl_gen *cg, unsigned k, uint64_t r)
{
    return r / cg->share[k] * cg->g.table_n + cg->entry[cg->first[k] + r % cg->share[k]];
}

/* The rank of the slot holding position pos of the place order. */
static unsigned rank_of(const ctl_gen *cg, uint64_t pos)
{
    unsigned lo = 0, hi = cg->g.nslots; /* at[lo] <= pos < at[hi] */
    while (hi - lo > 1) {
        unsigned mid = lo + (hi - lo) / 2;
        if (cg->at[mid] <= pos)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int ctl_gen_new(const struct ctl_gen_opts *o, ctl_gen **out)
{
    ctl_gen *cg;
    *out = NULL;
    if (o->sample && o->families > GEN_SAMPLE_MAX) {
        ctl_say("kksctl gen population: --sample makes at most %d families\n",
                GEN_SAMPLE_MAX);
        return EXIT_USAGE;
    }
    if (!(cg = calloc(1, sizeof *cg))) { /* the place tables are large: not on the stack */
        ctl_say("kksctl gen population: out of memory\n");
        return EXIT_INTERNAL;
    }
    gen_ctx *g = &cg->g;
    g->seed = o->seed;
    if (places_init(g, &cg->places, o->city, o->seeds) < 0)
        goto usage;
    g->base = o->sample ? 1 : GEN_SAMPLE_RESERVED + 1;
    g->decile_min = cg->places.seeds.decile_min;
    g->decile_max = cg->places.seeds.decile_max;
    /* the youngest holder is of KTP age on the first day of GEN_REF_YEAR */
    int last_year = GEN_REF_YEAR - cg->places.seeds.holder_min_age - 1;
    g->birth_first = days_from_civil(1950, 1, 1);
    g->birth_days = days_from_civil(last_year < 2004 ? last_year + 1 : 2005, 1, 1) - g->birth_first;
    if (g->birth_days < 366) {
        ctl_say("kksctl gen population: seeds: holder_min_age %d leaves no birth years "
                "from 1950\n", cg->places.seeds.holder_min_age);
        goto usage;
    }
    g->reg_first = days_from_civil(1998, 1, 1);
    g->reg_days = days_from_civil(2026, 1, 1) - g->reg_first;
    if (groups_init(g, o->families, o->city == NULL) < 0)
        goto usage;
    cg->families = o->families;
    *out = cg;
    return EXIT_OK;
usage:
    free(cg);
    return EXIT_USAGE;
}

int ctl_gen_write(const ctl_gen *cg, uint64_t first, uint64_t count, FILE *out, const char *name)
{
    gen_row row;
    assert(first <= cg->families && count <= cg->families - first);
    fputs(gen_header, out);
    memset(&row, 0, sizeof row);
    for (uint64_t i = first; i < first + count; i++) {
        gen_family_row(&cg->g, i, &row);
        if (row.overflow) { /* cannot happen with the tables above */
            ctl_say("kksctl gen population: row %llu too long\n",
                    (unsigned long long)i + 1);
            return EXIT_INTERNAL;
        }
        if (fwrite(row.b, 1, row.n, out) != row.n)
            break;
    }
    if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "kksctl gen population: %s: %s\n", name, strerror(errno));
        return EXIT_INTERNAL;
    }
    return EXIT_OK;
}

int ctl_gen_place_order(ctl_gen *cg)
{
    gen_ctx *g = &cg->g;
    uint64_t full = cg->families / g->table_n, rem = cg->families % g->table_n;
    unsigned n = 0;
    for (unsigned k = 0; k < g->ngroups; k++) {
        uint64_t rows = 0;
        cg->first[k] = n;
        for (unsigned t = 0; t < g->table_n; t++) {
            if (g->table_group[t] != k)
                continue;
            cg->entry[n++] = (uint16_t)t;
            rows += full + (t < rem);
        }
        cg->share[k] = n - cg->first[k];
        cg->before[k + 1] = cg->before[k] + rows;
        for (unsigned s = g->group[k].first; s < g->group[k].first + g->group[k].nslots; s++)
            cg->slot_group[s] = (unsigned char)k;
    }
    assert(cg->before[g->ngroups] == cg->families);
    /* the slots by region code (then index): keys region << 16 | slot, sorted in place in
     * at[] before it is used for the counts */
    for (unsigned s = 0; s < g->nslots; s++)
        cg->at[s] = (uint64_t)g->slot[s].region << 16 | s; /* nslots <= GEN_MAX_SLOTS < 2^16 */
    if (kks_sort_u64(cg->at, g->nslots, sizeof cg->at[0], 0) < 0)
        return EXIT_INTERNAL;
    for (unsigned r = 0; r < g->nslots; r++) {
        cg->slot_at[r] = (unsigned)(cg->at[r] & 0xFFFF);
        cg->rank[cg->slot_at[r]] = r;
    }
    /* how many rows each slot holds: one pass over the NIK permutation */
    memset(cg->at, 0, sizeof cg->at);
    for (uint64_t i = 0; i < cg->families; i++) {
        const gen_group *c;
        uint64_t j, v = row_nik(g, i, &c, &j);
        cg->at[cg->rank[c->first + v % c->nslots] + 1]++;
    }
    for (unsigned r = 0; r < g->nslots; r++)
        cg->at[r + 1] += cg->at[r];
    assert(cg->at[g->nslots] == cg->families);
    cg->ordered = 1;
    return EXIT_OK;
}

/* Fills the window with positions first .. first + count - 1: the rows of slots r0..r1 (of
 * r0 from its off0-th, of r1 up to its end1-th, in extract order), found by one pass over
 * the groups that hold those slots, then put in order. 0, or -1 out of memory. */
static int fill_window(ctl_gen *cg, uint64_t first, uint64_t count)
{
    const gen_ctx *g = &cg->g;
    const unsigned r0 = rank_of(cg, first), r1 = rank_of(cg, first + count - 1);
    const uint64_t off0 = first - cg->at[r0], end1 = first + count - cg->at[r1];
    const unsigned k0 = cg->slot_group[cg->slot_at[r0]], k1 = cg->slot_group[cg->slot_at[r1]];
    uint64_t *keep = malloc(count * sizeof *keep), n = 0;
    free(cg->win);
    cg->win = NULL;
    cg->win_n = 0;
    if (!keep)
        return -1;
    memset(cg->seen + r0, 0, (r1 - r0 + 1) * sizeof cg->seen[0]);
    for (unsigned k = k0; k <= k1; k++)
        for (uint64_t r = 0; r < cg->before[k + 1] - cg->before[k]; r++) {
            const gen_group *c;
            uint64_t i = group_row(cg, k, r), j, v = row_nik(g, i, &c, &j);
            unsigned s = cg->rank[c->first + v % c->nslots];
            if (s < r0 || s > r1)
                continue;
            uint64_t m = cg->seen[s]++;
            if ((s == r0 && m < off0) || (s == r1 && m >= end1))
                continue;
            keep[n++] = (uint64_t)s << 40 | i; /* i < 2^27, s < 2^14 */
        }
    assert(n == count);
    if (kks_sort_u64(keep, n, sizeof *keep, 0) < 0) {
        free(keep);
        return -1;
    }
    cg->win = keep;
    cg->win_first = first;
    cg->win_n = n;
    return 0;
}

int ctl_gen_write_places(ctl_gen *cg, uint64_t first, uint64_t count, FILE *out,
                         const char *name)
{
    gen_row row;
    assert(cg->ordered && first <= cg->families && count <= cg->families - first);
    if (count == 0)
        return ctl_gen_write(cg, 0, 0, out, name);
    /* A window of at least GEN_WINDOW positions: each fill passes over whole provinces,
     * so small chunks filled one by one would pass over a large province once each. */
    if (first < cg->win_first || first + count > cg->win_first + cg->win_n) {
        uint64_t w = count > GEN_WINDOW ? count : GEN_WINDOW;
        if (fill_window(cg, first, w < cg->families - first ? w : cg->families - first) < 0) {
            ctl_say("kksctl gen population: out of memory\n");
            return EXIT_INTERNAL;
        }
    }
    const uint64_t *keep = cg->win + (first - cg->win_first);
    fputs(gen_header, out);
    memset(&row, 0, sizeof row);
    for (uint64_t p = 0; p < count; p++) {
        gen_family_row(&cg->g, keep[p] & ((1ULL << 40) - 1), &row);
        if (row.overflow || fwrite(row.b, 1, row.n, out) != row.n)
            break;
    }
    if (row.overflow) { /* cannot happen with the tables above */
        ctl_say("kksctl gen population: a row too long\n");
        return EXIT_INTERNAL;
    }
    if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "kksctl gen population: %s: %s\n", name, strerror(errno));
        return EXIT_INTERNAL;
    }
    return EXIT_OK;
}

unsigned ctl_gen_province(const ctl_gen *cg, uint64_t pos)
{
    assert(cg->ordered && pos < cg->families);
    return cg->g.group[cg->slot_group[cg->slot_at[rank_of(cg, pos)]]].code;
}

void ctl_gen_free(ctl_gen *cg)
{
    if (cg)
        free(cg->win);
    free(cg);
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
    const char *families = NULL, *seed = "1";
    struct ctl_gen_opts go = {.seeds = kks_seeds_default(NULL)};
    ctl_gen *cg;
    int o, ec;

    while ((o = ctl_getopt(argc, argv, opts)) != -1) {
        switch (o) {
        case 'n': families = optarg; break;
        case 's': seed = optarg; break;
        case 'c': go.city = optarg; break;
        case 'S': go.sample = 1; break;
        case 'd': go.seeds = optarg; break;
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
    if (ctl_parse_u64(families, 1, GEN_MAX_FAMILIES, &go.families) < 0) {
        ctl_say("kksctl gen population: --families %s: want a whole number 1..%lld\n",
                families, GEN_MAX_FAMILIES);
        return EXIT_USAGE;
    }
    if (ctl_parse_u64(seed, 0, UINT64_MAX, &go.seed) < 0) {
        ctl_say("kksctl gen population: --seed %s: want a whole number 0..%llu\n", seed,
                (unsigned long long)UINT64_MAX);
        return EXIT_USAGE;
    }
    if ((ec = ctl_gen_new(&go, &cg)) != EXIT_OK)
        return ec;
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    ec = ctl_gen_write(cg, 0, go.families, stdout, "stdout");
    ctl_gen_free(cg);
    return ec;
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
