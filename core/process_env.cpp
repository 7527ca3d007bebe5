#include "core/process_env.h"

#include <cstdlib>
#include <unistd.h>

namespace swarm {

void ensureThreadingEnvironment(int /*argc*/, char** argv) {
    if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
    if (const char* off = std::getenv("SWARM_NO_REEXEC"); off && *off == '1') return;
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);
    // execv only returns on failure: carry on in this process.
}

} // namespace swarm
