#pragma once
// Every migration line of the project file, registered once by each main before any project is
// opened: a program that opened a project without knowing one of its lines would refuse it.

namespace swarm {

// core (datasets) is built in; this adds training, evaluation and swarm. Idempotent.
void registerProjectSchemas();

} // namespace swarm
