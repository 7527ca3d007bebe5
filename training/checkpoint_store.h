#pragma once
// Checkpoints of a run: RUN_DIR/checkpoints/step-00000050/ holding the model as a Hugging Face
// folder (so a checkpoint can be evaluated or exported like any model), optimizer.pt (AdamW
// moments), rng_cpu.bin and trainer_state.json (step, data position, fingerprints).
// A checkpoint is written into a hidden temporary folder, every file fsync'ed, then the folder
// is renamed into place: a crash leaves either the whole checkpoint or none. The last K are kept.
#include "model/eve_model.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace swarm {

class CheckpointStore {
public:
    explicit CheckpointStore(std::string runDir, int keep = 3);

    struct Info {
        int64_t step = 0;
        std::string path;
    };

    // Returns the checkpoint's folder. Prunes older checkpoints beyond `keep`.
    std::string save(int64_t step, const EveModel& model, torch::optim::Optimizer& optimizer,
                     const nlohmann::json& trainerState);

    std::vector<Info> list() const;           // complete checkpoints, oldest first
    std::optional<Info> latest() const;
    nlohmann::json loadState(const Info& info) const;
    // Loads weights and optimizer moments in place (the model must have the checkpoint's config).
    void restore(const Info& info, EveModel& model, torch::optim::Optimizer& optimizer) const;
    // Removes temporary folders a killed process left behind; returns how many.
    int removeIncomplete() const;

    const std::string& folder() const { return dir_; }

private:
    std::string runDir_;
    std::string dir_;
    int keep_;
};

// AdamW moments as the bytes of optimizer.pt (checkpoints; rank 0 sends them to the other ranks).
std::string serializeOptimizer(torch::optim::Optimizer& optimizer);
// Loads those bytes into an optimizer over the same parameters; throws swarm::Error naming `source`.
void loadOptimizer(torch::optim::Optimizer& optimizer, const std::string& bytes, const torch::Device& device,
                   const std::string& source);

} // namespace swarm
