#pragma once
// The Distill page's work on its job's thread: the flow of `swarm distill` (app/cmd_distill.cpp)
// over the same library (issue 16). A new job is prepared from its definition (the same
// definition under a stored name resumes that job: answered prompts are never sent again); a
// resume takes the stored job by name; then the run, which builds the dataset when no prompt is
// left pending. The project is opened on the job's thread (the run uses its connection from
// worker threads); the page reads with a connection of its own.
//
// What the job streams (JobRunner::chunk), in order:
//   DistillJobStarted    once the job exists: its name, whether it was created, the choices made,
//                        and the prompts rejected or failed before this run (duplicates, earlier runs)
//   DistillProgress      about four times a second and once at the end
//   DistillItem          each prompt rejected or failed in this run, as it is stored
//   DistillLogLine       retries, failures and stops, one line each
// and finishes with one line for people: the job's status, this run's figures, the dataset built.
// The API key is read on the job's thread from the source the user named (or the job's stored
// source, or SWARM_TEACHER_API_KEY / OPENAI_API_KEY): it is never stored or shown.
#include "distill/api_key.h"
#include "distill/distill_store.h"
#include "distill/distiller.h"
#include "distill/job_setup.h"

#include <QString>
#include <QStringList>

#include <atomic>
#include <string>
#include <vector>

namespace swarm::ui {

class JobRunner;

struct DistillRequest {
    QString projectPath;
    bool resume = false;                 // resume the stored job spec.name as it is defined
    distill::JobSpec spec;               // the job's definition (a resume reads spec.name only)
    std::string labels;                  // a label task's label set, comma-separated ("" : from the source)
    std::string jsonSchemaPath;          // a json task's schema file ("" : any JSON)
    distill::ApiKeySource key;           // empty: the job's stored source, else the default variables
    distill::RunOptions options;         // apiKey is loaded on the job's thread
};

// Streamed item types (named in swarm::ui: chunkAs tells them apart by name).
struct DistillJobStarted {
    QString name;
    bool created = false;
    QStringList notes;
    std::vector<distill::DistillItem> rejected;   // rejected or failed before this run
};
struct DistillLogLine {
    QString text;
};

// Runs on `job`'s thread. `abort` cuts the requests out (the job's cancel flag lets them finish).
// Throws swarm::Error for bad settings (naming the setting), an unknown job, a definition that
// differs from the stored job of that name, an unreadable key, or a failed build.
QString runDistillJob(JobRunner& job, const DistillRequest& request, const std::atomic<bool>* abort);

// The job's rejected and failed prompts, in source order (the page's table).
std::vector<distill::DistillItem> rejectedAndFailed(const distill::DistillStore& store, int64_t jobId);

// "a, b ,c" -> {"a", "b", "c"}.
std::vector<std::string> commaSeparated(const std::string& text);

} // namespace swarm::ui
