#pragma once
// What a run trains on, loaded from the project: the examples of a dataset (fine-tuning) or a
// text corpus (pre-training, packed into windows by the trainer). One set of functions for the
// CLI, the GUI, resume and the ranks of a distributed job, so that they accept and refuse the
// same data.
#include "datasets/dataset_store.h"
#include "datasets/text_corpus.h"

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace swarm {

struct TrainingData {
    // Fine-tuning: a dataset's examples, the prompt masked.
    std::vector<TrainingExample> train;
    std::vector<TrainingExample> validation;
    std::string datasetName;
    int64_t datasetId = 0;
    // Pre-training: a corpus, read in place (set instead of the examples).
    std::shared_ptr<const TextCorpus> corpus;
    std::string corpusName;
    int64_t corpusId = 0;
    std::string projectPath;          // recorded in run.json so that a resume finds the data again

    bool pretraining() const { return corpus != nullptr; }
    // "pretrain" or "finetune", as run.json's "objective" records it.
    const char* objective() const { return pretraining() ? "pretrain" : "finetune"; }
    // Fine-tuning: identifies the examples and their order; a resumed run refuses different data.
    // (A corpus's fingerprint depends on the context too: training/batch_source.h.)
    uint64_t fingerprint() const;
};

// The train and validation splits of dataset `nameOrId` (a name, or an id in digits) of the project
// file. Throws swarm::Error naming the project and the dataset when the project cannot be opened,
// the dataset is not there (listing those that are) or its train split is empty.
TrainingData loadTrainingData(const std::string& projectPath, const std::string& nameOrId);

// Corpus `name` of the project (swarm corpus import), opened for reading. Throws swarm::Error
// naming the project and listing its corpora when there is no such corpus, or naming the folder
// when its files are missing or damaged.
TrainingData loadCorpusData(const std::string& projectPath, const std::string& name);

// The data a run's manifest (run.json, or rank 0's job) names: its "objective" ("finetune" when
// absent) with "dataset" {"id"} or "corpus" {"name"}.
TrainingData loadRunData(const std::string& projectPath, const nlohmann::json& manifest);
// The project file a run's manifest records, or "" when it records none.
std::string projectOfRun(const nlohmann::json& manifest);

} // namespace swarm
