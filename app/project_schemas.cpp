#include "app/project_schemas.h"

#include "eval/harness.h"
#include "serve/swarm_store.h"
#include "training/run_schema.h"

namespace swarm {

void registerProjectSchemas() {
    registerTrainingSchema();
    eval::registerEvaluationSchema();
    registerSwarmSchema();
}

} // namespace swarm
