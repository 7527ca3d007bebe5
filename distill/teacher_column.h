#pragma once
// The teacher as a column of `swarm compare` (issue 16): a distillation job's stored answers,
// scored on the compared examples like a model's outputs, with the teacher's price per million
// tokens as its cost, so that a report shows the specialist against its teacher in quality and
// in cost side by side.
//
//   eval::Comparison c = eval::compareRuns(project, runIds, 0, cost);
//   eval::addAnswerColumn(c, distill::teacherColumn(project, "sql-distilled"), true);
//   eval::writeReport(c, "report.html");
//
// The answers are matched to the compared examples by the source example when the job's prompts
// came from the compared dataset (so the teacher is scored against the dataset's own
// references), else by the prompt's text. Every answered prompt counts, accepted or rejected
// (a refusal is the teacher's quality too); prompts the teacher never answered are absent.
#include "eval/compare.h"

#include "core/project_store.h"

#include <string>

namespace swarm::distill {

// Throws swarm::Error naming the project when there is no such job or it has no answers.
eval::AnswerColumn teacherColumn(const ProjectStore& project, const std::string& jobName);

} // namespace swarm::distill
