// Train/validation/test splits of an import, and the leakage check over them.
#include "datasets/import_steps.h"

#include "core/error.h"
#include "core/rng.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace swarm {

using nlohmann::json;

SplitSpec SplitSpec::parse(const std::string& ratios) {
    std::vector<double> v;
    size_t start = 0;
    while (start <= ratios.size()) {
        size_t comma = ratios.find(',', start);
        std::string part = ratios.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        size_t used = 0;
        double d = 0;
        try {
            d = std::stod(part, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        while (used < part.size() && part[used] == ' ') ++used;
        if (part.empty() || used != part.size() || !std::isfinite(d) || d < 0)
            throw Error("bad split '" + ratios + "': expected ratios like 0.9,0.05,0.05 (train,validation,test)");
        v.push_back(d);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (v.size() < 2 || v.size() > 3)
        throw Error("bad split '" + ratios + "': give 2 or 3 ratios (train,validation[,test])");
    if (v.size() == 2) v.push_back(0);
    const double sum = v[0] + v[1] + v[2];
    if (sum <= 0 || v[0] <= 0) throw Error("bad split '" + ratios + "': the train ratio must be positive");
    SplitSpec s;
    s.train = v[0] / sum;
    s.validation = v[1] / sum;
    s.test = v[2] / sum;
    return s;
}

SplitSpec SplitSpec::fromColumn(const std::string& column) {
    if (column.empty()) throw Error("the split column name is empty");
    SplitSpec s;
    s.column = column;
    return s;
}

json SplitSpec::toJson() const {
    if (!column.empty()) return json{{"mode", "column"}, {"column", column}};
    return json{{"mode", "ratio"}, {"train", train}, {"validation", validation}, {"test", test}};
}

void assignRatioSplits(std::vector<ImportedRow>& rows, const SplitSpec& spec, uint64_t seed, DatasetWriter& writer) {
    std::unordered_map<uint64_t, size_t> groupOf;
    std::vector<std::vector<size_t>> groups;
    for (size_t i = 0; i < rows.size(); ++i) {
        auto [it, fresh] = groupOf.emplace(rows[i].promptHash, groups.size());
        if (fresh) groups.emplace_back();
        groups[it->second].push_back(i);
    }
    SplitMix64 rng{seed};
    std::vector<size_t> order(groups.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[size_t(rng.below(i))]);
    const auto n = double(rows.size());
    const auto wantTest = int64_t(std::llround(n * spec.test));
    const auto wantVal = int64_t(std::llround(n * spec.validation));
    int64_t nTest = 0, nVal = 0;
    for (size_t g : order) {
        Split s = Split::Train;
        if (nTest < wantTest) {
            s = Split::Test;
            nTest += int64_t(groups[g].size());
        } else if (nVal < wantVal) {
            s = Split::Validation;
            nVal += int64_t(groups[g].size());
        }
        if (s == Split::Train) continue;
        for (size_t i : groups[g]) {
            rows[i].split = s;
            writer.setSplit(rows[i].exampleId, s);
        }
    }
}

void countSplits(const std::vector<ImportedRow>& rows, DatasetCounts& counts) {
    for (const ImportedRow& r : rows) {
        if (r.split == Split::Train) ++counts.nTrain;
        else if (r.split == Split::Validation) ++counts.nValidation;
        else ++counts.nTest;
    }
}

SplitLeakage findLeakage(const std::vector<ImportedRow>& rows) {
    // Per prompt: a bit per split it occurs in, and its first few records (for the report).
    std::unordered_map<uint64_t, std::pair<int, std::vector<int64_t>>> splitsOfPrompt;
    for (const ImportedRow& r : rows) {
        auto& e = splitsOfPrompt[r.promptHash];
        e.first |= 1 << int(r.split);
        if (e.second.size() < 4) e.second.push_back(r.number);
    }
    SplitLeakage leak;
    for (const auto& [hash, e] : splitsOfPrompt) {
        const int m = e.first;
        const bool tr = m & 1, va = m & 2, te = m & 4;
        if (tr && te) ++leak.trainTest;
        if (tr && va) ++leak.trainValidation;
        if (va && te) ++leak.validationTest;
        if ((tr && (va || te)) || (va && te)) {
            json splits = json::array();
            for (int s = 0; s < 3; ++s)
                if (m & (1 << s)) splits.push_back(splitName(Split(s)));
            leak.examples.push_back(json{{"records", e.second}, {"splits", splits}});
        }
    }
    std::sort(leak.examples.begin(), leak.examples.end(), [](const json& a, const json& b) {
        return a["records"][0].get<int64_t>() < b["records"][0].get<int64_t>();
    });
    if (leak.examples.size() > kReportLeaks)
        leak.examples.erase(leak.examples.begin() + std::ptrdiff_t(kReportLeaks), leak.examples.end());
    return leak;
}

} // namespace swarm
