#include "core/system.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <thread>

namespace swarm {

int availableCores() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    unsigned hw = std::thread::hardware_concurrency();
    return hw > 0 ? int(hw) : 1;
}

int64_t currentRssBytes() {
    std::ifstream in("/proc/self/statm");
    long long pages = 0, resident = 0;
    if (!(in >> pages >> resident)) return 0;
    return int64_t(resident) * int64_t(sysconf(_SC_PAGESIZE));
}

int64_t peakRssBytes() {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    return int64_t(ru.ru_maxrss) * 1024;   // Linux reports KiB
}

} // namespace swarm
