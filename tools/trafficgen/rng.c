/*
 * rng.c -- trafficgen's pseudo-random numbers and distributions.
 *
 * xoshiro256** (public-domain algorithm by Blackman and Vigna), seeded
 * through the splitmix64 finalizer. Every actor gets its own stream keyed
 * by (seed, stream, index), so that adding an actor of one kind never
 * shifts what another actor does: the output stays comparable between
 * runs with different options. No time(), no rand(): the same seed gives
 * the same bytes on every run.
 *
 * The distributions are those real traffic shows: exponential gaps for
 * independent arrivals, log-normal think times for people, log-uniform for
 * parameters spanning an order of magnitude (flood rates).
 */
#include <math.h>

#include "tg.h"

uint64_t tg_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void tg_rng_seed(tg_rng *r, uint64_t seed, uint64_t stream, uint64_t index)
{
    uint64_t x = tg_mix64(seed) ^ tg_mix64(stream * 0x100000001b3ull + 17) ^
                 tg_mix64(index + 0x51ed27aull);
    for (int i = 0; i < 4; i++) {
        x = tg_mix64(x + (uint64_t)i);
        r->s[i] = x;
    }
    if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0) /* the one forbidden state */
        r->s[0] = 1;
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t tg_rng_next(tg_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double tg_uniform(tg_rng *r)
{
    return (double)(tg_rng_next(r) >> 11) * 0x1.0p-53;
}

double tg_range(tg_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * tg_uniform(r);
}

uint32_t tg_below(tg_rng *r, uint32_t n)
{
    /* Multiply-shift (Lemire) without the rejection step: the bias is
     * below 2^-32 and nobody measures it in a traffic mix. */
    return (uint32_t)(((tg_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

uint32_t tg_between(tg_rng *r, uint32_t lo, uint32_t hi)
{
    return lo + tg_below(r, hi - lo + 1);
}

bool tg_chance(tg_rng *r, double p)
{
    return tg_uniform(r) < p;
}

double tg_exponential(tg_rng *r, double mean)
{
    return -mean * log(1.0 - tg_uniform(r));
}

double tg_normal(tg_rng *r)
{
    /* Box-Muller; the second value is dropped to keep the state simple. */
    double u1 = 1.0 - tg_uniform(r), u2 = tg_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double tg_lognormal(tg_rng *r, double median, double sigma)
{
    return median * exp(sigma * tg_normal(r));
}

double tg_log_uniform(tg_rng *r, double lo, double hi)
{
    return lo * exp(log(hi / lo) * tg_uniform(r));
}

double tg_clamp(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}
