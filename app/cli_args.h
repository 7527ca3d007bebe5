#pragma once
// A small command-line parser for the `swarm` subcommands: positionals, --flag and --opt VALUE
// (or --opt=VALUE). Unknown options are errors so that typos never pass silently.
#include <map>
#include <set>
#include <string>
#include <vector>

namespace swarm::cli {

class Args {
public:
    // valueOptions take a value; flags do not. "--help"/"-h" is always a flag.
    Args(const std::vector<std::string>& argv, const std::set<std::string>& valueOptions,
         const std::set<std::string>& flags);

    bool has(const std::string& name) const { return values_.count(name) || flags_.count(name); }
    bool flag(const std::string& name) const { return flags_.count(name) > 0; }
    std::string value(const std::string& name, const std::string& fallback = "") const;
    std::string required(const std::string& name) const;            // throws naming the option
    long long integer(const std::string& name, long long fallback, long long min, long long max) const;
    double number(const std::string& name, double fallback, double min, double max) const;   // finite, in [min, max]
    const std::vector<std::string>& positionals() const { return positionals_; }
    bool help() const { return flag("help"); }

private:
    std::map<std::string, std::string> values_;
    std::set<std::string> flags_;
    std::vector<std::string> positionals_;
};

} // namespace swarm::cli
