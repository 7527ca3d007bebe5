#include "distill/teacher_column.h"

#include "distill/distill_store.h"

#include "core/error.h"

namespace swarm::distill {

eval::AnswerColumn teacherColumn(const ProjectStore& project, const std::string& jobName) {
    DistillStore store(project);
    const DistillJob job = store.job(jobName);
    eval::AnswerColumn col;
    col.name = "teacher:" + job.teacher.model;
    col.kind = "teacher";
    col.path = job.teacherUrl;
    col.datasetId = job.sourceKind == "dataset" ? job.sourceDatasetId : 0;
    col.costPerMTokPrefill = job.priceIn;
    col.costPerMTokDecode = job.priceOut;
    int64_t completionTokens = 0;
    double latencyMs = 0;
    for (ItemState state : {ItemState::Accepted, ItemState::Rejected})
        for (const DistillItem& it : store.items(job.id, state)) {
            if (it.answeredAt.empty()) continue;   // rejected before sending: no answer
            if (it.sourceExampleId) col.byExampleId[it.sourceExampleId] = it.answer;
            col.byPrompt[it.prompt] = it.answer;
            completionTokens += it.completionTokens;
            latencyMs += it.latencyMs;
        }
    if (col.byPrompt.empty())
        throw Error(project.path() + ": distillation job '" + jobName + "' has no answers yet (swarm distill status " + jobName + ")");
    if (latencyMs > 0) col.decodeTokS = double(completionTokens) / (latencyMs / 1000.0);
    return col;
}

} // namespace swarm::distill
