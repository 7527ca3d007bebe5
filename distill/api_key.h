#pragma once
// Where the teacher's API key comes from (issue 16): an environment variable or a key file,
// never the command line (visible in `ps` and shell history) and never the project file. What
// is stored with a job is the description of the source ("env:OPENAI_API_KEY",
// "file:/home/me/.teacher-key"), so that a resume finds the key again; the key itself stays in
// memory only.
#include <string>

namespace swarm::distill {

struct ApiKeySource {
    std::string envVar;     // read this variable, or
    std::string file;       // the first line of this file (surrounding whitespace dropped)

    bool empty() const { return envVar.empty() && file.empty(); }
    // "env:NAME", "file:PATH" or "" (no key: a local teacher without authentication).
    std::string describe() const;
    // The inverse of describe(); throws swarm::Error on anything else.
    static ApiKeySource parse(const std::string& description);
};

// The variables tried, in order, when no source is named: SWARM_TEACHER_API_KEY, OPENAI_API_KEY.
// Returns the first that is set and not empty, as a source; an empty source when none is.
ApiKeySource defaultKeySource();

// The key. Throws swarm::Error naming the variable or the file (never the key) when the variable
// is unset or empty, the file cannot be read, is empty, or holds more than one line of text.
std::string loadApiKey(const ApiKeySource& source);

// `text` with every occurrence of `key` replaced by "[api key]" (for messages and stored bodies
// that could echo it); `text` as it is when the key is empty.
std::string redactKey(std::string text, const std::string& key);

} // namespace swarm::distill
