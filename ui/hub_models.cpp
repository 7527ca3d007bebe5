#include "ui/hub_models.h"

#include "ui/job_runner.h"

#include "core/format.h"
#include "core/hf_cache.h"
#include "core/hf_hub.h"

#include <filesystem>

namespace swarm::ui {

void installHubProgress() {
    hub::setProcessProgressReporter([](const hub::DownloadProgress& p) {
        JobRunner* job = JobRunner::current();
        if (!job) return hub::stderrProgress(p);
        const double fraction = p.bytesTotal ? double(p.bytesDone) / double(p.bytesTotal) : 0.0;
        job->report(fraction, describeDownload(p.repo, p.file, p.fileIndex, p.fileCount, p.bytesDone, p.bytesTotal));
    });
}

bool isHubModelId(const std::string& text) {
    std::error_code ec;
    return !text.empty() && !std::filesystem::exists(text, ec) && hub::looksLikeRepoId(text);
}

std::string resolvePickedModel(const std::string& text) {
    if (!isHubModelId(text)) return text;
    return hub::resolveModel(hub::parseRepoId(text, hub::RepoType::Model), hub::hubOptionsFromEnvironment()).dir;
}

std::string cachedPickedModel(const std::string& text) {
    if (!isHubModelId(text)) return text;
    const hub::RepoId repo = hub::parseRepoId(text, hub::RepoType::Model);
    const hub::RepoCache cache(hub::defaultCacheRoot(), repo);
    const std::optional<std::string> commit = cache.commitFor(repo.revision);
    if (!commit || !cache.snapshotFile(*commit, "config.json")) return "";
    return cache.snapshotDir(*commit);
}

QString describeDownload(const std::string& repo, const std::string& file, int index, int count, unsigned long long done,
                         unsigned long long total) {
    QString text = QString("downloading %1: %2 (%3/%4)").arg(QString::fromStdString(repo), QString::fromStdString(file)).arg(index).arg(count);
    if (total) text += QString(", %1 of %2").arg(QString::fromStdString(formatBytes(done)), QString::fromStdString(formatBytes(total)));
    return text;
}

} // namespace swarm::ui
