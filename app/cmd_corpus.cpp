// `swarm corpus`: raw-text corpora for pre-training (issue 20): import files and folders into a
// token file shared by runs, list them, show one, delete one.
#include "app/cli_args.h"
#include "app/commands.h"
#include "app/progress_line.h"

#include "core/error.h"
#include "core/format.h"
#include "core/hf_folder.h"
#include "core/tokenizer.h"
#include "datasets/corpus_import.h"
#include "datasets/corpus_store.h"
#include "datasets/text_corpus.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>

namespace swarm::cli {

namespace {

using nlohmann::json;

const char* kUsage =
    "usage: swarm corpus import|list|info|delete ... --project P   (each with --help)\n"
    "\n"
    "Raw-text corpora for pre-training and continued pre-training: every document tokenised once into\n"
    "one memory-mapped token file with a document index, next to the project (P.corpora/NAME/),\n"
    "shared by every run that trains on it.\n";

const char* kImportHelp =
    "usage: swarm corpus import PATH... --project P --name N [options]\n"
    "\n"
    "Imports plain text files, folders of them (recursively, in sorted order; names starting with '.'\n"
    "left out) and JSONL/JSON/CSV/TSV/Parquet files with a text field. A text file is one document,\n"
    "a record one document; each ends with <|endoftext|>. Streamed and tokenised on every core, in\n"
    "bounded memory whatever the corpus size. Files that cannot be used (binary, not UTF-8, empty,\n"
    "compressed, unreadable, without the text field) are skipped and listed with the reason.\n"
    "Nothing is written unless the import completes (Ctrl-C cancels).\n"
    "\n"
    "options:\n"
    "  --text-field F            the text of a JSONL/JSON/CSV/Parquet record (default text; paths\n"
    "                            such as meta.body or turns[0] work)\n"
    "  --validation-fraction X   hold out whole documents, about this share of the tokens, chosen\n"
    "                            by the seed (default 0.01; 0: none; at most 0.5)\n"
    "  --validation-tokens N     hold out this many tokens instead\n"
    "  --seed N                  chooses the validation documents (default 42)\n"
    "  --threads N               tokenising threads (default: every core)\n"
    "  --tokenizer MODEL_DIR     the tokenizer of a model folder (default: the bundled GPT-2)\n"
    "  --max-record-bytes N      a larger record is skipped (default 64 MiB)\n"
    "  --json                    print the manifest as JSON\n";

std::atomic<bool> gCancel{false};
void onSigint(int) { gCancel.store(true); }

std::string tokensText(int64_t n) {
    if (n >= 10000000) return formatNumber("%.1fM", double(n) / 1e6);
    return withThousands(n);
}

// The import's progress line: bytes read, files, documents, tokens and speed.
class CorpusProgress {
public:
    explicit CorpusProgress(std::string name) : name_(std::move(name)) {}
    void show(const CorpusImportProgress& p) {
        const int pct = p.bytesTotal ? int(100.0 * double(p.bytesRead) / double(p.bytesTotal)) : 100;
        if (p.seconds < 0.5 && !line_.printed()) return;
        if (!line_.due(pct)) return;
        line_.print(formatText("importing %s: %3d%%  %lld/%lld files, %s documents, %s tokens, %.0f tok/s, %.1f s", name_.c_str(),
                                 pct, (long long)p.filesDone, (long long)p.filesTotal, withThousands(p.documents).c_str(),
                                 tokensText(p.tokens).c_str(), p.seconds > 0 ? double(p.tokens) / p.seconds : 0.0, p.seconds));
    }
    void finish() const { line_.finish(); }

private:
    std::string name_;
    ProgressLine line_;
};

void printCounts(const CorpusInfo& c) {
    std::cout << "  documents   " << withThousands(c.documents) << " (" << withThousands(c.trainDocuments) << " train, "
              << withThousands(c.validationDocuments) << " validation)\n"
              << "  tokens      " << withThousands(c.tokens) << " (" << withThousands(c.trainTokens) << " train, "
              << withThousands(c.validationTokens) << " validation)\n"
              << "  sources     " << withThousands(c.sources) << " files; skipped " << withThousands(c.skippedFiles)
              << " files, " << withThousands(c.skippedRecords) << " records\n";
}

int cmdImport(const Argv& argv) {
    Args args(argv,
              {"project", "name", "text-field", "validation-fraction", "validation-tokens", "seed", "threads", "tokenizer",
               "max-record-bytes"},
              {"json"});
    if (args.help()) {
        std::cout << kImportHelp;
        return 0;
    }
    if (args.positionals().empty()) throw Error("corpus import: give the text files or folders to import (see --help)");
    if (args.has("validation-fraction") && args.has("validation-tokens"))
        throw Error("give --validation-fraction or --validation-tokens, not both");
    ProjectStore project = ProjectStore::open(args.required("project"));
    CorpusImportOptions o;
    o.name = args.required("name");
    o.inputs = args.positionals();
    o.textField = args.value("text-field", "text");
    o.validationFraction = args.number("validation-fraction", 0.01, 0, 0.5);
    o.validationTokens = args.has("validation-tokens") ? args.integer("validation-tokens", 0, 0, 1LL << 50) : -1;
    o.seed = uint64_t(args.integer("seed", 42, 0, (long long)(~0ull >> 1)));
    o.threads = int(args.integer("threads", 0, 0, 256));
    o.maxRecordBytes = size_t(args.integer("max-record-bytes", 64LL << 20, 1024, 1LL << 31));
    Gpt2Tokenizer tok = Gpt2Tokenizer::bundled();
    if (args.has("tokenizer")) {
        tok = loadTokenizerFor(locateHfModel(args.value("tokenizer")));
        o.tokenizerSource = args.value("tokenizer");
    }
    CorpusProgress line(o.name);
    o.progress = [&line](const CorpusImportProgress& p) { line.show(p); };
    o.cancel = &gCancel;
    std::signal(SIGINT, onSigint);
    CorpusImportResult r;
    try {
        r = importCorpus(project, tok, o);
    } catch (const CorpusImportCancelled& e) {
        std::signal(SIGINT, SIG_DFL);
        line.finish();
        std::cerr << "swarm: " << e.what() << "\n";
        return 130;
    } catch (...) {
        line.finish();
        throw;
    }
    std::signal(SIGINT, SIG_DFL);
    line.finish();
    if (args.flag("json")) {
        std::cout << r.manifest.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
        return 0;
    }
    std::cout << "imported corpus '" << r.info.name << "' into " << r.folder << "\n";
    printCounts(r.info);
    std::cout << "  text        " << formatBytes(uint64_t(r.textBytes)) << " in " << formatDuration(r.seconds) << " ("
              << withThousands(int64_t(r.tokensPerSecond)) << " tokens/s, "
              << formatBytes(uint64_t(r.manifest["import"].value("peak_rss_bytes", int64_t(0)))) << " peak memory)\n";
    const int64_t hidden = r.manifest["counts"].value("hidden_entries_left_out", int64_t(0));
    if (hidden > 0) std::cout << "  left out " << withThousands(hidden) << " hidden entries (names starting with '.')\n";
    for (const SkippedSource& s : r.skippedFiles) std::cout << "  skipped " << s.path << ": " << s.reason << "\n";
    for (const json& rec : r.manifest["skipped_records"])
        std::cout << "  skipped " << rec["path"].get<std::string>() << " record " << rec["record"].get<int64_t>() << " (line "
                  << rec["line"].get<int64_t>() << "): " << rec["reason"].get<std::string>() << ": "
                  << rec["detail"].get<std::string>() << "\n";
    if (r.skippedRecords > int64_t(r.manifest["skipped_records"].size()))
        std::cout << "  ... and " << withThousands(r.skippedRecords - int64_t(r.manifest["skipped_records"].size()))
                  << " more skipped records\n";
    for (const std::string& w : r.warnings) std::cout << "  warning: " << w << "\n";
    return 0;
}

int cmdList(const Argv& argv) {
    Args args(argv, {"project"}, {"json"});
    if (args.help()) {
        std::cout << "usage: swarm corpus list --project P [--json]\nLists the project's corpora.\n";
        return 0;
    }
    ProjectStore project = ProjectStore::open(args.required("project"));
    const std::vector<CorpusInfo> all = CorpusStore(project).corpora();
    if (args.flag("json")) {
        json out = json::array();
        for (const CorpusInfo& c : all)
            out.push_back({{"name", c.name},          {"folder", CorpusStore(project).folderOf(c)},
                           {"documents", c.documents}, {"tokens", c.tokens},
                           {"train_tokens", c.trainTokens}, {"validation_tokens", c.validationTokens},
                           {"created_at", c.createdAt}});
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    if (all.empty()) {
        std::cout << "no corpora in " << project.path() << " (swarm corpus import PATH... --project P --name N)\n";
        return 0;
    }
    std::printf("%-24s %12s %16s %14s  %s\n", "name", "documents", "tokens", "validation", "created");
    for (const CorpusInfo& c : all)
        std::printf("%-24s %12s %16s %14s  %s\n", c.name.c_str(), withThousands(c.documents).c_str(),
                    withThousands(c.tokens).c_str(), withThousands(c.validationTokens).c_str(), c.createdAt.c_str());
    return 0;
}

int cmdInfo(const Argv& argv) {
    Args args(argv, {"project"}, {"json", "verify"});
    if (args.help()) {
        std::cout << "usage: swarm corpus info NAME --project P [--verify] [--json]\n"
                     "Shows a corpus: counts, tokenizer, sources, skipped files. --verify reads every token\n"
                     "(checksum, a closing <|endoftext|> on each document).\n";
        return 0;
    }
    if (args.positionals().size() != 1) throw Error("corpus info: expected one corpus NAME (see --help)");
    ProjectStore project = ProjectStore::open(args.required("project"));
    const CorpusStore store(project);
    const CorpusInfo c = store.corpus(args.positionals()[0]);
    const std::string folder = store.folderOf(c);
    const TextCorpus corpus = TextCorpus::open(folder);
    if (args.flag("verify")) corpus.verify();
    const json& m = corpus.manifest();
    if (args.flag("json")) {
        json out = m;
        out["folder"] = folder;
        if (args.flag("verify")) out["verified"] = true;
        std::cout << out.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
        return 0;
    }
    std::cout << "corpus '" << c.name << "' in " << folder << " (created " << c.createdAt << ")\n";
    printCounts(c);
    std::cout << "  tokenizer   " << m["tokenizer"].value("source", "") << " (" << m["tokenizer"].value("vocab_size", 0)
              << " tokens, fingerprint " << c.tokenizer << ")\n"
              << "  token file  " << formatBytes(corpus.tokenCount() * 2) << ", checksum " << c.checksum
              << (args.flag("verify") ? " (verified)" : "") << "\n"
              << "  validation  seed " << m["validation"].value("seed", 0) << ", "
              << (m["validation"].value("mode", "") == "tokens" ? "target " + withThousands(m["validation"].value("target_tokens", int64_t(0))) + " tokens"
                                                                 : "fraction " + formatNumber("%g", m["validation"].value("fraction", 0.0)))
              << "\n  import      " << formatDuration(m["import"].value("seconds", 0.0)) << ", "
              << withThousands(int64_t(m["import"].value("tokens_per_s", 0.0))) << " tokens/s on "
              << m["import"].value("threads", 0) << " threads, peak "
              << formatBytes(uint64_t(m["import"].value("peak_rss_bytes", int64_t(0)))) << "\n";
    const json& sources = m["sources"];
    for (size_t i = 0; i < sources.size() && i < 20; ++i)
        std::cout << "  source " << sources[i].value("path", "") << " (" << sources[i].value("format", "") << "): "
                  << withThousands(sources[i].value("documents", int64_t(0))) << " documents, "
                  << withThousands(sources[i].value("tokens", int64_t(0))) << " tokens\n";
    if (sources.size() > 20) std::cout << "  ... and " << sources.size() - 20 << " more sources (--json lists them)\n";
    for (const json& s : m["skipped_files"])
        std::cout << "  skipped " << s.value("path", "") << ": " << s.value("reason", "") << "\n";
    for (const json& w : m["warnings"]) std::cout << "  warning: " << w.get<std::string>() << "\n";
    return 0;
}

int cmdDelete(const Argv& argv) {
    Args args(argv, {"project"}, {});
    if (args.help()) {
        std::cout << "usage: swarm corpus delete NAME --project P\nRemoves the corpus: its row and its folder.\n";
        return 0;
    }
    if (args.positionals().size() != 1) throw Error("corpus delete: expected one corpus NAME (see --help)");
    ProjectStore project = ProjectStore::open(args.required("project"));
    const CorpusInfo c = CorpusStore(project).corpus(args.positionals()[0]);
    deleteCorpus(project, c.name);
    std::cout << "deleted corpus '" << c.name << "' (" << withThousands(c.tokens) << " tokens)\n";
    return 0;
}

} // namespace

int runCorpus(const Argv& argv) {
    if (argv.empty() || argv[0] == "--help" || argv[0] == "-h" || argv[0] == "help") {
        std::cout << kUsage;
        return argv.empty() ? 2 : 0;
    }
    const std::string sub = argv[0];
    const Argv rest(argv.begin() + 1, argv.end());
    if (sub == "import") return cmdImport(rest);
    if (sub == "list") return cmdList(rest);
    if (sub == "info") return cmdInfo(rest);
    if (sub == "delete") return cmdDelete(rest);
    throw Error("corpus: unknown subcommand '" + sub + "' (see swarm corpus --help)");
}

} // namespace swarm::cli
