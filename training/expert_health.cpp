#include "training/expert_health.h"

#include <algorithm>
#include <cstdio>

namespace swarm {

ExpertHealthMonitor::ExpertHealthMonitor(int64_t warmupSteps, int64_t totalSteps)
    : warmup_(warmupSteps >= 0 ? warmupSteps : std::min<int64_t>(200, std::max<int64_t>(20, totalSteps / 10))) {}

std::vector<std::string> ExpertHealthMonitor::observe(int64_t step, const std::vector<std::vector<double>>& share) {
    std::vector<std::string> out;
    if (step <= warmup_) return out;
    if (state_.size() < share.size()) state_.resize(share.size());
    for (size_t l = 0; l < share.size(); ++l) {
        if (state_[l].size() < share[l].size()) state_[l].resize(share[l].size());
        for (size_t e = 0; e < share[l].size(); ++e) {
            const double s = share[l][e];
            ExpertState& st = state_[l][e];
            const bool starved = s < kStarvedBelow, dominates = s > kDominatesAbove;
            if (st.open >= 0) {
                Episode& ep = episodes_[size_t(st.open)];
                if (starved || dominates) {
                    st.inBounds = 0;
                    ep.extremeShare = ep.dominates ? std::max(ep.extremeShare, s) : std::min(ep.extremeShare, s);
                } else if (++st.inBounds >= kStepsToRecover) {
                    ep.lastStep = step;
                    st.open = -1;
                }
                continue;
            }
            if (!starved && !dominates) continue;
            episodes_.push_back(Episode{int64_t(l), int64_t(e), dominates, step, -1, s});
            st.open = int(episodes_.size() - 1);
            st.inBounds = 0;
            char buf[200];
            std::snprintf(buf, sizeof buf, "layer %zu expert %zu %s: %.1f%% of routed tokens at step %lld", l, e,
                          dominates ? "dominates (collapse)" : "is starved", 100.0 * s, (long long)step);
            out.push_back(buf);
        }
    }
    return out;
}

std::string ExpertHealthMonitor::summary(int64_t lastStep) const {
    char head[256];
    if (lastStep <= warmup_) {
        std::snprintf(head, sizeof head, "expert utilisation: the run ended within the %lld-step router warm-up",
                      (long long)warmup_);
        return head;
    }
    if (episodes_.empty()) {
        std::snprintf(head, sizeof head, "expert utilisation: every expert within 2-50%% of routed tokens after the %lld-step warm-up",
                      (long long)warmup_);
        return head;
    }
    int starved = 0, dominating = 0, ongoing = 0;
    for (const Episode& ep : episodes_) {
        (ep.dominates ? dominating : starved)++;
        if (ep.lastStep < 0) ++ongoing;
    }
    std::snprintf(head, sizeof head, "expert utilisation after the %lld-step warm-up: %d starved and %d dominating episode(s), %d still at step %lld:",
                  (long long)warmup_, starved, dominating, ongoing, (long long)lastStep);
    std::string s = head;
    const size_t shown = std::min<size_t>(episodes_.size(), 12);
    for (size_t i = 0; i < shown; ++i) {
        const Episode& ep = episodes_[i];
        char buf[160];
        if (ep.lastStep < 0)
            std::snprintf(buf, sizeof buf, " L%lld/E%lld %s from step %lld (%.1f%%);", (long long)ep.layer, (long long)ep.expert,
                          ep.dominates ? "dominates" : "starved", (long long)ep.firstStep, 100.0 * ep.extremeShare);
        else
            std::snprintf(buf, sizeof buf, " L%lld/E%lld %s steps %lld-%lld (%.1f%%);", (long long)ep.layer, (long long)ep.expert,
                          ep.dominates ? "dominates" : "starved", (long long)ep.firstStep, (long long)ep.lastStep,
                          100.0 * ep.extremeShare);
        s += buf;
    }
    if (episodes_.size() > shown) s += " and " + std::to_string(episodes_.size() - shown) + " more";
    else s.pop_back();
    return s;
}

} // namespace swarm
