#pragma once
// Process-level set-up that must happen before any library spins up threads.

namespace swarm {

// LibTorch's OpenMP workers and OpenBLAS's own pthreads fight over the cores when OpenMP's
// threads spin-wait between parallel regions (measured: training 2x and prefill 3-4x slower).
// libgomp reads OMP_WAIT_POLICY once, when it is loaded, so setting it in main() is too late:
// this re-executes the program with OMP_WAIT_POLICY=PASSIVE when the variable is unset.
// A user's explicit setting is kept. SWARM_NO_REEXEC=1 disables the re-exec (for debuggers).
// Returns normally when no re-exec is needed or it failed (the program then runs, slower).
void ensureThreadingEnvironment(int argc, char** argv);

} // namespace swarm
