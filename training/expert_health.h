#pragma once
// Watches expert utilisation while training and turns it into few, meaningful warnings.
//
// A freshly initialised router is always unbalanced, so nothing is reported during a warm-up.
// After it, an expert whose share of routed tokens leaves [2%, 50%] starts an episode ("starved"
// below, "dominates (collapse)" above): one warning when it starts, none while it lasts. It ends
// after the share has been back within bounds for a few consecutive steps, so a share wandering
// around the 2% line is one episode, not one warning per crossing. summary() gives one line for
// the whole run. Torch-free: shares in, text out.
#include <cstdint>
#include <string>
#include <vector>

namespace swarm {

class ExpertHealthMonitor {
public:
    static constexpr double kStarvedBelow = 0.02;
    static constexpr double kDominatesAbove = 0.5;
    static constexpr int kStepsToRecover = 5;

    // warmupSteps < 0: automatic, max(20, totalSteps / 10) capped at 200.
    ExpertHealthMonitor(int64_t warmupSteps, int64_t totalSteps);

    int64_t warmupSteps() const { return warmup_; }
    // One optimiser step's shares [layer][expert]; returns the warnings that step starts.
    std::vector<std::string> observe(int64_t step, const std::vector<std::vector<double>>& share);
    // "expert utilisation: ..." for the end of a run (episodes after the warm-up, or balanced).
    std::string summary(int64_t lastStep) const;

    struct Episode {
        int64_t layer = 0, expert = 0;
        bool dominates = false;
        int64_t firstStep = 0, lastStep = -1;   // lastStep < 0: still going
        double extremeShare = 0;                // the lowest (starved) or highest (dominates) share seen
    };
    const std::vector<Episode>& episodes() const { return episodes_; }

private:
    struct ExpertState {
        int open = -1;          // index into episodes_ of the running episode, or -1
        int inBounds = 0;       // consecutive in-bounds steps while an episode runs
    };
    int64_t warmup_;
    std::vector<std::vector<ExpertState>> state_;
    std::vector<Episode> episodes_;
};

} // namespace swarm
