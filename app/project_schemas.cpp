#include "app/project_schemas.h"

#include "distill/distill_store.h"
#include "eval/harness.h"
#include "serve/swarm_store.h"
#include "training/run_schema.h"

namespace swarm {

void registerProjectSchemas() {
    registerTrainingSchema();
    eval::registerEvaluationSchema();
    registerSwarmSchema();
    distill::registerDistillationSchema();
}

} // namespace swarm
