#pragma once
// Making a distillation job from what the user asked for, or finding the one to resume (issue 16).
//
//   JobSpec spec;   // name, teacher URL and model, prompts (a file or a project dataset), ...
//   PreparedJob p = prepareJob(project, spec);   // creates it (reads every prompt) or resumes it
//
// A job is defined by its name (the dataset it will build), teacher (URL, model, system message,
// request settings), prompts and template, chat format, task and validators, split and prices.
// Running the same definition again resumes the stored job; a different definition under the
// same name is refused, naming the first setting that differs (a resume never silently asks
// another teacher or another question).
#include "distill/api_key.h"
#include "distill/distill_store.h"

#include "core/project_store.h"
#include "datasets/dataset_import.h"

#include <string>
#include <vector>

namespace swarm::distill {

struct JobSpec {
    std::string name;                  // the dataset the job builds
    std::string teacherUrl;
    TeacherSettings teacher;
    // A file, or a dataset of the project. "dataset:NAME" names a dataset explicitly; otherwise
    // an existing file wins over a dataset of the same name.
    std::string prompts;
    ReaderOptions reader;              // file sources
    std::string sourceSplit;           // dataset sources: only this split ("" : all, each keeps its split)
    int64_t limit = 0;                 // the first N records only (0: all); part of the job's definition
    // TextTemplate for each record. Empty: "{prompt}" when the records have a prompt field (as
    // dataset sources do), else the prompt template of the dataset preset detected from the
    // file's columns (datasets/dataset_presets.h).
    std::string promptTemplate;
    std::string chatFormat;            // empty: ChatFormat::kDefault
    // The validators. taskAuto: the task follows the dataset preset (the source dataset's, or the
    // one detected for the file): sql -> sql, router -> label, pii -> pii, function/extract -> json.
    ValidationSettings validation;
    bool taskAuto = true;
    SplitSpec split;                   // file sources (dataset sources keep each prompt's split)
    uint64_t seed = 42;
    double priceIn = 0, priceOut = 0;  // per million prompt / completion tokens
    ApiKeySource keySource;
};

// The job row a spec defines (no items yet): the source resolved (absolute path or dataset),
// the template and task chosen, the label set of a label task taken from the source dataset's
// responses when none is given. `notes` receives one line per choice made for the user.
DistillJob jobFromSpec(const ProjectStore& project, const JobSpec& spec, std::vector<std::string>* notes = nullptr);

// "" when `requested` defines the same job as `stored`; else the first difference, e.g.
// "teacher model 'gpt-4o' (the stored job asks 'gpt-4o-mini')".
std::string jobMismatch(const DistillJob& stored, const DistillJob& requested);

struct PreparedJob {
    DistillJob job;
    bool created = false;
    std::vector<std::string> notes;    // the choices made, the duplicates and unusable records found
};

// Creates the job with one item per source record, or returns the stored job of that name when
// the spec defines the same job. Throws swarm::Error for a different definition under the name,
// a dataset that already exists under the name (and is not this job's), or a bad source.
PreparedJob prepareJob(ProjectStore& project, const JobSpec& spec);

} // namespace swarm::distill
