#include "distill/dataset_builder.h"

#include "core/error.h"
#include "core/format.h"
#include "core/rng.h"
#include "datasets/dataset_import.h"
#include "datasets/prompt_template.h"

#include <chrono>
#include <cmath>
#include <map>

namespace swarm::distill {

using nlohmann::json;

namespace {

constexpr size_t kReportRejected = 200;

// Seeded ratio split of `n` accepted examples: shuffled, then test, validation, the rest train.
std::vector<Split> ratioSplits(size_t n, const json& spec, uint64_t seed) {
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = i;
    SplitMix64 rng(seed);
    for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    const size_t nTest = size_t(std::llround(double(n) * spec.value("test", 0.0)));
    const size_t nValidation = std::min(n - std::min(n, nTest), size_t(std::llround(double(n) * spec.value("validation", 0.0))));
    std::vector<Split> out(n, Split::Train);
    for (size_t k = 0; k < n; ++k) {
        if (k < nTest) out[order[k]] = Split::Test;
        else if (k < nTest + nValidation) out[order[k]] = Split::Validation;
    }
    return out;
}

std::string datasetPreset(const ProjectStore& project, const DistillJob& job) {
    if (job.sourceKind == "dataset")
        if (auto d = DatasetStore(project).findDataset(job.sourceDatasetId))
            if (!d->preset.empty()) return d->preset;
    return taskPreset(job.validation.task);
}

// The dataset's row in the project: provenance in its mapping.
NewDataset newDataset(const ProjectStore& project, const DistillJob& job) {
    NewDataset nd;
    nd.name = job.name;
    nd.sourcePath = job.sourceKind == "dataset" ? "dataset:" + job.source : job.source;
    nd.sourceFormat = "distillation";
    nd.preset = datasetPreset(project, job);
    nd.mapping = json{{"preset", nd.preset},
                      {"prompt_template", job.promptTemplate},
                      {"response_template", "{response}"},
                      {"chat_format", job.chatFormat},
                      {"explanation", "distilled from teacher '" + job.teacher.model + "' at " + job.teacherUrl +
                                          " (distillation job '" + job.name + "')"},
                      {"distillation", {{"job", job.name}, {"teacher_url", job.teacherUrl}, {"teacher_model", job.teacher.model}}}};
    nd.maxLen = job.validation.maxLen;
    nd.overlong = "drop";
    nd.split = job.split;
    nd.seed = job.seed;
    return nd;
}

// What writing the items found, for the import report.
struct ItemTally {
    DatasetCounts counts;
    std::map<std::string, int64_t> byReason, teacherModels;
    json rejectedSample = json::array();
    std::vector<int32_t> promptLens, responseLens, totalLens;
    int64_t duplicates = 0;
};

// Every item into the dataset: accepted answers as examples (in the split of their source
// example, or a seeded ratio split for files), the rest as rejected rows with their reason.
ItemTally writeItems(DatasetWriter& writer, const DistillJob& job, const std::vector<DistillItem>& items,
                     const ExampleEncoder& encoder) {
    size_t nAccepted = 0;
    for (const DistillItem& it : items) nAccepted += it.state == ItemState::Accepted ? 1 : 0;
    std::vector<Split> ratio;
    if (job.sourceKind != "dataset") ratio = ratioSplits(nAccepted, job.split, job.seed);

    ItemTally t;
    DatasetCounts& c = t.counts;
    size_t k = 0;
    auto rejectRow = [&](const DistillItem& it, const std::string& reason, const std::string& detail) {
        writer.addRejected(RejectedRow{it.recordNumber, 0, reason, detail});
        ++c.rowsRejected;
        ++t.byReason[reason];
        if (t.rejectedSample.size() < kReportRejected)
            t.rejectedSample.push_back(json{{"record", it.recordNumber}, {"line", 0}, {"reason", reason}, {"detail", detail}});
    };
    for (const DistillItem& it : items) {
        ++c.rowsRead;
        if (!it.teacherModel.empty()) ++t.teacherModels[it.teacherModel];
        if (it.state == ItemState::Rejected) {
            if (it.reason == "duplicate_prompt") ++t.duplicates;
            rejectRow(it, it.reason, it.detail);
            continue;
        }
        if (it.state == ItemState::Failed) {
            rejectRow(it, "teacher_failed", it.reason + ": " + it.detail);
            continue;
        }
        Split split = Split::Train;
        if (job.sourceKind == "dataset") {
            if (!parseSplit(it.split, split)) throw Error("distillation item " + std::to_string(it.position) + ": bad split '" + it.split + "'");
        } else {
            split = ratio[k];
        }
        ++k;
        const EncodedExample enc = encoder.encode(it.prompt, it.response);
        if (enc.tooLong) {
            rejectRow(it, "too_long", enc.tooLongDetail);
            continue;
        }
        writer.addExample(it.recordNumber, split, it.prompt, it.response, enc.ids, enc.promptLen, enc.truncated,
                          contentHash(it.prompt, it.response));
        ++c.rowsImported;
        c.nTokens += int64_t(enc.ids.size());
        (split == Split::Train ? c.nTrain : split == Split::Validation ? c.nValidation : c.nTest) += 1;
        t.promptLens.push_back(enc.promptLen);
        t.responseLens.push_back(int32_t(enc.ids.size()) - enc.promptLen);
        t.totalLens.push_back(int32_t(enc.ids.size()));
    }
    return t;
}

// The job's provenance and spend, kept in the dataset's import report.
json distillationReport(const DistillJob& job, const ItemCounts& counts, const ItemTally& t, const DistillStore& store) {
    std::map<std::string, int64_t> rejectedReasons, failedReasons;
    for (const auto& [key, n] : store.reasons(job.id)) (key.first == "failed" ? failedReasons : rejectedReasons)[key.second] = n;
    return json{
        {"job", job.name},
        {"teacher_url", job.teacherUrl},
        {"teacher_model", job.teacher.model},
        {"teacher_models_reported", t.teacherModels},
        {"request", job.teacher.toJson()},
        {"prompt_template", job.promptTemplate},
        {"chat_format", job.chatFormat},
        {"task", taskName(job.validation.task)},
        {"validation", job.validation.toJson()},
        {"source", {{"kind", job.sourceKind}, {"name", job.source}}},
        {"created_at", job.createdAt},
        {"built_at", utcTimestamp()},
        {"counts", {{"prompts", counts.total}, {"accepted", counts.accepted}, {"rejected", counts.rejected}, {"failed", counts.failed}}},
        {"rejected_by_reason", rejectedReasons},
        {"failed_by_reason", failedReasons},
        {"requests", counts.requests},
        {"prompt_tokens", counts.promptTokens},
        {"completion_tokens", counts.completionTokens},
        {"spent", counts.spent},
        {"price_in_per_mtok", job.priceIn},
        {"price_out_per_mtok", job.priceOut},
        {"mean_latency_ms", counts.answered ? counts.latencyMs / double(counts.answered) : 0.0}};
}

// The import report in the layout every dataset's report has (datasets/import_report).
json importReport(const NewDataset& nd, const ItemCounts& counts, const ItemTally& t, double seconds) {
    const DatasetCounts& c = t.counts;
    json report;
    report["source"] = json{{"path", nd.sourcePath}, {"format", "distillation"}, {"bytes", 0}, {"bom", false},
                            {"columns", json::array()}};
    report["mapping"] = nd.mapping;
    report["max_len"] = nd.maxLen;
    report["overlong"] = nd.overlong;
    report["split"] = nd.split;
    report["seed"] = nd.seed;
    report["counts"] = json{{"read", c.rowsRead},   {"imported", c.rowsImported}, {"rejected", c.rowsRejected},
                            {"truncated", 0},       {"truncated_tokens", 0},      {"train", c.nTrain},
                            {"validation", c.nValidation}, {"test", c.nTest},    {"tokens", c.nTokens}};
    report["rejected_by_reason"] = t.byReason;
    report["rejected"] = t.rejectedSample;
    report["rejected_listed"] = t.rejectedSample.size();
    report["tokens"] = json{{"prompt", lengthStats(t.promptLens)}, {"response", lengthStats(t.responseLens)},
                            {"total", lengthStats(t.totalLens)}};
    report["duplicates"] = json{{"count", t.duplicates}, {"dropped", true}, {"examples", json::array()}};
    report["leakage"] = json{{"train_test", 0}, {"train_validation", 0}, {"validation_test", 0}, {"examples", json::array()}};
    report["warnings"] = json::array();
    if (counts.failed)
        report["warnings"].push_back(std::to_string(counts.failed) + " prompts got no usable answer from the teacher (teacher_failed); "
                                     "swarm distill --retry-failed sends them again after the dataset is deleted");
    report["seconds"] = std::round(seconds * 1000.0) / 1000.0;
    report["dry_run"] = false;
    return report;
}

} // namespace

BuildResult buildDistilledDataset(ProjectStore& project, const Gpt2Tokenizer& tok, const DistillJob& job) {
    const auto t0 = std::chrono::steady_clock::now();
    DistillStore store(project);
    const ItemCounts counts = store.counts(job.id);
    if (counts.pending || counts.sending)
        throw Error("distillation job '" + job.name + "': " + std::to_string(counts.pending + counts.sending) +
                    " prompts are not answered yet; run the job to the end first");
    if (counts.accepted == 0)
        throw Error("distillation job '" + job.name + "': no answer was accepted (" + std::to_string(counts.rejected) +
                    " rejected, " + std::to_string(counts.failed) + " failed; see swarm distill rejected " + job.name + ")");
    const ExampleEncoder encoder(tok, ChatFormat::parse(job.chatFormat), job.validation.maxLen, OverlongPolicy::Drop);
    const NewDataset nd = newDataset(project, job);
    DatasetWriter writer = DatasetStore(project).beginDataset(nd);
    const ItemTally tally = writeItems(writer, job, store.items(job.id), encoder);
    if (tally.counts.rowsImported == 0)
        throw Error("distillation job '" + job.name + "': no accepted answer fits max_len " + std::to_string(job.validation.maxLen));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    json report = importReport(nd, counts, tally, seconds);
    report["distillation"] = distillationReport(job, counts, tally, store);
    const int64_t datasetId = writer.datasetId();
    writer.commit(tally.counts, report);
    return BuildResult{datasetId, tally.counts, report};
}

} // namespace swarm::distill
