#pragma once
// The prompts of a distillation job (issue 16), read once when the job is made: from a file
// (JSONL, JSON, CSV/TSV or Parquet through datasets/dataset_reader.h, each record rendered by a
// TextTemplate) or from a dataset of the project (its stored prompts, with their responses as
// references and their splits). Every record becomes one item: a prompt to send, or a rejection
// that is never sent (a record that renders no prompt, a duplicate of an earlier prompt), so that
// every record is accounted for and no prompt is paid for twice.
#include "distill/distill_store.h"

#include "core/project_store.h"
#include "datasets/dataset_reader.h"

#include <string>
#include <vector>

namespace swarm::distill {

struct PromptLoad {
    std::vector<DistillItem> items;    // positions 0..n-1, states pending or rejected
    int64_t records = 0;               // records read
    int64_t duplicates = 0;            // prompts seen before (rejected: duplicate_prompt)
    int64_t unusable = 0;              // records that render no prompt (rejected with the reason)
};

// A file source: each record rendered by `promptTemplate` (a TextTemplate). Throws swarm::Error
// naming the file when it cannot be read as records at all.
// `limit` > 0: the first `limit` records only.
PromptLoad loadPromptFile(const std::string& path, const ReaderOptions& reader, const std::string& promptTemplate,
                          int64_t limit = 0);

// A dataset source: each stored example (of `split` only when not empty) as the record
// {"prompt", "reference", "split"} rendered by `promptTemplate`; the reference and split are
// kept with the item. Throws swarm::Error naming the dataset when the selection is empty.
PromptLoad loadPromptDataset(const ProjectStore& project, const std::string& dataset, const std::string& split,
                             const std::string& promptTemplate, int64_t limit = 0);

} // namespace swarm::distill
