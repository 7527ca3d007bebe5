#pragma once
// Deterministic generators of the bundled sample datasets (written here; no data copied from
// elsewhere). Same seed, same rows, byte for byte, on every platform. Field names follow the
// published datasets so that the presets detect them:
//   NL->SQL        question, context (CREATE TABLE ...), answer      (b-mc2/sql-create-context)
//   intent routing instruction, intent, category, response           (bitext customer support)
//   PII masking    source_text, target_text, privacy_mask            (ai4privacy/pii-masking)
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace swarm::samples {

constexpr size_t kDefaultCount = 10000;

// Rows are unique (no two share the same prompt fields).
std::vector<nlohmann::json> sqlSamples(size_t count = kDefaultCount, uint64_t seed = 1);
std::vector<nlohmann::json> routingSamples(size_t count = kDefaultCount, uint64_t seed = 2);
std::vector<nlohmann::json> piiSamples(size_t count = kDefaultCount, uint64_t seed = 3);

// The intents of the routing sample with their categories.
std::vector<std::pair<std::string, std::string>> routingIntents();
// The placeholder labels of the PII sample: NAME, EMAIL, PHONE, ADDRESS, IBAN.
std::vector<std::string> piiLabels();

// ISO 13616 check: country code, check digits, mod-97 == 1 (spaces ignored).
bool isValidIban(const std::string& iban);

struct SampleFile {
    std::string fileName;      // "nl2sql.jsonl"
    std::string preset;        // the preset that should detect it
    size_t rows = 0;
};
// Writes the three files (JSONL, atomically) into `dir`; returns what was written.
std::vector<SampleFile> writeSampleDatasets(const std::string& dir, size_t count = kDefaultCount);

// One JSON object per line, written atomically.
void writeJsonl(const std::string& path, const std::vector<nlohmann::json>& rows);

} // namespace swarm::samples
