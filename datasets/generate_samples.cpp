// swarm-gen-samples: writes the bundled sample datasets (deterministic; see sample_generators.h).
#include "datasets/sample_generators.h"

#include "core/error.h"

#include <cstring>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
    std::string dir;
    size_t count = swarm::samples::kDefaultCount;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::cout << "usage: swarm-gen-samples OUT_DIR [--count N]\n"
                         "Writes nl2sql.jsonl, support-routing.jsonl and pii-masking.jsonl (default 10000 rows each),\n"
                         "the same bytes on every run.\n";
            return 0;
        }
        if (a == "--count" && i + 1 < argc) {
            try {
                count = std::stoul(argv[++i]);
            } catch (const std::exception&) {
                std::cerr << "swarm-gen-samples: --count needs a number\n";
                return 2;
            }
            continue;
        }
        if (!a.empty() && a[0] == '-') {
            std::cerr << "swarm-gen-samples: unknown option " << a << "\n";
            return 2;
        }
        dir = a;
    }
    if (dir.empty()) {
        std::cerr << "usage: swarm-gen-samples OUT_DIR [--count N]\n";
        return 2;
    }
    try {
        for (const auto& f : swarm::samples::writeSampleDatasets(dir, count))
            std::cout << dir << "/" << f.fileName << ": " << f.rows << " rows (preset " << f.preset << ")\n";
    } catch (const std::exception& e) {
        std::cerr << "swarm-gen-samples: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
