#include "app/cli_args.h"

#include "core/error.h"

#include <cmath>
#include <cstdio>

namespace swarm::cli {

Args::Args(const std::vector<std::string>& argv, const std::set<std::string>& valueOptions,
           const std::set<std::string>& flags) {
    bool onlyPositionals = false;
    for (size_t i = 0; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if (onlyPositionals || a.size() < 2 || a[0] != '-' || a == "-") {
            positionals_.push_back(a);
            continue;
        }
        if (a == "--") { onlyPositionals = true; continue; }
        if (a == "-h" || a == "--help") { flags_.insert("help"); continue; }
        if (a.rfind("--", 0) != 0) throw Error("unknown option '" + a + "' (options are spelled --name)");
        std::string name = a.substr(2);
        std::string value;
        bool inlineValue = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            inlineValue = true;
        }
        if (valueOptions.count(name)) {
            if (!inlineValue) {
                if (i + 1 >= argv.size()) throw Error("option --" + name + " needs a value");
                value = argv[++i];
            }
            values_[name] = value;
        } else if (flags.count(name)) {
            if (inlineValue) throw Error("option --" + name + " takes no value");
            flags_.insert(name);
        } else {
            throw Error("unknown option --" + name + " (see --help)");
        }
    }
}

std::string Args::value(const std::string& name, const std::string& fallback) const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
}

std::string Args::required(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end() || it->second.empty()) throw Error("option --" + name + " is required (see --help)");
    return it->second;
}

long long Args::integer(const std::string& name, long long fallback, long long min, long long max) const {
    auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    long long v = 0;
    size_t used = 0;
    try {
        v = std::stoll(it->second, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != it->second.size())
        throw Error("option --" + name + " needs an integer, got '" + it->second + "'");
    if (v < min || v > max)
        throw Error("option --" + name + " must be between " + std::to_string(min) + " and " + std::to_string(max) +
                    ", got " + std::to_string(v));
    return v;
}

double Args::number(const std::string& name, double fallback, double min, double max) const {
    auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    double v = 0;
    size_t used = 0;
    try {
        v = std::stod(it->second, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != it->second.size() || !std::isfinite(v))
        throw Error("option --" + name + " needs a number, got '" + it->second + "'");
    if (v < min || v > max) {
        char range[96];
        std::snprintf(range, sizeof range, "between %g and %g", min, max);
        throw Error("option --" + name + " must be " + range + ", got " + it->second);
    }
    return v;
}

} // namespace swarm::cli
