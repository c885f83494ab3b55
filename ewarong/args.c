/* The kks-terminal command line: options before or after the command, which
 * options each command takes, and the checks made before anything is sent.
 *
 * What is checked here is only what a terminal's keypad would refuse: a PIN
 * that is not six digits, a PAN that is not 12-19 digits, an amount that is
 * not a number. Whether a PAN's Luhn digit is right or an amount is allowed
 * is the switch's answer (14, 13), so such values are sent as typed. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "kks_cli.h"
#include "kks_err.h"
#include "kks_net.h"
#include "kks_pki.h"
#include "kks_registry.h"
#include "terminal.h"

enum {
    O_PAN = 1u << 0,
    O_NIK = 1u << 1,
    O_PIN = 1u << 2,
    O_PIN_AGAIN = 1u << 3,
    O_NEW_PIN = 1u << 4,
    O_AMOUNT = 1u << 5,
    O_WALLET = 1u << 6,
    O_ITEMS = 1u << 7,
    O_STAN = 1u << 8,
};

/* Option letters for getopt_long; the per-command ones carry a bit above. */
enum {
    K_ID = 256, K_SWITCH, K_PKI, K_JSON, K_LANG, K_STAN, K_DATE, K_STATE, K_TIMEOUT, K_PAN,
    K_NIK, K_PIN, K_PIN_AGAIN, K_NEW_PIN, K_AMOUNT, K_WALLET, K_ITEMS
};

static const struct command {
    const char *name;
    enum term_cmd cmd;
    const char *type; /* TxnRequest.type */
    unsigned allowed, required;
    const char *usage;
} commands[] = {
    {"activate", TERM_CMD_ACTIVATE, "activate", O_PAN | O_NIK | O_PIN | O_PIN_AGAIN | O_STAN,
     O_PAN | O_NIK | O_PIN,
     "activate --pan PAN --nik NIK --pin PIN [--pin-again PIN]\n"
     "    Activates a handed-over card: the holder's NIK and the new PIN, entered twice\n"
     "    (when --pin-again differs the terminal refuses at once).\n"},
    {"balance", TERM_CMD_BALANCE, "balance", O_PAN | O_PIN | O_STAN, O_PAN | O_PIN,
     "balance --pan PAN --pin PIN\n"
     "    Balance inquiry: both wallets, PKH (cash) and BPNT (food).\n"},
    {"withdraw", TERM_CMD_WITHDRAW, "withdraw", O_PAN | O_PIN | O_AMOUNT | O_WALLET | O_STAN,
     O_PAN | O_PIN | O_AMOUNT,
     "withdraw --pan PAN --pin PIN --amount RP [--wallet pkh|bpnt]\n"
     "    Cash withdrawal in whole rupiah (digits only), from PKH unless --wallet bpnt.\n"},
    {"purchase", TERM_CMD_PURCHASE, "purchase", O_PAN | O_PIN | O_ITEMS | O_WALLET | O_STAN,
     O_PAN | O_PIN | O_ITEMS,
     "purchase --pan PAN --pin PIN --items SKU:QTY[,SKU:QTY]... [--wallet bpnt|pkh]\n"
     "    Staples from the catalogue (SKU A-Z 0-9 -, QTY 1..999, at most 50 items),\n"
     "    paid from BPNT unless --wallet pkh.\n"},
    {"pin-change", TERM_CMD_PIN_CHANGE, "pin_change", O_PAN | O_PIN | O_NEW_PIN | O_STAN,
     O_PAN | O_PIN | O_NEW_PIN,
     "pin-change --pan PAN --pin OLD --new-pin NEW\n"},
    {"statement", TERM_CMD_STATEMENT, "statement", O_PAN | O_PIN | O_STAN, O_PAN | O_PIN,
     "statement --pan PAN --pin PIN\n"
     "    Mini statement: the last movements of both wallets.\n"},
    {"reverse", TERM_CMD_REVERSE, NULL, O_STAN, O_STAN,
     "reverse --stan N [--date YYYY-MM-DD]\n"
     "    Reverses this terminal's transaction N of the date (default today).\n"},
    {"settle", TERM_CMD_SETTLE, NULL, 0, 0,
     "settle [--date YYYY-MM-DD]\n"
     "    Sends this terminal's count and total of the day's approved, not reversed\n"
     "    withdrawals and purchases; the switch says whether its figures match\n"
     "    (exit 0 when they do, 1 when not).\n"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char usage_head[] =
    "usage: kks-terminal --id ID [--switch HOST:PORT --pki DIR] [--json] [--lang id|en]\n"
    "                    [--stan N] [--date YYYY-MM-DD] [--state DIR] [--timeout MS] COMMAND\n";

static const char usage_common[] =
    "\n"
    "Options (before or after the command):\n"
    "  --id ID             this terminal (EW-..., ATM-..., BR-...); its credentials are\n"
    "                      DIR/terminals/ID.crt, .key and .tpk (the PIN key)\n"
    "  --switch HOST:PORT  the switch (default: $KKS_SWITCH)\n"
    "  --pki DIR           the PKI directory (default: $KKS_PKI)\n"
    "  --json              one JSON object on stdout instead of a receipt (a failure\n"
    "                      too: \"error\" and \"exit\" say why and the exit code)\n"
    "  --lang id|en        receipt language: Bahasa Indonesia (default) or English\n"
    "  --stan N            use STAN N (1..999999) instead of the next one\n"
    "  --date YYYY-MM-DD   business date (default: today in WIB, UTC+7)\n"
    "  --state DIR         STAN counter and journal (default: $KKS_TERMINAL_STATE, else\n"
    "                      $XDG_STATE_HOME/kks/terminals, else ~/.local/state/kks/terminals;\n"
    "                      never the working directory): DIR/ID.stan, DIR/ID.journal\n"
    "  --timeout MS        how long to wait for each reply (default 10000)\n"
    "  --help              this text; COMMAND --help for one command\n"
    "  --version           the version and the seeds directory in use ($KKS_SEEDS,\n"
    "                      else the installed share/kks/seeds, else the source tree's)\n"
    "\n"
    "QA scenarios: kks-terminal run FILE|DIR... [--junit FILE] [-j N] (run --help).\n"
    "Trainers: kks-terminal --id ID train [--kind ewarong|atm] [--lesson NAME] [--record FILE]\n"
    "  (full screen, lessons from seeds/lessons; train --help).\n"
    "PINs are six digits and leave the terminal only as ISO 9564 format-4 PIN blocks.\n"
    "A withdrawal or purchase that gets no reply in time is reversed automatically\n"
    "(repeated for up to 120 s) and exits 3.\n"
    "Exit codes: 0 approved, 1 declined (or settle totals differ), 2 usage error,\n"
    "3 cannot reach or talk to the switch (including no reply in time; an Error from\n"
    "the switch, such as a refused terminal identity, is also 3), 4 internal error.\n";

const char *targs_usage(enum term_cmd cmd)
{
    static char buf[8192];
    size_t n = 0;
    if (cmd == TERM_CMD_NONE) {
        n = (size_t)snprintf(buf, sizeof buf, "%s\nCommands:\n", usage_head);
        for (size_t i = 0; i < NCOMMANDS && n < sizeof buf; i++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "  %s", commands[i].usage);
    } else {
        for (size_t i = 0; i < NCOMMANDS; i++)
            if (commands[i].cmd == cmd)
                n = (size_t)snprintf(buf, sizeof buf,
                                     "usage: kks-terminal --id ID [options] %s",
                                     commands[i].usage);
    }
    if (n < sizeof buf)
        snprintf(buf + n, sizeof buf - n, "%s", usage_common);
    return buf;
}

static const struct command *find_command(enum term_cmd cmd)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (commands[i].cmd == cmd)
            return &commands[i];
    return NULL;
}

const char *targs_cmd_name(enum term_cmd cmd)
{
    const struct command *c = find_command(cmd);
    return c ? c->name : "";
}

const char *targs_txn_type(enum term_cmd cmd)
{
    const struct command *c = find_command(cmd);
    return c ? c->type : NULL;
}

static int all_digits(const char *s, size_t min, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (s[n] < '0' || s[n] > '9' || n >= max)
            return 0;
    return n >= min;
}

int targs_pan_shape(const char *pan)
{
    return pan && all_digits(pan, 12, 19) ? 0 : KKS_EINVAL;
}

int targs_amount_parse(const char *s, int64_t *out)
{
    int64_t v = 0;
    if (!s || !*s)
        return KKS_EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return KKS_EINVAL;
        v = v * 10 + (*s - '0');
        if (v >= TERM_AMOUNT_LIMIT)
            return KKS_EINVAL;
    }
    *out = v;
    return 0;
}

int targs_stan_parse(const char *s, uint32_t *out)
{
    return kc_stan_parse(s, out);
}

int targs_items_parse(const char *s, term_item *items, size_t *n, char *why, size_t cap)
{
    char w[200];
    int rc = kc_items_parse(s, items, n, w, sizeof w);
    if (rc < 0)
        snprintf(why, cap, "--%.150s", w); /* "--items: ..." as typed */
    return rc;
}

void targs_wib_date(time_t now, char out[11])
{
    struct tm tm;
    time_t t = now + TERM_WIB_OFFSET;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

void targs_wipe(term_args *a)
{
    OPENSSL_cleanse(a->pin, sizeof a->pin);
    OPENSSL_cleanse(a->new_pin, sizeof a->new_pin);
}

/* Copies a PIN option out of argv and wipes argv's copy (so it does not stay
 * in the process's command line). Returns 0 or KKS_EINVAL; never echoes it. */
static int take_pin(char *arg, char out[KKS_PIN_LEN + 1])
{
    int ok = kks_pin_wellformed(arg);
    if (ok)
        memcpy(out, arg, KKS_PIN_LEN + 1);
    OPENSSL_cleanse(arg, strlen(arg));
    return ok ? 0 : KKS_EINVAL;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        if (!failed)                                                                               \
            snprintf(why, cap, __VA_ARGS__);                                                       \
        failed = 1;                                                                                \
    } while (0)

/* A stray word for an error message: a number might be a PIN typed without
 * --pin (or after a misspelt option), so numbers are not repeated. */
static void safe_word(const char *s, char *out, size_t cap)
{
    if (*s && strspn(s, "0123456789") == strlen(s))
        snprintf(out, cap, "(a number)");
    else
        snprintf(out, cap, "%.40s", s);
}

int targs_parse(term_args *a, int argc, char **argv, const term_defaults *d, char *why,
                size_t cap)
{
    static const struct option opts[] = {
        {"id", required_argument, 0, K_ID},
        {"switch", required_argument, 0, K_SWITCH},
        {"pki", required_argument, 0, K_PKI},
        {"json", no_argument, 0, K_JSON},
        {"lang", required_argument, 0, K_LANG},
        {"stan", required_argument, 0, K_STAN},
        {"date", required_argument, 0, K_DATE},
        {"state", required_argument, 0, K_STATE},
        {"timeout", required_argument, 0, K_TIMEOUT},
        {"pan", required_argument, 0, K_PAN},
        {"nik", required_argument, 0, K_NIK},
        {"pin", required_argument, 0, K_PIN},
        {"pin-again", required_argument, 0, K_PIN_AGAIN},
        {"new-pin", required_argument, 0, K_NEW_PIN},
        {"amount", required_argument, 0, K_AMOUNT},
        {"wallet", required_argument, 0, K_WALLET},
        {"items", required_argument, 0, K_ITEMS},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    static const struct {
        unsigned bit;
        const char *name;
    } optnames[] = {
        {O_PAN, "--pan"},         {O_NIK, "--nik"},       {O_PIN, "--pin"},
        {O_PIN_AGAIN, "--pin-again"}, {O_NEW_PIN, "--new-pin"}, {O_AMOUNT, "--amount"},
        {O_WALLET, "--wallet"},   {O_ITEMS, "--items"},   {O_STAN, "--stan"},
    };
    const char *id = NULL, *lang = NULL, *stan = NULL, *date = NULL, *timeout = NULL;
    const char *pan = NULL, *nik = NULL, *amount = NULL, *wallet = NULL, *items = NULL;
    char pin_again[KKS_PIN_LEN + 1] = "";
    const struct command *cmd = NULL;
    unsigned given = 0;
    int o, failed = 0;

    memset(a, 0, sizeof *a);
    a->timeout_ms = TERM_TIMEOUT_DEFAULT;
    a->sw = d->sw;
    a->pki = d->pki;
    a->state = d->state && *d->state ? d->state : NULL;
    why[0] = '\0';

    optind = 0; /* full reinitialisation: the tests parse many command lines */
    opterr = 0;
    /* No "+": GNU getopt permutes, so options may follow the command. */
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case K_ID: id = optarg; break;
        case K_SWITCH: a->sw = optarg; break;
        case K_PKI: a->pki = optarg; break;
        case K_JSON: a->json = 1; break;
        case K_LANG: lang = optarg; break;
        case K_STAN: stan = optarg; given |= O_STAN; break;
        case K_DATE: date = optarg; break;
        case K_STATE: a->state = optarg; break;
        case K_TIMEOUT: timeout = optarg; break;
        case K_PAN: pan = optarg; given |= O_PAN; break;
        case K_NIK: nik = optarg; given |= O_NIK; break;
        case K_AMOUNT: amount = optarg; given |= O_AMOUNT; break;
        case K_WALLET: wallet = optarg; given |= O_WALLET; break;
        case K_ITEMS: items = optarg; given |= O_ITEMS; break;
        case K_PIN:
            given |= O_PIN;
            if (take_pin(optarg, a->pin) < 0)
                FAIL("--pin: a PIN is exactly %d digits", KKS_PIN_LEN);
            break;
        case K_PIN_AGAIN:
            given |= O_PIN_AGAIN;
            if (take_pin(optarg, pin_again) < 0)
                FAIL("--pin-again: a PIN is exactly %d digits", KKS_PIN_LEN);
            break;
        case K_NEW_PIN:
            given |= O_NEW_PIN;
            if (take_pin(optarg, a->new_pin) < 0)
                FAIL("--new-pin: a PIN is exactly %d digits", KKS_PIN_LEN);
            break;
        case 'h': a->help = 1; break;
        case 'V': a->version = 1; break;
        default: {
            char msg[80];
            kks_cli_bad_option(o, argv, msg, sizeof msg);
            FAIL("%s", msg);
            break;
        }
        }
    }
    if (optind < argc) {
        for (size_t i = 0; i < NCOMMANDS; i++)
            if (strcmp(argv[optind], commands[i].name) == 0)
                cmd = &commands[i];
        if (!cmd) {
            char name[48];
            safe_word(argv[optind], name, sizeof name);
            FAIL("unknown command %s", name);
        } else if (optind + 1 < argc) {
            char name[48];
            safe_word(argv[optind + 1], name, sizeof name);
            FAIL("unexpected argument %s after %s", name, cmd->name);
        }
        a->cmd = cmd ? cmd->cmd : TERM_CMD_NONE;
    }
    if (a->help || a->version) { /* --help, then --version, win over everything else */
        failed = 0;
        if (!cmd)
            a->cmd = TERM_CMD_NONE;
        goto done;
    }
    if (!cmd)
        FAIL("no command given");
    if (failed)
        goto done;

    /* Which options the command takes. */
    for (size_t i = 0; i < sizeof optnames / sizeof optnames[0]; i++) {
        if ((given & optnames[i].bit) && !(cmd->allowed & optnames[i].bit))
            FAIL("%s does not apply to %s", optnames[i].name, cmd->name);
        if ((cmd->required & optnames[i].bit) && !(given & optnames[i].bit))
            FAIL("%s needs %s", cmd->name, optnames[i].name);
    }

    /* The terminal. */
    if (!id)
        FAIL("give the terminal's --id ID");
    else if (!kks_terminal_id_valid(id))
        FAIL("--id: not a terminal ID (EW-..., ATM-... or BR-..., A-Z 0-9 -, at most 40)");
    else
        snprintf(a->id, sizeof a->id, "%s", id);

    /* Common options. */
    if (!a->state)
        FAIL("no state directory: give --state DIR, or set KKS_TERMINAL_STATE or HOME");
    if (lang && strcmp(lang, "id") == 0)
        a->lang = TERM_LANG_ID;
    else if (lang && strcmp(lang, "en") == 0)
        a->lang = TERM_LANG_EN;
    else if (lang)
        FAIL("--lang: id or en");
    if (stan && targs_stan_parse(stan, &a->stan) < 0)
        FAIL("--stan: a number from 1 to %u", TERM_STAN_MAX);
    if (date) {
        int y, m, dd;
        if (kks_ymd_parse(date, &y, &m, &dd) < 0)
            FAIL("--date: a real date written YYYY-MM-DD");
        else
            snprintf(a->date, sizeof a->date, "%s", date);
    } else {
        targs_wib_date(d->now, a->date);
    }
    if (timeout) {
        int64_t t;
        if (targs_amount_parse(timeout, &t) < 0 || t < 1 || t > TERM_TIMEOUT_MAX)
            FAIL("--timeout: milliseconds from 1 to %u", TERM_TIMEOUT_MAX);
        else
            a->timeout_ms = (unsigned)t;
    }

    /* The command's own options. */
    if (pan && targs_pan_shape(pan) < 0)
        FAIL("--pan: a card number is 12 to 19 digits (got %zu characters)", strlen(pan));
    else if (pan)
        snprintf(a->pan, sizeof a->pan, "%s", pan);
    if (nik && !all_digits(nik, 16, 16))
        FAIL("--nik: a NIK is 16 digits");
    else if (nik)
        snprintf(a->nik, sizeof a->nik, "%s", nik);
    if (amount && targs_amount_parse(amount, &a->amount) < 0)
        FAIL("--amount: whole rupiah, digits only (e.g. 200000), below 10^15");
    if (wallet && strcmp(wallet, "pkh") != 0 && strcmp(wallet, "bpnt") != 0)
        FAIL("--wallet: pkh or bpnt");
    else if (wallet)
        snprintf(a->wallet, sizeof a->wallet, "%s", wallet);
    if (items && !failed) {
        char w[160];
        if (targs_items_parse(items, a->items, &a->n_items, w, sizeof w) < 0)
            FAIL("%s", w);
    }
    if ((given & O_PIN_AGAIN) && !failed && CRYPTO_memcmp(a->pin, pin_again, sizeof pin_again))
        FAIL("the two new PINs differ: enter the same PIN twice");

    /* Where the switch is, last: a typing mistake above is the more useful message. */
    if (!a->sw || !*a->sw)
        FAIL("no switch address: give --switch HOST:PORT or set KKS_SWITCH");
    else {
        struct sockaddr_storage ss;
        if (kks_addr_parse(a->sw, &ss) < 0)
            FAIL("--switch: %s", kks_strerror(KKS_EADDR));
    }
    if (!a->pki || !*a->pki)
        FAIL("no PKI directory: give --pki DIR or set KKS_PKI");

done:
    OPENSSL_cleanse(pin_again, sizeof pin_again);
    if (failed) {
        targs_wipe(a);
        return TERM_EXIT_USAGE;
    }
    return TERM_EXIT_OK;
}
