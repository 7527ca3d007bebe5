// libFuzzer target for SafetensorsReader (built with -DSWARM_BUILD_FUZZERS=ON and clang).
// Every input must either open, with all tensors inside the file, or throw swarm::Error; anything
// else (another exception, a crash, a sanitizer report) is a finding. What opens is written back
// with writeSafetensors and must read back identical.
#include "core/error.h"
#include "core/safetensors.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

// Scratch files of this process, removed at exit.
const std::string& scratch(const char* what) {
    static std::string in = "/tmp/fuzz_safetensors." + std::to_string(::getpid()) + ".in";
    static std::string out = "/tmp/fuzz_safetensors." + std::to_string(::getpid()) + ".out";
    static bool registered = [] {
        std::atexit([] {
            std::remove(in.c_str());
            std::remove(out.c_str());
        });
        return true;
    }();
    (void)registered;
    return std::strcmp(what, "in") == 0 ? in : out;
}

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_safetensors: property violated: %s\n", what);
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string& in = scratch("in");
    std::remove(in.c_str());
    if (FILE* f = std::fopen(in.c_str(), "wb")) {
        if (size) std::fwrite(data, 1, size, f);
        std::fclose(f);
    } else {
        return 0;
    }
    try {
        swarm::SafetensorsReader r(in);
        check(r.fileSize() == size, "file size");
        std::vector<swarm::TensorView> views;
        for (const swarm::TensorInfo& t : r.tensors()) {
            check(t.begin <= t.end, "begin <= end");
            check(t.nbytes() == uint64_t(t.numel()) * swarm::dtypeSize(t.dtype), "size matches shape");
            volatile uint8_t sink = 0;
            for (uint64_t i = 0; i < t.nbytes(); ++i) sink = sink + r.data(t)[i];   // ASan checks the range
            check(r.find(t.name) != nullptr, "find");
            if (!t.name.empty()) views.push_back({t.name, t.dtype, t.shape, r.data(t), t.nbytes()});
        }
        // Round trip through the writer (names the writer refuses are skipped above).
        const std::string& out = scratch("out");
        try {
            swarm::writeSafetensors(out, views, r.metadata());
        } catch (const swarm::Error&) {
            return 0;   // only a failing disk: every name and size that reads is writable
        }
        swarm::SafetensorsReader back(out);
        check(back.tensors().size() == views.size(), "round trip count");
        check(back.metadata() == r.metadata(), "round trip metadata");
        for (size_t i = 0; i < views.size(); ++i) {
            const swarm::TensorInfo& t = back.tensors()[i];
            check(t.name == views[i].name && t.dtype == views[i].dtype && t.shape == views[i].shape, "round trip info");
            check(t.nbytes() == views[i].nbytes && std::memcmp(back.data(t), views[i].data, t.nbytes()) == 0,
                  "round trip bytes");
        }
    } catch (const swarm::Error& e) {
        check(std::string(e.what()).find(in) != std::string::npos, "error names the file");
    }
    return 0;
}
