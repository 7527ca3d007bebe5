#pragma once
// Models by Hugging Face repo id in the GUI's model pickers (issue 15): "org/name[@revision]",
// when no local path of that name exists, is a model repo resolved through the standard cache
// (core/hf_hub.h: $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub), the Hub asked only for
// what the cache lacks and never when offline ($HF_HUB_OFFLINE=1). Downloads happen on job
// threads and report there (installHubProgress); the UI thread only looks into the cache.
#include <QString>

#include <string>

namespace swarm::ui {

// Routes the Hub's download progress to the job whose thread downloads (JobRunner::current():
// its progress signal, so the status bar or the page shows "downloading org/name: ..."); to
// stderr on any other thread. Once, in the workbench main window.
void installHubProgress();

// True when `text` is a repo id and no file or folder of that name exists.
bool isHubModelId(const std::string& text);

// On a job thread: the local model folder of a repo id (downloaded into the cache when missing);
// any other text as it is (a folder, run, checkpoint or .gguf: the loader checks it). Throws
// swarm::Error in one line naming the repo, the file and the cause (offline and not cached,
// unknown repo, gated, network down).
std::string resolvePickedModel(const std::string& text);

// Without the network, for the UI thread: the cached snapshot of a repo id, "" when the cache
// lacks it; any other text as it is.
std::string cachedPickedModel(const std::string& text);

// "downloading org/name: model.safetensors (2/5), 12.0 MiB of 40.0 MiB"
QString describeDownload(const std::string& repo, const std::string& file, int index, int count, unsigned long long done,
                         unsigned long long total);

} // namespace swarm::ui
