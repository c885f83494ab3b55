/* Writes a credit-run manifest of n families with unique 16-digit KKs in
 * scattered order (a bijection of the row number), for benchmarks.
 * usage: bench_manifest N [PROGRAM PERIOD AMOUNT] > manifest.csv */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    long long n = argc > 1 ? atoll(argv[1]) : 0;
    const char *program = argc > 2 ? argv[2] : "bpnt";
    const char *period = argc > 3 ? argv[3] : "2026-11";
    const char *amount = argc > 4 ? argv[4] : "200000";
    static char buf[1 << 20];
    const uint64_t space = 10000000000ull; /* 10 digits after the 6-digit region */
    if (n <= 0 || (uint64_t)n > space) {
        fputs("usage: bench_manifest N [PROGRAM PERIOD AMOUNT]\n", stderr);
        return 2;
    }
    setvbuf(stdout, buf, _IOFBF, sizeof buf);
    printf("program,period,kk,amount\n");
    for (long long i = 0; i < n; i++) {
        /* 7919 is prime and does not divide 10^10: i -> i*7919 mod 10^10 is a bijection */
        uint64_t x = ((uint64_t)i * 7919ull + 12345ull) % space;
        printf("%s,%s,127101%010" PRIu64 ",%s\n", program, period, x, amount);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
