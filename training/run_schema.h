#pragma once
// The "training" tables of the project file (runs, per-step metrics, events, checkpoints), as a
// torch-free migration line so that every program that opens a project knows them, the
// torch-free server included. RunStore and RunRecorder (training/run_store.h) read and write them.

namespace swarm {

// Registers the training migrations; idempotent.
void registerTrainingSchema();

} // namespace swarm
