#include "training/run_folder.h"

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/hf_hub.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace fs = std::filesystem;
using nlohmann::json;

namespace swarm::run_folder {

namespace {

bool isFile(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

bool isDir(const fs::path& p) {
    std::error_code ec;
    return fs::is_directory(p, ec);
}

bool isModelFolder(const fs::path& p) { return isDir(p) && isFile(p / "config.json"); }

std::string folderName(const fs::path& p) { return p.filename().string(); }

} // namespace

std::string manifestPath(const std::string& runDir) { return (fs::path(runDir) / kManifestFile).string(); }
std::string metricsPath(const std::string& runDir) { return (fs::path(runDir) / kMetricsFile).string(); }
std::string finalModelDir(const std::string& runDir) { return (fs::path(runDir) / kFinalDir).string(); }
std::string checkpointsDir(const std::string& runDir) { return (fs::path(runDir) / kCheckpointsDir).string(); }

std::string checkpointDirName(int64_t step) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "step-%08lld", (long long)step);
    return buf;
}

bool parseCheckpointDirName(const std::string& name, int64_t& step) {
    if (name.size() <= 5 || name.compare(0, 5, "step-") != 0 || name.size() > 5 + 18) return false;
    int64_t v = 0;
    for (size_t i = 5; i < name.size(); ++i) {
        if (name[i] < '0' || name[i] > '9') return false;
        v = v * 10 + (name[i] - '0');
    }
    step = v;
    return true;
}

bool isRunFolder(const std::string& dir) { return isFile(fs::path(dir) / kManifestFile); }

json readManifest(const std::string& runDir) {
    const std::string path = manifestPath(runDir);
    if (!isFile(path)) throw Error(path + ": no run manifest (not a run folder)");
    json j = json::parse(readTextFile(path, 1 << 24), nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.value("format", "") != kManifestFormat)
        throw Error(path + ": not a Swarm Workbench run manifest");
    return j;
}

void writeManifest(const std::string& runDir, const json& manifest) {
    writeFileAtomically(manifestPath(runDir), manifest.dump(2) + "\n");
}

std::vector<Checkpoint> listCheckpoints(const std::string& runDir) {
    std::vector<Checkpoint> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(checkpointsDir(runDir), ec)) {
        int64_t step = 0;
        if (!parseCheckpointDirName(folderName(e.path()), step) || !isFile(e.path() / kCheckpointStateFile)) continue;
        out.push_back(Checkpoint{step, e.path().string()});
    }
    std::sort(out.begin(), out.end(), [](const Checkpoint& a, const Checkpoint& b) { return a.step < b.step; });
    return out;
}

std::string modelName(const std::string& runName, int64_t step) {
    return step < 0 ? runName : runName + "@step-" + std::to_string(step);
}

const char* kindName(ModelLocation::Kind k) {
    switch (k) {
    case ModelLocation::Kind::HfFolder: return "hf";
    case ModelLocation::Kind::RunFinal: return "run";
    case ModelLocation::Kind::Checkpoint: return "checkpoint";
    case ModelLocation::Kind::Gguf: return "gguf";
    }
    return "hf";
}

namespace {

// How people write a checkpoint, as its folder: RUN@step-N (the name a checkpoint goes by) and
// RUN/checkpoints/step-N without the zero padding. Anything else comes back as it was.
fs::path checkpointSpelling(const std::string& input, const fs::path& p) {
    int64_t step = 0;
    const size_t at = input.rfind('@');
    if (at != std::string::npos && at > 0 && parseCheckpointDirName(input.substr(at + 1), step)) {
        std::error_code ec;
        const fs::path run = fs::absolute(fs::path(input.substr(0, at)), ec).lexically_normal();
        if (isRunFolder(run.string())) {
            const fs::path dir = fs::path(checkpointsDir(run.string())) / checkpointDirName(step);
            if (isDir(dir)) return dir;
            std::string steps;
            for (const Checkpoint& c : listCheckpoints(run.string())) steps += (steps.empty() ? "" : ", ") + std::to_string(c.step);
            throw Error("model '" + input + "': run " + run.string() + " has no checkpoint at step " + std::to_string(step) +
                        (steps.empty() ? std::string(" (it has none)") : " (its checkpoints: steps " + steps + ")"));
        }
    }
    if (!isDir(p) && folderName(p.parent_path()) == kCheckpointsDir && parseCheckpointDirName(folderName(p), step)) {
        const fs::path padded = p.parent_path() / checkpointDirName(step);
        if (isDir(padded)) return padded;
    }
    return p;
}

} // namespace

ModelLocation locateModel(const std::string& input, WithoutFinal withoutFinal) {
    if (input.empty()) throw Error("no model given");
    std::error_code ec;
    fs::path p = fs::absolute(fs::path(input), ec).lexically_normal();
    if (!p.empty() && p.filename().empty()) p = p.parent_path();
    p = checkpointSpelling(input, p);
    ModelLocation m;
    if (isFile(p)) {
        if (p.extension() != ".gguf")
            throw Error("model '" + input + "': a file must be a .gguf (a model folder holds config.json)");
        m.kind = ModelLocation::Kind::Gguf;
        m.modelPath = p.string();
        m.name = folderName(p);
        return m;
    }
    if (!isDir(p) && hub::looksLikeRepoId(input)) {
        // org/name[@revision]: a Hugging Face model repo, through the standard cache (downloaded
        // into it only when missing and not offline).
        const hub::Snapshot s = hub::resolveModel(hub::parseRepoId(input, hub::RepoType::Model), hub::hubOptionsFromEnvironment());
        m.modelPath = s.dir;
        m.name = input;
        return m;
    }
    if (!isDir(p)) throw Error("model '" + input + "': no such model folder, run folder or file");
    if (isRunFolder(p.string())) {
        m.runDir = p.string();
        if (isModelFolder(finalModelDir(m.runDir))) {
            m.kind = ModelLocation::Kind::RunFinal;
            m.modelPath = finalModelDir(m.runDir);
            m.name = modelName(folderName(p));
            return m;
        }
        const std::vector<Checkpoint> cks = listCheckpoints(m.runDir);
        if (withoutFinal == WithoutFinal::Refuse || cks.empty()) {
            std::string status = "?";
            try {
                status = readManifest(m.runDir).value("status", "?");
            } catch (const Error&) {
            }
            throw Error("model '" + input + "': the run has no final model yet (status '" + status + "')" +
                        (cks.empty() ? std::string(" and no checkpoint") : "; use a checkpoint instead, e.g. " + cks.back().path));
        }
        m.kind = ModelLocation::Kind::Checkpoint;
        m.modelPath = cks.back().path;
        m.step = cks.back().step;
        m.name = modelName(folderName(p), m.step);
        return m;
    }
    if (!isModelFolder(p))
        throw Error("model '" + input + "': not a model folder (no config.json), a run folder (no run.json) or a .gguf file");
    m.modelPath = p.string();
    m.name = folderName(p);
    const fs::path parent = p.parent_path();
    int64_t step = 0;
    if (folderName(p) == kFinalDir) {
        m.kind = ModelLocation::Kind::RunFinal;
        if (isRunFolder(parent.string())) m.runDir = parent.string();
        m.name = modelName(folderName(parent));
    } else if (folderName(parent) == kCheckpointsDir && parseCheckpointDirName(folderName(p), step)) {
        m.kind = ModelLocation::Kind::Checkpoint;
        m.step = step;
        if (isRunFolder(parent.parent_path().string())) m.runDir = parent.parent_path().string();
        m.name = modelName(folderName(parent.parent_path()), step);
    }
    return m;
}

} // namespace swarm::run_folder
