#pragma once
// SplitMix64 (Steele, Lea and Flood 2014): the project's one small seedable generator, the same
// numbers on every platform and standard library (std:: distributions are not), for shuffles,
// sampling and generated data. Also the seeding step of the engine's xoshiro256** sampler.
#include <cstddef>
#include <cstdint>

namespace swarm {

struct SplitMix64 {
    uint64_t state = 0;

    explicit SplitMix64(uint64_t seed = 0) : state(seed) {}
    uint64_t next() {
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    // Uniform in [0, n) (rejection, no modulo bias); 0 when n == 0.
    uint64_t below(uint64_t n) {
        if (n == 0) return 0;
        const uint64_t limit = ~uint64_t(0) - (~uint64_t(0) % n);
        uint64_t x;
        do x = next();
        while (x >= limit);
        return x % n;
    }
    double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }   // [0, 1)
};

} // namespace swarm
