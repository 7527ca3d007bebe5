#include "training/training_data.h"

#include "core/error.h"
#include "core/project_store.h"
#include "datasets/corpus_store.h"

#include <nlohmann/json.hpp>

using nlohmann::json;

namespace swarm {

uint64_t TrainingData::fingerprint() const {
    uint64_t h = 1469598103934665603ull;     // FNV-1a over ids and prompt lengths
    auto mix = [&](uint64_t v) {
        for (int i = 0; i < 8; ++i) {
            h ^= (v >> (8 * i)) & 0xff;
            h *= 1099511628211ull;
        }
    };
    for (const auto* set : {&train, &validation}) {
        mix(set->size());
        for (const TrainingExample& e : *set) {
            mix(uint64_t(e.promptLen));
            mix(e.ids.size());
            for (int32_t id : e.ids) mix(uint64_t(uint32_t(id)));
        }
    }
    return h;
}

TrainingData loadTrainingData(const std::string& projectPath, const std::string& nameOrId) {
    ProjectStore project = ProjectStore::open(projectPath);
    DatasetStore datasets(project);
    const DatasetInfo ds = datasets.dataset(nameOrId);
    TrainingData data;
    data.datasetName = ds.name;
    data.datasetId = ds.id;
    data.projectPath = projectPath;
    data.train = datasets.trainingExamples(ds.id, Split::Train);
    data.validation = datasets.trainingExamples(ds.id, Split::Validation);
    if (data.train.empty()) throw Error(projectPath + ": dataset '" + ds.name + "' has no training examples");
    return data;
}

TrainingData loadCorpusData(const std::string& projectPath, const std::string& name) {
    registerCorpusSchema();
    ProjectStore project = ProjectStore::open(projectPath);
    CorpusStore corpora(project);
    const CorpusInfo info = corpora.corpus(name);
    TrainingData data;
    data.corpus = std::make_shared<const TextCorpus>(TextCorpus::open(corpora.folderOf(info)));
    data.corpusName = info.name;
    data.corpusId = info.id;
    data.projectPath = projectPath;
    if (data.corpus->trainTokens() == 0)
        throw Error(projectPath + ": corpus '" + info.name + "' has no training documents (all are held out)");
    return data;
}

TrainingData loadRunData(const std::string& projectPath, const json& manifest) {
    const std::string objective = manifest.value("objective", "finetune");
    if (objective == "pretrain") {
        const json& c = manifest.contains("corpus") ? manifest["corpus"] : json::object();
        const std::string name = c.is_object() ? c.value("name", "") : "";
        if (name.empty()) throw Error("the run is a pre-training run but names no corpus");
        return loadCorpusData(projectPath, name);
    }
    if (objective != "finetune") throw Error("the run's objective '" + objective + "' is not finetune or pretrain");
    const json& d = manifest.contains("dataset") ? manifest["dataset"] : json::object();
    return loadTrainingData(projectPath, std::to_string(d.is_object() ? d.value("id", int64_t(0)) : int64_t(0)));
}

std::string projectOfRun(const json& manifest) {
    for (const char* key : {"dataset", "corpus"})
        if (manifest.contains(key) && manifest[key].is_object() && !manifest[key].value("project", "").empty())
            return manifest[key].value("project", "");
    return "";
}

} // namespace swarm
