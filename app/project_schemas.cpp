#include "app/project_schemas.h"

#include "datasets/corpus_store.h"
#include "distill/distill_store.h"
#include "eval/harness.h"
#include "serve/swarm_store.h"
#include "training/run_schema.h"

namespace swarm {

void registerProjectSchemas() {
    registerCorpusSchema();
    registerTrainingSchema();
    eval::registerEvaluationSchema();
    registerSwarmSchema();
    distill::registerDistillationSchema();
}

} // namespace swarm
