#include "ui/distill_job.h"

#include "ui/job_runner.h"

#include "core/error.h"
#include "core/format.h"
#include "core/tokenizer.h"
#include "datasets/dataset_store.h"
#include "distill/json_schema.h"

#include <algorithm>

namespace swarm::ui {

namespace {

bool keepsForTable(const distill::DistillItem& item) {
    return item.state == distill::ItemState::Rejected || item.state == distill::ItemState::Failed;
}

// The job to run: the stored one for a resume, else prepared from its definition (created, or
// the stored job of that name when the definition is the same).
distill::DistillJob jobToRun(ProjectStore& project, const DistillRequest& r, DistillJobStarted& started) {
    distill::DistillStore store(project);
    if (r.resume) {
        const distill::DistillJob job = store.job(r.spec.name);
        if (!r.key.empty()) store.setKeySource(job.id, r.key.describe());
        started.name = QString::fromStdString(job.name);
        return *store.find(job.id);
    }
    distill::JobSpec spec = r.spec;
    if (spec.name.empty()) throw Error("the dataset name is empty: name the dataset the job builds");
    if (spec.teacherUrl.empty()) throw Error("the teacher URL is empty (e.g. http://127.0.0.1:8080 or https://api.openai.com/v1)");
    if (spec.teacher.model.empty()) throw Error("the teacher model is empty: the model name sent with each request");
    if (spec.prompts.empty()) throw Error("no prompts: choose a prompt file or a dataset of the project");
    if (!r.labels.empty()) spec.validation.labels = distill::parseLabelList(r.labels);
    if (!r.jsonSchemaPath.empty()) spec.validation.jsonSchema = distill::JsonSchema::load(r.jsonSchemaPath).schema();
    spec.keySource = r.key;
    const distill::PreparedJob p = distill::prepareJob(project, spec);
    started.name = QString::fromStdString(p.job.name);
    started.created = p.created;
    for (const std::string& n : p.notes) started.notes << QString::fromStdString(n);
    return p.job;
}

// This run's options. `givenKey`: the key from the source the user named, read before the job
// was prepared (a missing key file creates no job); else the job's stored source or the defaults.
distill::RunOptions runOptionsFor(const DistillRequest& r, const distill::DistillJob& job, const std::string& givenKey) {
    distill::RunOptions o = r.options;
    if (o.maxSpend > 0 && job.priceIn == 0 && job.priceOut == 0)
        throw Error("a spend cap needs the job's prices (price in and price out per million tokens)");
    o.apiKey = !r.key.empty()            ? givenKey
               : !job.keySource.empty() ? distill::loadApiKey(distill::ApiKeySource::parse(job.keySource))
                                        : distill::loadApiKey(distill::defaultKeySource());
    o.check();
    return o;
}

QString summary(const distill::DistillJob& after, const distill::DistillResult& r, ProjectStore& project) {
    QString text = QString("job %1: %2").arg(QString::fromStdString(after.name), QString::fromStdString(after.status));
    if (!r.message.empty()) text += " (" + QString::fromStdString(r.message) + ")";
    text += QString("; this run %1 requests, %2 retries, %3 answers in %4")
                .arg(r.requests).arg(r.retries).arg(r.answers).arg(QString::fromStdString(formatDuration(r.seconds)));
    if (r.datasetId) {
        const DatasetInfo d = *DatasetStore(project).findDataset(r.datasetId);
        text += QString("; dataset %1: %2 examples (train %3, validation %4, test %5)")
                    .arg(QString::fromStdString(d.name)).arg(d.rowsImported).arg(d.nTrain).arg(d.nValidation).arg(d.nTest);
    } else if (r.counts.pending) {
        text += QString("; %1 prompts pending: resume to go on (answered prompts are never sent again)").arg(r.counts.pending);
    }
    return text;
}

} // namespace

std::vector<distill::DistillItem> rejectedAndFailed(const distill::DistillStore& store, int64_t jobId) {
    std::vector<distill::DistillItem> out = store.items(jobId, distill::ItemState::Rejected);
    for (distill::DistillItem& it : store.items(jobId, distill::ItemState::Failed)) out.push_back(std::move(it));
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.position < b.position; });
    return out;
}

QString runDistillJob(JobRunner& job, const DistillRequest& request, const std::atomic<bool>* abort) {
    const std::string givenKey = request.key.empty() ? std::string() : distill::loadApiKey(request.key);
    if (!request.resume && request.options.maxSpend > 0 && request.spec.priceIn == 0 && request.spec.priceOut == 0)
        throw Error("a spend cap needs the job's prices (price in and price out per million tokens)");
    ProjectStore project = ProjectStore::open(request.projectPath.toStdString());
    DistillJobStarted started;
    const distill::DistillJob stored = jobToRun(project, request, started);
    const distill::RunOptions options = runOptionsFor(request, stored, givenKey);
    started.rejected = rejectedAndFailed(distill::DistillStore(project), stored.id);
    job.emitChunk(QVariant::fromValue(started));

    distill::DistillCallbacks cb;
    cb.cancel = job.cancelFlag();
    cb.abort = abort;
    cb.progress = [&job](const distill::DistillProgress& p) {
        const distill::ItemCounts& c = p.counts;
        job.report(c.total ? double(c.accepted + c.rejected + c.failed) / double(c.total) : 0.0, QString::fromStdString(p.phase));
        job.emitChunk(QVariant::fromValue(p));
    };
    cb.item = [&job](const distill::DistillItem& item) {
        if (keepsForTable(item)) job.emitChunk(QVariant::fromValue(item));
    };
    cb.log = [&job](const std::string& line) { job.emitChunk(QVariant::fromValue(DistillLogLine{QString::fromStdString(line)})); };
    const distill::DistillResult r = distill::runDistillation(project, Gpt2Tokenizer::bundled(), stored.name, options, cb);
    const distill::DistillJob after = *distill::DistillStore(project).find(stored.id);
    // A teacher that refuses the key or fails every prompt ends the run as a failure, as the
    // CLI's exit status 1 does; a cancel or a cap is an ordinary end.
    if (r.stopReason == "teacher_error" || r.stopReason == "failing") throw Error(summary(after, r, project).toStdString());
    return summary(after, r, project);
}

} // namespace swarm::ui
