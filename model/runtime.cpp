#include "model/runtime.h"

#include "core/error.h"
#include "core/system.h"

#include <ATen/Parallel.h>
#include <sched.h>
#include <thread>

namespace swarm {


int applyThreadCount(int threads) {
    int n = threads > 0 ? threads : availableCores();
    at::set_num_threads(n);
    return at::get_num_threads();
}

bool cudaAvailable() { return torch::cuda::is_available(); }

int cudaDeviceCount() { return cudaAvailable() ? int(torch::cuda::device_count()) : 0; }

DeviceChoice selectDevice(const std::string& specIn) {
    std::string spec = specIn.empty() ? "cpu" : specIn;
    DeviceChoice choice;
    if (spec == "auto") spec = cudaAvailable() ? "cuda:0" : "cpu";
    if (spec == "cpu") {
        choice.device = torch::Device(torch::kCPU);
        choice.description = "cpu (" + std::to_string(at::get_num_threads()) + " threads)";
        return choice;
    }
    if (spec.rfind("cuda", 0) != 0)
        throw Error("unknown device '" + specIn + "' (expected cpu, cuda, cuda:N or auto)");
    int index = 0;
    if (spec.size() > 4) {
        if (spec[4] != ':' || spec.size() == 5) throw Error("unknown device '" + specIn + "' (expected cuda:N)");
        try {
            size_t used = 0;
            index = std::stoi(spec.substr(5), &used);
            if (used != spec.size() - 5 || index < 0) throw std::invalid_argument("index");
        } catch (const std::exception&) {
            throw Error("unknown device '" + specIn + "' (expected cuda:N with N a device number)");
        }
    }
    if (!cudaAvailable())
        throw Error("device '" + specIn + "' asked for, but this build of LibTorch has no usable CUDA "
                    "(CPU-only LibTorch, or no NVIDIA driver/GPU); use --device cpu, or build against a CUDA LibTorch");
    const int count = cudaDeviceCount();
    if (index >= count)
        throw Error("device '" + specIn + "' asked for, but only " + std::to_string(count) + " CUDA device(s) exist");
    choice.device = torch::Device(torch::kCUDA, int8_t(index));
    choice.description = "cuda:" + std::to_string(index);
    return choice;
}

} // namespace swarm
