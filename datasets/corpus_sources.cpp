// The source files of a corpus import: the inputs expanded, folders walked recursively in sorted
// order (so the corpus is the same whichever order the file system lists them in).
#include "datasets/corpus_steps.h"

#include "core/error.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <set>
#include <unistd.h>

namespace swarm::corpus_steps {

namespace fs = std::filesystem;

namespace {

std::string lowerExtension(const fs::path& p) {
    std::string ext = p.extension().string();
    for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
    return ext;
}

SourceKind kindOf(const fs::path& p) {
    static const std::set<std::string> records = {".jsonl", ".ndjson", ".jsonlines", ".json", ".csv", ".tsv", ".parquet"};
    return records.count(lowerExtension(p)) ? SourceKind::Records : SourceKind::Text;
}

// Empty when the file can be opened for reading, else why not.
std::string openFailure(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::strerror(errno);
    ::close(fd);
    return "";
}

class Walker {
public:
    explicit Walker(SourceListing& out) : out_(out) {}

    void addFile(const fs::path& path) {
        std::error_code ec;
        fs::path canonical = fs::weakly_canonical(path, ec);
        if (ec) canonical = path;
        const auto [first, fresh] = seen_.emplace(canonical.string(), path.string());
        if (!fresh) {
            out_.skipped.push_back({path.string(), "the same file as " + first->second + " (a link, or listed twice): read once"});
            return;
        }
        SourceFile f;
        f.path = path.string();
        f.kind = kindOf(path);
        f.bytes = fs::file_size(path, ec);
        if (ec) {
            out_.skipped.push_back({f.path, "cannot read its size: " + ec.message()});
            return;
        }
        out_.bytesTotal += f.bytes;
        out_.files.push_back(std::move(f));
        ++added_;
    }

    // The entries of `dir` by name; folders recursively, hidden names and links to folders left out.
    void walk(const fs::path& dir) {
        std::error_code ec;
        std::vector<fs::directory_entry> entries;
        fs::directory_iterator it(dir, ec), end;
        if (ec) {
            out_.skipped.push_back({dir.string(), "cannot read the folder: " + ec.message()});
            return;
        }
        for (; it != end; it.increment(ec)) {
            if (ec) {
                out_.skipped.push_back({dir.string(), "cannot read the folder: " + ec.message()});
                break;
            }
            entries.push_back(*it);
        }
        std::sort(entries.begin(), entries.end(),
                  [](const fs::directory_entry& a, const fs::directory_entry& b) { return a.path().filename() < b.path().filename(); });
        for (const fs::directory_entry& e : entries) {
            const std::string name = e.path().filename().string();
            if (!name.empty() && name[0] == '.') {
                ++out_.hiddenSkipped;
                continue;
            }
            std::error_code sec;
            const bool link = e.is_symlink(sec);
            if (e.is_directory(sec)) {
                if (link) out_.skipped.push_back({e.path().string(), "a symbolic link to a folder (not followed)"});
                else walk(e.path());
            } else if (e.is_regular_file(sec)) {
                addFile(e.path());
            } else if (link && !e.exists(sec)) {
                out_.skipped.push_back({e.path().string(), "a broken symbolic link"});
            } else {
                out_.skipped.push_back({e.path().string(), "not a regular file (a device, socket or pipe)"});
            }
        }
    }

    int64_t added() const { return added_; }

private:
    SourceListing& out_;
    std::map<std::string, std::string> seen_;   // canonical path -> the path it was first found as
    int64_t added_ = 0;
};

} // namespace

SourceListing listSources(const std::vector<std::string>& inputs) {
    if (inputs.empty()) throw Error("give at least one text file or folder to import");
    SourceListing out;
    Walker walker(out);
    for (const std::string& input : inputs) {
        std::error_code ec;
        const fs::file_status st = fs::status(input, ec);
        if (ec || !fs::exists(st)) throw Error("corpus input " + input + " does not exist");
        if (fs::is_directory(st)) {
            const int64_t before = walker.added();
            const int64_t hiddenBefore = out.hiddenSkipped;
            const size_t skippedBefore = out.skipped.size();
            walker.walk(input);
            if (walker.added() == before) {
                std::string why;
                if (out.skipped.size() > skippedBefore) why = "; " + out.skipped[skippedBefore].path + ": " + out.skipped[skippedBefore].reason;
                if (out.hiddenSkipped > hiddenBefore)
                    why += " (" + std::to_string(out.hiddenSkipped - hiddenBefore) + " hidden entries left out)";
                throw Error("corpus input " + input + " is a folder with no files in it" + why);
            }
        } else if (fs::is_regular_file(st)) {
            const std::string failure = openFailure(input);
            if (!failure.empty()) throw Error("cannot read " + input + ": " + failure);
            walker.addFile(input);
        } else {
            throw Error("corpus input " + input + " is not a file or a folder");
        }
    }
    return out;
}

} // namespace swarm::corpus_steps
