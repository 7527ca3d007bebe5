#pragma once
// The dataset a distillation job builds (issue 16): an ordinary project dataset that trains,
// evaluates and exports like an imported one. Every accepted answer is one example: the prompt
// and the answer's response in the job's chat format, tokenised as an import does (prompt
// masked, response and <|endoftext|> trained); every other item is one rejected row with its
// reason (the validator's code, duplicate_prompt, or teacher_failed for a prompt the teacher
// never answered usably). One transaction through DatasetWriter: the dataset appears whole or
// not at all.
//
// Splits: a prompt dataset's items keep their source split (so that a test prompt stays a test
// prompt); a file's accepted items are split by the job's ratios, shuffled by its seed.
// Provenance: the validation report's "distillation" object (job, teacher URL and model, the
// models the teacher reported, system message, template, chat format, task and validators,
// dates, counts per state and reason, requests, tokens, spend, prices, mean latency), shown by
// `swarm dataset stats`; the dataset's mapping names the job, teacher and template too.
#include "distill/distill_store.h"

#include "core/project_store.h"
#include "core/tokenizer.h"
#include "datasets/dataset_store.h"

#include <nlohmann/json.hpp>

namespace swarm::distill {

struct BuildResult {
    int64_t datasetId = 0;
    DatasetCounts counts;
    nlohmann::json report;
};

// Throws swarm::Error when the job still has prompts pending or being sent, accepted nothing, or
// its dataset name is taken.
BuildResult buildDistilledDataset(ProjectStore& project, const Gpt2Tokenizer& tokenizer, const DistillJob& job);

} // namespace swarm::distill
