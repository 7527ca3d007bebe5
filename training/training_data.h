#pragma once
// The examples a run trains on, loaded from a project dataset: one function for the CLI, the GUI
// and resume, so that they accept and refuse the same data.
#include "datasets/dataset_store.h"

#include <cstdint>
#include <string>
#include <vector>

namespace swarm {

struct TrainingData {
    std::vector<TrainingExample> train;
    std::vector<TrainingExample> validation;
    std::string datasetName;
    int64_t datasetId = 0;
    std::string projectPath;          // recorded in run.json so that a resume finds the data again
    // Identifies the examples and their order; a resumed run refuses different data.
    uint64_t fingerprint() const;
};

// The train and validation splits of dataset `nameOrId` (a name, or an id in digits) of the project
// file. Throws swarm::Error naming the project and the dataset when the project cannot be opened,
// the dataset is not there (listing those that are) or its train split is empty.
TrainingData loadTrainingData(const std::string& projectPath, const std::string& nameOrId);

} // namespace swarm
