#pragma once
// What export.cpp (the GGUF metadata) and model_card.cpp (the card) both read of a source.
// Internal to swarm_export.
#include "export/export.h"

#include <string>

namespace swarm::exporter {

// The dataset the source's run was trained on; empty when there is no run or it names none.
std::string datasetNameOf(const ModelSource& source);

} // namespace swarm::exporter
