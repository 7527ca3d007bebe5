#include "distill/job_setup.h"

#include "distill/prompt_source.h"

#include "core/error.h"
#include "datasets/dataset_presets.h"
#include "datasets/dataset_store.h"
#include "datasets/prompt_template.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

namespace swarm::distill {

using nlohmann::json;

namespace {

// The task a dataset preset's metrics evaluate.
Task taskForPreset(const std::string& preset) {
    if (preset == "sql") return Task::Sql;
    if (preset == "router") return Task::Label;
    if (preset == "pii") return Task::Pii;
    if (preset == "function" || preset == "extract") return Task::Json;
    return Task::Text;
}

void note(std::vector<std::string>* notes, const std::string& line) {
    if (notes) notes->push_back(line);
}

// The distinct responses of a dataset, as a label set (at most 1000).
std::vector<std::string> labelsOfDataset(const ProjectStore& project, int64_t datasetId, const std::string& name) {
    std::set<std::string> labels;
    DatasetStore(project).forEachExample(datasetId, std::nullopt, [&](const StoredExample& e) {
        labels.insert(e.response);
        return labels.size() <= 1000;
    });
    if (labels.size() > 1000)
        throw Error("dataset '" + name + "' has more than 1000 distinct responses: not a label set (give --labels)");
    return {labels.begin(), labels.end()};
}

void checkTeacher(const JobSpec& spec) {
    if (spec.name.empty()) throw Error("distillation: the job needs a name (--name: the dataset it builds)");
    if (spec.teacher.model.empty()) throw Error("distillation: the teacher model is required (--teacher-model)");
    if (spec.limit < 0) throw Error("--limit must not be negative");
    if (spec.teacher.maxTokens < 1 || spec.teacher.maxTokens > 1000000) throw Error("--max-tokens must be in [1, 1000000]");
    if (!(spec.teacher.temperature >= 0) || spec.teacher.temperature > 100) throw Error("--temperature must be in [0, 100]");
    for (double price : {spec.priceIn, spec.priceOut})
        if (!std::isfinite(price) || price < 0) throw Error("--price-in and --price-out must be non-negative numbers");
}

} // namespace

DistillJob jobFromSpec(const ProjectStore& project, const JobSpec& spec, std::vector<std::string>* notes) {
    checkTeacher(spec);
    DistillJob j;
    j.name = spec.name;
    j.teacherUrl = TeacherEndpoint::parse(spec.teacherUrl).url;
    j.teacher = spec.teacher;
    j.chatFormat = spec.chatFormat.empty() ? std::string(ChatFormat::kDefault) : spec.chatFormat;
    ChatFormat::parse(j.chatFormat);
    j.seed = spec.seed;
    j.priceIn = spec.priceIn;
    j.priceOut = spec.priceOut;
    j.keySource = spec.keySource.describe();
    j.validation = spec.validation;

    DatasetStore datasets(project);
    std::string datasetName;
    if (spec.prompts.rfind("dataset:", 0) == 0) datasetName = spec.prompts.substr(8);
    else if (!std::filesystem::is_regular_file(spec.prompts) && datasets.findDataset(spec.prompts)) datasetName = spec.prompts;
    std::string preset;
    if (!datasetName.empty()) {
        const DatasetInfo d = datasets.dataset(datasetName);
        j.sourceKind = "dataset";
        j.source = d.name;
        j.sourceDatasetId = d.id;
        j.split = json{{"mode", "source"}, {"only", spec.sourceSplit}};
        if (spec.limit > 0) j.split["limit"] = spec.limit;
        j.promptTemplate = spec.promptTemplate.empty() ? "{prompt}" : spec.promptTemplate;
        preset = d.preset;
    } else {
        if (spec.prompts.empty()) throw Error("distillation: --prompts is required (a file, or a dataset of the project)");
        if (!std::filesystem::is_regular_file(spec.prompts)) {
            std::string known;
            for (const DatasetInfo& d : datasets.datasets()) known += (known.empty() ? "" : ", ") + d.name;
            throw Error("--prompts '" + spec.prompts + "': no such file, and the project has no dataset of that name" +
                        (known.empty() ? "" : " (datasets: " + known + ")"));
        }
        if (!spec.sourceSplit.empty()) throw Error("--split selects a split of a prompt dataset; a file has none");
        if (!spec.split.column.empty()) throw Error("distillation: a file source is split by ratios (--split-ratios), not by a column");
        j.sourceKind = "file";
        j.source = std::filesystem::absolute(spec.prompts).lexically_normal().string();
        j.split = spec.split.toJson();
        if (spec.limit > 0) j.split["limit"] = spec.limit;
        j.promptTemplate = spec.promptTemplate;
        if (j.promptTemplate.empty()) {
            const std::vector<std::string> columns = sampleColumns(j.source, spec.reader);
            const PresetDetection detected = detectPreset(columns);
            if (std::find(columns.begin(), columns.end(), "prompt") != columns.end()) {
                j.promptTemplate = "{prompt}";
                note(notes, "prompt template {prompt} (the records' prompt field)");
            } else if (detected.preset) {
                j.promptTemplate = detected.preset->promptTemplate;
                preset = detected.preset->name;
                note(notes, "prompt template from preset '" + preset + "': " + detected.explanation);
            } else {
                std::string cols;
                for (const std::string& c : columns) cols += (cols.empty() ? "" : ", ") + c;
                throw Error("--template is needed: the records of " + j.source + " have no 'prompt' field and match no preset (columns: " +
                            cols + ")");
            }
        }
    }
    TextTemplate::parse(j.promptTemplate);
    if (spec.taskAuto) {
        j.validation.task = taskForPreset(preset);
        note(notes, std::string("task '") + taskName(j.validation.task) + "'" +
                        (preset.empty() ? " (no dataset preset names another)" : " (from the dataset preset '" + preset + "')"));
    }
    if (j.validation.task == Task::Label && j.validation.labels.empty() && j.sourceKind == "dataset") {
        j.validation.labels = labelsOfDataset(project, j.sourceDatasetId, j.source);
        note(notes, "label set: the " + std::to_string(j.validation.labels.size()) + " distinct responses of dataset '" + j.source + "'");
    }
    j.validation.check();
    j.status = "ready";
    return j;
}

std::string jobMismatch(const DistillJob& s, const DistillJob& r) {
    auto differs = [](const std::string& what, const std::string& asked, const std::string& stored) {
        return what + " '" + asked + "' (the stored job has '" + stored + "')";
    };
    if (r.teacherUrl != s.teacherUrl) return differs("teacher URL", r.teacherUrl, s.teacherUrl);
    if (r.teacher.model != s.teacher.model) return differs("teacher model", r.teacher.model, s.teacher.model);
    if (r.teacher.system != s.teacher.system) return differs("system message", r.teacher.system, s.teacher.system);
    if (r.teacher.toJson() != s.teacher.toJson()) return differs("request settings", r.teacher.toJson().dump(), s.teacher.toJson().dump());
    if (r.sourceKind != s.sourceKind || r.source != s.source) return differs("prompts", r.source, s.source);
    if (r.promptTemplate != s.promptTemplate) return differs("prompt template", r.promptTemplate, s.promptTemplate);
    if (r.chatFormat != s.chatFormat) return differs("chat format", r.chatFormat, s.chatFormat);
    if (r.validation.toJson() != s.validation.toJson())
        return differs("validation", r.validation.toJson().dump(), s.validation.toJson().dump());
    if (r.split != s.split) return differs("split", r.split.dump(), s.split.dump());
    if (r.seed != s.seed) return differs("seed", std::to_string(r.seed), std::to_string(s.seed));
    if (r.priceIn != s.priceIn || r.priceOut != s.priceOut)
        return differs("prices", std::to_string(r.priceIn) + "/" + std::to_string(r.priceOut),
                       std::to_string(s.priceIn) + "/" + std::to_string(s.priceOut));
    return "";
}

PreparedJob prepareJob(ProjectStore& project, const JobSpec& spec) {
    PreparedJob p;
    const DistillJob requested = jobFromSpec(project, spec, &p.notes);
    DistillStore store(project);
    if (std::optional<DistillJob> stored = store.find(spec.name)) {
        const std::string mismatch = jobMismatch(*stored, requested);
        if (!mismatch.empty())
            throw Error("distillation job '" + spec.name + "' exists with other settings: " + mismatch +
                        "; give another --name for a new job, or the same settings to resume it");
        if (stored->keySource != requested.keySource) {
            store.setKeySource(stored->id, requested.keySource);
            stored->keySource = requested.keySource;
        }
        p.notes.clear();
        p.notes.push_back("resuming job '" + spec.name + "' (" + stored->status + ")");
        p.job = *stored;
        return p;
    }
    if (DatasetStore(project).findDataset(spec.name))
        throw Error("a dataset named '" + spec.name + "' exists already: the job's dataset needs a new --name");
    PromptLoad load = requested.sourceKind == "dataset"
                          ? loadPromptDataset(project, requested.source, spec.sourceSplit, requested.promptTemplate, spec.limit)
                          : loadPromptFile(requested.source, spec.reader, requested.promptTemplate, spec.limit);
    const int64_t id = store.createJob(requested, load.items);
    p.job = *store.find(id);
    p.created = true;
    p.notes.push_back(std::to_string(load.records) + " records: " +
                      std::to_string(load.records - load.duplicates - load.unusable) + " prompts to send, " +
                      std::to_string(load.duplicates) + " duplicate prompts and " + std::to_string(load.unusable) +
                      " records without a prompt (kept as rejected, never sent)");
    return p;
}

} // namespace swarm::distill
