#include "training/training_data.h"

#include "core/error.h"
#include "core/project_store.h"

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

} // namespace swarm
