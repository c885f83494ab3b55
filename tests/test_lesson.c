/* The lesson loader (ewarong/train/lesson.c): the project's lessons load;
 * broken and hostile files are refused with file, line and reason; the PIN
 * rule. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lesson.h"

static const char good[] = "name: demo\n"
                           "title: {id: Demo, en: Demo}\n"
                           "family: \"1271102108080001\"\n"
                           "pin: \"135792\"\n"
                           "scene: {id: Adegan, en: Scene}\n"
                           "steps:\n"
                           "  - expect: {menu: balance}\n"
                           "    guide: {id: Pilih 2, en: Choose 2}\n"
                           "  - expect: {rc: \"00\"}\n"
                           "    guide: {id: Baca, en: Read}\n"
                           "explain:\n"
                           "  \"00\": {id: Berhasil, en: Done}\n";

static int load(const char *text, char *err, size_t cap)
{
    tl_lesson l;
    int rc = tl_load_mem("x.yaml", text, strlen(text), &l, err, cap);
    if (rc == 0) tl_free(&l);
    return rc;
}

Test(lesson, a_good_lesson_loads)
{
    tl_lesson l;
    char err[600];
    cr_assert_eq(tl_load_mem("good.yaml", good, sizeof good - 1, &l, err, sizeof err), 0, "%s",
                 err);
    cr_assert_str_eq(l.name, "demo");
    cr_assert_eq(l.nsteps, 2);
    cr_assert_eq(l.steps[0].kind, TL_MENU);
    cr_assert_str_eq(l.steps[1].value, "00");
    cr_assert_str_eq(tl_str(&l.steps[0].guide, 1), "Choose 2");
    cr_assert_str_eq(tl_str(tl_explain(&l, "00"), 0), "Berhasil");
    cr_assert_null(tl_explain(&l, "55"));
    tl_free(&l);
}

Test(lesson, the_project_lessons_load)
{
    tl_lesson ls[TL_LESSONS_MAX];
    char errs[2000];
    size_t n = tl_load_dir(KKS_SOURCE_DIR "/seeds/lessons", ls, TL_LESSONS_MAX, errs, sizeof errs);
    cr_assert_str_empty(errs, "%s", errs);
    cr_assert_geq(n, 3);
    for (size_t i = 0; i < n; i++)
        tl_free(&ls[i]);
}

struct bad {
    const char *text, *want;
};

Test(lesson, a_card_is_new_or_active_with_its_pin)
{
    char err[600];
    static const char nopin[] = "name: x\ntitle: {id: A, en: A}\nfamily: \"1271102108080001\"\n"
                                "scene: {id: S, en: S}\nsteps:\n  - expect: {menu: balance}\n"
                                "    guide: {id: G, en: G}\n";
    static const char isnew[] = "name: x\ntitle: {id: A, en: A}\nfamily: \"1271102108080001\"\n"
                                "card: new\nscene: {id: S, en: S}\nsteps:\n  - expect: {menu: activate}\n"
                                "    guide: {id: G, en: G}\n";
    static const char badcard[] = "name: x\ntitle: {id: A, en: A}\nfamily: \"1271102108080001\"\n"
                                  "card: old\nscene: {id: S, en: S}\nsteps:\n  - expect: {menu: x}\n"
                                  "    guide: {id: G, en: G}\n";
    cr_assert_eq(load(nopin, err, sizeof err), -1);
    cr_assert(strstr(err, "x.yaml:1:1:") && strstr(err, "needs its pin"), "%s", err);
    cr_assert_eq(load(isnew, err, sizeof err), 0, "%s", err);
    cr_assert_eq(load(badcard, err, sizeof err), -1);
    cr_assert(strstr(err, "x.yaml:4:7:") && strstr(err, "new or active"), "%s", err);
}

Test(lesson, broken_files_are_named_with_line_and_reason)
{
    static const struct bad cases[] = {
        {"", "x.yaml:1:1:"},
        {"- a\n- b\n", "a lesson is a map"},
        {"name: x\ntitle: {id: A}\nscene: {id: a, en: b}\nsteps: []\n",
         "x.yaml:2:8: title needs both"},
        {"name: x\ntitle: {id: A, en: B}\nscene: {id: a, en: b}\nsteps: []\n", "x.yaml:4:8: steps"},
        {"name: x\ntitle: {id: A, en: B}\nscene: {id: a, en: b}\nsteps:\n  - expect: {fly: away}\n"
         "    guide: {id: a, en: b}\n",
         "x.yaml:5:14: unknown expect fly"},
        {"name: x\ntitle: {id: A, en: B}\nscene: {id: a, en: b}\nsteps:\n  - expect: {rc: 5}\n"
         "    guide: {id: a, en: b}\n",
         "rc must be two digits"},
        {"name: x\ntitle: {id: A, en: B}\nscene: {id: a, en: b}\nsteps:\n  - expect: {card: "
         "family}\n"
         "    guide: {id: a, en: b}\n",
         "needs the lesson's family"},
        {"name: x\ntitle: {id: A, en: B}\nscene: {id: a, en: b}\nsteps:\n  - expect: {menu: x}\n",
         "menu: x is not a value"},
        {"name: X Y\ntitle: {id: A, en: B}\n", "name: only"},
        {"name: x\ntitle: {id: A, en: B\n", "x.yaml:"},
        {"name: x\n  bad: indent\n", "x.yaml:2:"},
        {"name: [a, b]\n", "name is required"},
        {"name: x\ntitle: {id: A, en: B}\nscene: {id: a, en: b}\nfamily: 12\nsteps: []\n",
         "family must be a 16-digit KK"},
        {"name: x\ntitle: {id: A, en: B}\nscene: {id: a, en: b}\nsteps:\n  - guide: {id: a, en: "
         "b}\n",
         "expect must be one key"},
        {"&a [*a]\n", "x.yaml:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[600] = "";
        cr_assert_eq(load(cases[i].text, err, sizeof err), -1, "case %zu loaded", i);
        cr_assert(strstr(err, cases[i].want), "case %zu: \"%s\" lacks \"%s\"", i, err,
                  cases[i].want);
    }
}

Test(lesson, hostile_bytes_deep_nesting_and_size)
{
    char err[600];
    /* a NUL and control bytes */
    static const char nul[] = "name: a\0b\ntitle: \x01\x02\n";
    tl_lesson l;
    cr_assert_eq(tl_load_mem("x.yaml", nul, sizeof nul - 1, &l, err, sizeof err), -1);
    cr_assert(strstr(err, "x.yaml:"), "%s", err);
    /* nesting far deeper than allowed */
    size_t n = 10000;
    char *deep = malloc(2 * n + 1);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = '\0';
    cr_assert_eq(load(deep, err, sizeof err), -1);
    free(deep);
    /* larger than the bound */
    size_t big = SC_FILE_MAX + 10;
    char *huge = malloc(big + 1);
    memset(huge, '#', big);
    huge[big] = '\0';
    cr_assert_eq(tl_load_mem("x.yaml", huge, big, &l, err, sizeof err), -1);
    cr_assert(strstr(err, "larger than"), "%s", err);
    free(huge);
    /* invalid UTF-8 */
    cr_assert_eq(load("name: \xff\xfe\n", err, sizeof err), -1);
}

Test(lesson, a_bad_file_in_the_directory_is_named_and_the_others_load)
{
    char dir[] = "/tmp/kks-lesson-XXXXXX", path[600], errs[2000];
    tl_lesson ls[4];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/a.yaml", dir);
    FILE *f = fopen(path, "w");
    fputs(good, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/b.yaml", dir);
    f = fopen(path, "w");
    fputs("name: b\ntitle: {id: A}\n", f);
    fclose(f);
    size_t n = tl_load_dir(dir, ls, 4, errs, sizeof errs);
    cr_assert_eq(n, 1);
    cr_assert(strstr(errs, "b.yaml:2:8:"), "%s", errs);
    tl_free(&ls[0]);
    unlink(path);
    snprintf(path, sizeof path, "%s/a.yaml", dir);
    unlink(path);
    rmdir(dir);
}

Test(lesson, easy_pins)
{
    cr_assert(tl_pin_trivial("123456"));
    cr_assert(tl_pin_trivial("987654"));
    cr_assert(tl_pin_trivial("777777"));
    cr_assert(tl_pin_trivial("1357"));
    cr_assert(tl_pin_trivial("13579a"));
    cr_assert_not(tl_pin_trivial("135792"));
    cr_assert_not(tl_pin_trivial("111357"));
}
