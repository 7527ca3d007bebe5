#include "datasets/sample_generators.h"

#include "core/atomic_file.h"
#include "datasets/sample_common.h"

#include <filesystem>

namespace swarm::samples {

using nlohmann::json;

// Replaces {key} by values[key].
std::string fill(const std::string& tmpl, const std::map<std::string, std::string>& values) {
    std::string out;
    for (size_t i = 0; i < tmpl.size();) {
        if (tmpl[i] == '{') {
            size_t close = tmpl.find('}', i);
            if (close != std::string::npos) {
                auto it = values.find(tmpl.substr(i + 1, close - i - 1));
                if (it != values.end()) {
                    out += it->second;
                    i = close + 1;
                    continue;
                }
            }
        }
        out += tmpl[i++];
    }
    return out;
}

std::string capitalise(std::string s) {
    if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = char(s[0] - 32);
    return s;
}

const std::vector<std::string> kFirstNames = {
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth", "William",
    "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen", "Daniel", "Lisa",
    "Matthew", "Nancy", "Anthony", "Sandra", "Mark", "Ashley", "Wei", "Priya", "Ahmed", "Fatima", "Hiroshi",
    "Yuki", "Olga", "Ivan", "Sofia", "Lucas", "Emma", "Noah", "Olivia", "Liam", "Ava", "Mateo", "Chloé", "José",
    "Zoë", "Björn", "Ingrid", "Kwame", "Amara", "Chen", "Mei", "Raj", "Ananya", "Diego", "Lucía", "Omar",
    "Leila", "Sean", "Aoife", "Pierre", "Camille", "Jan", "Anna", "Tomasz", "Katarzyna", "Giulia", "Marco"};
const std::vector<std::string> kLastNames = {
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Thompson",
    "White", "Harris", "Clark", "Lewis", "Walker", "Young", "Allen", "King", "Wright", "Nguyen", "Kim", "Patel",
    "Singh", "Chen", "Wang", "Tanaka", "Sato", "Müller", "Schmidt", "Schneider", "Fischer", "Dubois", "Moreau",
    "Rossi", "Russo", "Kowalski", "Nowak", "Ivanov", "Petrova", "O'Brien", "O'Connor", "Murphy", "Kelly",
    "Jansen", "de Vries", "Andersson", "Johansson", "Okafor", "Mensah", "Haddad", "Khan", "Silva", "Santos"};

void writeJsonl(const std::string& path, const std::vector<json>& rows) {
    AtomicFile f(path);
    std::string buf;
    for (const json& r : rows) {
        buf += r.dump();
        buf += '\n';
        if (buf.size() > (1 << 20)) {
            f.write(buf);
            buf.clear();
        }
    }
    f.write(buf);
    f.commit();
}

std::vector<SampleFile> writeSampleDatasets(const std::string& dir, size_t count) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw Error("cannot create " + dir + ": " + ec.message());
    std::vector<SampleFile> out;
    writeJsonl(dir + "/nl2sql.jsonl", sqlSamples(count));
    out.push_back({"nl2sql.jsonl", "sql", count});
    writeJsonl(dir + "/support-routing.jsonl", routingSamples(count));
    out.push_back({"support-routing.jsonl", "router", count});
    writeJsonl(dir + "/pii-masking.jsonl", piiSamples(count));
    out.push_back({"pii-masking.jsonl", "pii", count});
    return out;
}

} // namespace swarm::samples
