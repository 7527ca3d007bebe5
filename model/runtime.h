#pragma once
// Run-time choices for LibTorch: thread count and device. Device selection is by string so that
// the CLI, the GUI settings and run configs share it; CUDA is used only when LibTorch has it.
#include "core/system.h"
#include <string>
#include <torch/torch.h>

namespace swarm {

// Sets LibTorch's intra-op thread count (0 = all cores). LibTorch defaulted to 1 on this
// platform, so every entry point calls this. Returns the count in effect.
int applyThreadCount(int threads);

struct DeviceChoice {
    torch::Device device{torch::kCPU};
    std::string description;     // "cpu (2 threads)", "cuda:0 (NVIDIA H100, 80 GB)"
};

// spec: "cpu", "cuda", "cuda:N" or "auto" (CUDA when available, else CPU).
// Throws swarm::Error with the reason when CUDA is asked for and is not usable.
DeviceChoice selectDevice(const std::string& spec);

bool cudaAvailable();
int cudaDeviceCount();

} // namespace swarm
