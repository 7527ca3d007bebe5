#pragma once
// What the sample generators share: their random numbers, slot filling, person names and the
// draw of unique rows. Internal to swarm_samples (sample_sql.cpp, sample_routing.cpp,
// sample_pii.cpp and sample_generators.cpp).
#include "core/error.h"
#include "core/rng.h"

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_set>
#include <vector>

namespace swarm::samples {

// Deterministic randomness (std distributions differ between standard libraries).
class Rng {
public:
    explicit Rng(uint64_t seed) : mix_(seed * 0x9E3779B97F4A7C15ull + 0x243F6A8885A308D3ull) {}
    uint64_t next() { return mix_.next(); }
    // Modulo, not SplitMix64::below's rejection: the bundled data must stay as it was generated.
    size_t below(size_t n) { return n ? size_t(next() % n) : 0; }
    int range(int lo, int hi) { return lo + int(below(size_t(hi - lo + 1))); }
    bool chance(int percent) { return int(below(100)) < percent; }
    template <class T> const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }

private:
    SplitMix64 mix_;
};

// Replaces {key} by values[key]; other braces stay as they are.
std::string fill(const std::string& tmpl, const std::map<std::string, std::string>& values);
// The first letter upper-cased (ASCII).
std::string capitalise(std::string s);

// Given names and family names from many countries (some with accents), for people in the
// NL->SQL tables and the PII texts. Used only once main() runs (no static initialisation uses them).
extern const std::vector<std::string> kFirstNames;
extern const std::vector<std::string> kLastNames;

// Draws `count` rows whose key (the prompt fields) is unique.
template <class Gen, class Key>
std::vector<nlohmann::json> uniqueRows(size_t count, uint64_t seed, Gen gen, Key key, const char* what) {
    Rng rng(seed);
    std::vector<nlohmann::json> rows;
    rows.reserve(count);
    std::unordered_set<std::string> seen;
    size_t attempts = 0;
    while (rows.size() < count) {
        if (++attempts > count * 50 + 1000)
            throw Error(std::string("sample generator '") + what + "' cannot produce " + std::to_string(count) +
                        " distinct rows");
        nlohmann::json row = gen(rng);
        if (seen.insert(key(row)).second) rows.push_back(std::move(row));
    }
    return rows;
}

} // namespace swarm::samples
