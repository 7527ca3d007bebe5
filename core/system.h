#pragma once
// What this process can see of the machine: cores and memory.
#include <cstdint>

namespace swarm {

// Cores this process may run on (sched_getaffinity), at least 1.
int availableCores();

// Resident set size now, and its peak so far (getrusage), in bytes.
int64_t currentRssBytes();
int64_t peakRssBytes();

} // namespace swarm
