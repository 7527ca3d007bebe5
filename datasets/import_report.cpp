// The validation report of an import: counts, rejections, token-length statistics, duplicates,
// leakage and warnings.
#include "datasets/import_steps.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>

namespace swarm {

using nlohmann::json;

json lengthStats(std::vector<int32_t> values, int bins) {
    json j;
    j["count"] = values.size();
    if (values.empty()) {
        j["min"] = j["max"] = j["median"] = j["p95"] = 0;
        j["mean"] = 0.0;
        j["histogram"] = json{{"bin_width", 1}, {"counts", json::array()}};
        return j;
    }
    std::sort(values.begin(), values.end());
    const size_t n = values.size();
    double sum = 0;
    for (int32_t v : values) sum += v;
    auto rank = [&](double q) {   // nearest-rank percentile
        size_t r = size_t(std::ceil(q * double(n)));
        return values[std::min(n - 1, r == 0 ? 0 : r - 1)];
    };
    j["min"] = values.front();
    j["max"] = values.back();
    j["mean"] = std::round(sum / double(n) * 100.0) / 100.0;
    j["median"] = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    j["p95"] = rank(0.95);
    bins = std::max(1, bins);
    const int32_t width = std::max<int32_t>(1, int32_t((int64_t(values.back()) + bins) / bins));
    std::vector<int64_t> counts(size_t(values.back() / width) + 1, 0);
    for (int32_t v : values) ++counts[size_t(v / width)];
    j["histogram"] = json{{"bin_width", width}, {"counts", counts}};
    return j;
}

void sortRejectedByRecord(ImportTally& tally) {
    std::stable_sort(tally.rejectedSample.begin(), tally.rejectedSample.end(), [](const json& a, const json& b) {
        return a["record"].get<int64_t>() < b["record"].get<int64_t>();
    });
}

void throwNothingImported(const std::string& sourcePath, const ImportTally& tally) {
    std::string why;
    for (const auto& [reason, n] : tally.byReason) why += (why.empty() ? "" : ", ") + reason + ": " + std::to_string(n);
    std::string first;
    if (!tally.rejectedSample.empty()) {
        const json& r = tally.rejectedSample[0];
        first = "; first: record " + std::to_string(r["record"].get<int64_t>()) + " (line " +
                std::to_string(r["line"].get<int64_t>()) + "): " + r["detail"].get<std::string>();
    }
    const int64_t read = tally.counts.rowsRead;
    throw Error(sourcePath + ": nothing to import: " +
                (read == 0 ? std::string("the file has no records")
                           : "all " + std::to_string(read) + " records were rejected (" + why + ")" + first) +
                "; the project is unchanged");
}

namespace {

// The mapping's warnings, then those about what the import found.
json reportWarnings(const ImportOptions& o, const ImportSource& source, const ImportTally& tally,
                    const SplitLeakage& leakage) {
    json warnings = source.warnings;
    const DatasetCounts& c = tally.counts;
    if (leakage.trainTest + leakage.trainValidation + leakage.validationTest > 0)
        warnings.push_back("train/test leakage: " + std::to_string(leakage.trainTest) +
                           " prompts are in both train and test, " + std::to_string(leakage.trainValidation) +
                           " in both train and validation");
    if (c.nTruncated * 10 > c.rowsImported)
        warnings.push_back(std::to_string(c.nTruncated) + " of " + std::to_string(c.rowsImported) +
                           " examples were truncated to max_len " + std::to_string(o.maxLen));
    if (!source.splitPath && c.nTest == 0 && o.split.test > 0)
        warnings.push_back("the test split is empty: too few rows for the ratio");
    if (!source.splitPath && c.nValidation == 0 && o.split.validation > 0)
        warnings.push_back("the validation split is empty: too few rows for the ratio");
    return warnings;
}

} // namespace

json importReport(const ImportOptions& o, const ImportSource& source, const ImportTally& tally,
                  const SplitLeakage& leakage, double seconds) {
    const RecordReader& reader = *source.reader;
    const DatasetCounts& c = tally.counts;
    json report;
    report["source"] = json{{"path", source.absolutePath},
                            {"format", formatName(reader.format())},
                            {"bytes", reader.fileSize()},
                            {"bom", reader.hadBom()},
                            {"columns", source.columns}};
    if (!reader.wrapperKey().empty()) report["source"]["json_key"] = reader.wrapperKey();
    report["mapping"] = source.mapping.toJson();
    report["max_len"] = o.maxLen;
    report["overlong"] = overlongName(o.overlong);
    report["split"] = o.split.toJson();
    report["seed"] = o.seed;
    report["counts"] = json{{"read", c.rowsRead},
                            {"imported", c.rowsImported},
                            {"rejected", c.rowsRejected},
                            {"truncated", c.nTruncated},
                            {"truncated_tokens", tally.truncatedTokens},
                            {"train", c.nTrain},
                            {"validation", c.nValidation},
                            {"test", c.nTest},
                            {"tokens", c.nTokens}};
    report["rejected_by_reason"] = tally.byReason;
    report["rejected"] = tally.rejectedSample;
    report["rejected_listed"] = tally.rejectedSample.size();
    report["tokens"] = json{{"prompt", lengthStats(tally.promptLens)},
                            {"response", lengthStats(tally.responseLens)},
                            {"total", lengthStats(tally.totalLens)}};
    report["duplicates"] = json{{"count", tally.duplicates}, {"dropped", o.dropDuplicates}, {"examples", tally.duplicateSample}};
    report["leakage"] = json{{"train_test", leakage.trainTest},
                             {"train_validation", leakage.trainValidation},
                             {"validation_test", leakage.validationTest},
                             {"examples", leakage.examples}};
    report["warnings"] = reportWarnings(o, source, tally, leakage);
    report["seconds"] = std::round(seconds * 1000.0) / 1000.0;
    report["dry_run"] = o.dryRun;
    return report;
}

} // namespace swarm
