#include "distill/api_key.h"

#include "core/error.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace swarm::distill {

namespace {

std::string trimmed(const std::string& s) {
    size_t a = 0, b = s.size();
    while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
    while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
    return s.substr(a, b - a);
}

} // namespace

std::string ApiKeySource::describe() const {
    if (!envVar.empty()) return "env:" + envVar;
    if (!file.empty()) return "file:" + file;
    return "";
}

ApiKeySource ApiKeySource::parse(const std::string& description) {
    ApiKeySource s;
    if (description.empty()) return s;
    if (description.rfind("env:", 0) == 0 && description.size() > 4) s.envVar = description.substr(4);
    else if (description.rfind("file:", 0) == 0 && description.size() > 5) s.file = description.substr(5);
    else throw Error("API key source '" + description + "': expected env:NAME or file:PATH");
    return s;
}

ApiKeySource defaultKeySource() {
    for (const char* name : {"SWARM_TEACHER_API_KEY", "OPENAI_API_KEY"}) {
        const char* v = std::getenv(name);
        if (v && *v) return ApiKeySource{name, ""};
    }
    return {};
}

std::string loadApiKey(const ApiKeySource& source) {
    if (!source.envVar.empty()) {
        const char* v = std::getenv(source.envVar.c_str());
        if (!v) throw Error("API key: environment variable " + source.envVar + " is not set");
        const std::string key = trimmed(v);
        if (key.empty()) throw Error("API key: environment variable " + source.envVar + " is empty");
        if (key.find_first_of("\r\n") != std::string::npos)
            throw Error("API key: environment variable " + source.envVar + " holds more than one line");
        return key;
    }
    if (!source.file.empty()) {
        std::ifstream in(source.file, std::ios::binary);
        if (!in) throw Error("API key file " + source.file + ": cannot be read");
        std::ostringstream all;
        all << in.rdbuf();
        if (all.str().size() > 64 * 1024) throw Error("API key file " + source.file + ": too large to be a key");
        const std::string key = trimmed(all.str());
        if (key.empty()) throw Error("API key file " + source.file + ": empty");
        if (key.find_first_of("\r\n") != std::string::npos)
            throw Error("API key file " + source.file + ": holds more than one line (put the key alone in it)");
        return key;
    }
    return "";
}

std::string redactKey(std::string text, const std::string& key) {
    if (key.empty()) return text;
    size_t pos = 0;
    while ((pos = text.find(key, pos)) != std::string::npos) {
        text.replace(pos, key.size(), "[api key]");
        pos += 9;
    }
    return text;
}

} // namespace swarm::distill
