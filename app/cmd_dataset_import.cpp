// `swarm dataset import` and `swarm dataset preview`: the mapping options, the import with its
// progress line, and the preview of a file (or of an imported dataset).
#include "app/cmd_dataset.h"
#include "app/progress_line.h"

#include "core/error.h"
#include "core/format.h"
#include "core/hf_folder.h"
#include "core/hf_hub.h"
#include "core/model_config.h"
#include "datasets/dataset_import.h"
#include "datasets/hub_dataset.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>
#include <unistd.h>

namespace swarm::cli::datasetcmd {

using nlohmann::json;

namespace {

// Template options accept \n, \t and \\ as on the page.
std::string unescapeCli(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) {
            const char n = s[i + 1];
            if (n == 'n') { out += '\n'; ++i; continue; }
            if (n == 't') { out += '\t'; ++i; continue; }
            if (n == '\\') { out += '\\'; ++i; continue; }
        }
        out += s[i];
    }
    return out;
}

const std::set<std::string> kMappingOptions = {"preset", "preset-file", "prompt-template", "response-field",
                                               "response-template", "chat-format", "input-format", "json-key",
                                               "max-len", "overlong", "max-record-bytes"};

const char* kMappingHelp =
    "mapping (default: the preset detected from the columns):\n"
    "  --preset NAME             sql, function, extract, commit, summary, router, prompt, pii, or a preset\n"
    "                            saved in the project; auto (default) detects it\n"
    "  --preset-file FILE        a preset as JSON (an edited copy of `swarm dataset presets --json`)\n"
    "  --prompt-template T       the prompt from any fields, e.g. '{context}\\n\\nQuestion: {question}';\n"
    "                            nested fields by path: {chat[0].content}; filters: {tools|json}, |trim, ...\n"
    "  --response-field F        the field holding the response (or --response-template T)\n"
    "  --chat-format T           default 'User: {prompt}\\nAssistant: {response}<|endoftext|>'\n"
    "  --input-format F          jsonl, json, csv, tsv, parquet (default: from the name and content)\n"
    "  --json-key K              the key of a {\"K\": [...]} wrapper (default: the first array)\n"
    "  --max-len N               tokens per example, at most the model context 2048 (default 1024)\n"
    "  --overlong truncate|drop  over-long rows lose prompt tokens from the start, or are dropped\n"
    "  --max-record-bytes N      a larger record is rejected as too long (default 4 MiB)\n"
    "  (in templates, \\n and \\t are a newline and a tab)\n";

const std::set<std::string> kHubOptions = {"config", "file", "hub-split", "token"};

const char* kHubHelp =
    "Hugging Face Hub (FILE may be a dataset repo id, org/name[@revision]):\n"
    "  --split NAME              the split to import (train, validation, test; default train); ratios\n"
    "                            (--split 0.9,0.05,0.05) still divide it; --hub-split NAME says it alone\n"
    "  --config C                only the data files of that config (folder), or that config of the\n"
    "                            Hub's Parquet conversion\n"
    "  --file F                  this file of the repo, whatever the split\n"
    "  --token T                 for gated or private repos (default $HF_TOKEN)\n"
    "  --offline                 the Hugging Face cache only, never the network (also HF_HUB_OFFLINE=1)\n"
    "  Files come from the standard cache ($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub),\n"
    "  shared with the Python tools; only what it lacks is downloaded ($HF_ENDPOINT, default huggingface.co).\n";

// "0.9,0.05,0.05" or "90,10": split ratios; anything else given to --split names a Hub split.
bool isRatioList(const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789.,") == std::string::npos;
}

bool isRepoSource(const Args& args) {
    const std::string source = args.positionals()[0];
    std::error_code ec;
    return !std::filesystem::exists(source, ec) && hub::looksLikeRepoId(source);
}

// FILE, or the local file a dataset repo id resolves to (the cache, else the Hub); for a repo,
// --split NAME (not ratios) or --hub-split NAME picks the split.
std::string datasetSource(const Args& args, bool quiet) {
    const std::string source = args.positionals()[0];
    if (!isRepoSource(args)) {
        for (const char* o : {"config", "file", "hub-split", "token"})
            if (args.has(o)) throw Error(std::string("--") + o + " is for a Hugging Face dataset repo id; " + source + " is a file");
        return source;
    }
    std::string split = args.value("hub-split");
    if (args.has("split") && !isRatioList(args.value("split"))) {
        if (!split.empty()) throw Error("give the Hub split once: --split NAME or --hub-split NAME");
        split = args.value("split");
    }
    hub::setProcessHubOverrides(args.value("token"), args.flag("offline"));
    HubDatasetRequest req;
    req.repo = source;
    req.config = args.value("config");
    req.split = split.empty() ? "train" : split;
    req.file = args.value("file");
    const HubDatasetFile f = resolveHubDataset(req, hub::hubOptionsFromEnvironment());
    if (!quiet)
        std::cerr << "dataset " << source << ": " << f.repoPath << (f.parquetConversion ? " (the Hub's Parquet conversion)" : "")
                  << " at commit " << f.commit.substr(0, 12) << (f.fromCache ? ", from the Hugging Face cache" : ", downloaded")
                  << "\n";
    return f.localPath;
}

// Fills the mapping part of ImportOptions from the arguments.
void mappingFromArgs(const Args& args, ImportOptions& o, ProjectStore* store) {
    o.reader.format = parseSourceFormat(args.value("input-format", "auto"));
    o.reader.jsonKey = args.value("json-key");
    o.reader.maxRecordBytes = size_t(args.integer("max-record-bytes", 4 << 20, 1024, (long long)1 << 31));
    o.maxLen = int(args.integer("max-len", 1024, 8, ModelConfig{}.block_size));
    o.overlong = parseOverlong(args.value("overlong", "truncate"));
    if (args.has("preset-file")) {
        const std::string file = args.value("preset-file");
        o.preset = DatasetPreset::fromJson(readPresetFile(file), file);
    }
    const std::string preset = args.value("preset");
    if (!preset.empty() && preset != "auto") {
        if (o.preset) throw Error("give --preset or --preset-file, not both");
        if (store)
            for (const auto& [name, j] : DatasetStore(*store).savedPresets())
                if (name == preset) o.preset = DatasetPreset::fromJson(j, store->path() + ": preset '" + name + "'");
        if (!o.preset) o.presetName = preset;
    }
    o.promptTemplate = unescapeCli(args.value("prompt-template"));
    if (args.has("response-field") && args.has("response-template"))
        throw Error("give --response-field or --response-template, not both");
    if (args.has("response-field")) o.responseTemplate = TextTemplate::forField(args.value("response-field")).text();
    else o.responseTemplate = unescapeCli(args.value("response-template"));
    o.chatFormat = unescapeCli(args.value("chat-format"));
}

// The options of `dataset import` other than the mapping.
ImportOptions importOptionsFrom(const Args& args, ProjectStore& store) {
    ImportOptions o;
    o.name = args.required("name");
    o.sourcePath = datasetSource(args, args.flag("quiet") || args.flag("json"));
    mappingFromArgs(args, o, &store);
    const bool ratios = args.has("split") && (!isRepoSource(args) || isRatioList(args.value("split")));
    if (ratios && args.has("split-column")) throw Error("give --split or --split-column, not both");
    if (args.has("split-column")) o.split = SplitSpec::fromColumn(args.value("split-column"));
    else if (ratios) o.split = SplitSpec::parse(args.value("split"));
    o.seed = uint64_t(args.integer("seed", 42, 0, (long long)(~0ull >> 1)));
    o.dropDuplicates = !args.flag("keep-duplicates");
    o.threads = int(args.integer("threads", 0, 0, 256));
    o.dryRun = args.flag("dry-run");
    return o;
}

// The import's progress on stderr: one line rewritten in place on a terminal, a line per tenth
// otherwise.
class ImportProgressLine {
public:
    explicit ImportProgressLine(std::string name) : name_(std::move(name)), start_(std::chrono::steady_clock::now()) {}

    void show(const ImportProgress& p) {
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
        // Short imports show no progress; files of several MiB, or anything slower than 0.5 s, do.
        if (elapsed < 0.5 && p.bytesTotal < (uint64_t(4) << 20) && !line_.printed()) return;
        const int pct = p.bytesTotal ? int(100.0 * double(p.bytesRead) / double(p.bytesTotal)) : 100;
        if (!line_.due(pct, p.bytesRead >= p.bytesTotal)) return;
        line_.print(formatText("importing %s: %3d%%  %s records, %s imported, %s rejected, %.1f s", name_.c_str(), pct,
                                 withThousands(p.recordsRead).c_str(), withThousands(p.imported).c_str(),
                                 withThousands(p.rejected).c_str(), elapsed));
    }
    void finish() const { line_.finish(); }

private:
    std::string name_;
    std::chrono::steady_clock::time_point start_;
    ProgressLine line_{::isatty(2) != 0, 0.2};
};

// `dataset preview NAME --project P`: the first examples of an imported dataset.
int previewStoredDataset(const Args& args, int rows) {
    ProjectStore store = ProjectStore::open(args.value("project"));
    const DatasetInfo d = DatasetStore(store).dataset(args.positionals()[0]);
    const auto examples = DatasetStore(store).examples(d.id, splitOption(args), args.integer("offset", 0, 0, 1LL << 40), rows);
    if (args.flag("json")) {
        json out = json::array();
        for (const StoredExample& e : examples)
            out.push_back({{"id", e.id}, {"record", e.recordNumber}, {"split", splitName(e.split)}, {"prompt", e.prompt},
                           {"response", e.response}, {"n_tokens", e.ids.size()}, {"prompt_len", e.promptLen},
                           {"truncated_tokens", e.truncatedTokens}});
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    std::cout << "dataset '" << d.name << "': " << withThousands(d.rowsImported) << " examples\n";
    for (const StoredExample& e : examples) {
        std::cout << "\n#" << e.id << "  record " << e.recordNumber << ", " << splitName(e.split) << ", "
                  << e.ids.size() << " tokens (" << e.promptLen << " masked"
                  << (e.truncatedTokens ? ", " + std::to_string(e.truncatedTokens) + " truncated" : "") << ")\n"
                  << "  prompt:   " << oneLine(e.prompt, 400) << "\n"
                  << "  response: " << oneLine(e.response, 400) << "\n";
    }
    return 0;
}

void printFilePreviewJson(const DatasetPreview& pv) {
    json out;
    out["format"] = formatName(pv.format);
    out["columns"] = pv.columns;
    out["bom"] = pv.bom;
    out["bytes"] = pv.fileSize;
    if (!pv.wrapperKey.empty()) out["json_key"] = pv.wrapperKey;
    out["mapping"] = pv.mapping ? pv.mapping->toJson() : json();
    if (!pv.mappingError.empty()) out["mapping_error"] = pv.mappingError;
    out["rows"] = json::array();
    for (const PreviewRow& r : pv.rows) {
        json row{{"record", r.number}, {"line", r.line}, {"ok", r.ok}, {"fields", r.record}};
        if (r.ok) {
            row["prompt"] = r.prompt;
            row["response"] = r.response;
            row["prompt_tokens"] = r.promptTokens;
            row["response_tokens"] = r.responseTokens;
        } else {
            row["reason"] = r.reason;
            row["detail"] = r.detail;
        }
        out["rows"].push_back(row);
    }
    std::cout << out.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
}

void printFilePreviewText(const std::string& path, const DatasetPreview& pv) {
    std::cout << path << ": " << formatName(pv.format) << ", " << formatBytes(pv.fileSize)
              << (pv.bom ? ", UTF-8 BOM" : "") << (pv.wrapperKey.empty() ? "" : ", records in \"" + pv.wrapperKey + "\"")
              << "\n";
    std::cout << "columns:";
    for (const std::string& c : pv.columns) std::cout << " " << c;
    std::cout << "\n";
    if (pv.mapping) {
        std::cout << "mapping: " << pv.mapping->explanation << "\n"
                  << "  prompt template:   " << oneLine(pv.mapping->prompt.text()) << "\n"
                  << "  response template: " << oneLine(pv.mapping->response.text()) << "\n"
                  << "  chat format:       " << oneLine(pv.mapping->format.text()) << "\n";
    } else {
        std::cout << "mapping: none: " << pv.mappingError << "\n";
    }
    for (const PreviewRow& r : pv.rows) {
        if (pv.format == SourceFormat::Parquet) std::cout << "\nrow " << r.number;
        else std::cout << "\nrecord " << r.number << " (line " << r.line << ")";
        if (!pv.mapping && r.reason.empty()) {
            std::cout << "\n  " << oneLine(r.record.dump(-1, ' ', false, json::error_handler_t::replace), 600) << "\n";
            continue;
        }
        if (!r.ok) {
            std::cout << ": would be rejected: " << r.reason << ": " << oneLine(r.detail, 300) << "\n";
            continue;
        }
        std::cout << ": " << r.promptTokens << " prompt + " << r.responseTokens << " response tokens\n"
                  << "  prompt:   " << oneLine(r.prompt, 400) << "\n"
                  << "  response: " << oneLine(r.response, 400) << "\n";
    }
}

} // namespace

int cmdImport(const Argv& argv) {
    std::set<std::string> values = kMappingOptions;
    values.insert({"project", "name", "split", "split-column", "seed", "threads", "tokenizer"});
    values.insert(kHubOptions.begin(), kHubOptions.end());
    Args args(argv, values, {"keep-duplicates", "dry-run", "quiet", "json", "offline"});
    if (args.help()) {
        std::cout << "usage: swarm dataset import FILE|org/name --project P --name N [--preset NAME | --prompt-template T\n"
                     "                            --response-field F] [--max-len N] [--overlong truncate|drop]\n"
                     "                            [--split 0.9,0.05,0.05 | --split-column COL] [--seed N] ...\n"
                     "Reads FILE (JSONL, JSON, CSV, TSV or Parquet; UTF-8, BOM or not), or a Hugging Face dataset\n"
                     "repo's file, maps each record to a prompt and a\n"
                     "response, tokenises it in the chat format with the prompt masked, splits, and stores it in the\n"
                     "project in one transaction (all or nothing). Prints the validation report.\n"
                  << kMappingHelp
                  << "split and checks:\n"
                     "  --split R,R[,R]        train,validation,test ratios (default 0.9,0.05,0.05); rows with the\n"
                     "                         same prompt stay together, so no prompt leaks between splits\n"
                     "  --split-column COL     take each row's split from a field (train, validation/val/dev, test)\n"
                     "  --seed N               the split's seed (default 42)\n"
                     "  --keep-duplicates      keep exact duplicates (same prompt and response); default: drop them\n"
                     "other:\n"
                     "  --dry-run              run everything and print the report, then leave the project unchanged\n"
                     "  --threads N            tokeniser threads (default: every core)\n"
                     "  --tokenizer MODEL_DIR  a model folder's tokenizer instead of the bundled GPT-2 one\n"
                     "  --quiet                no progress on stderr    --json  the report as JSON\n"
                  << kHubHelp;
        return 0;
    }
    if (args.positionals().size() != 1) throw Error("dataset import: expected one FILE or dataset repo id (see --help)");
    const std::string projectPath = args.required("project");
    ProjectStore store = ProjectStore::open(projectPath);
    ImportOptions o = importOptionsFrom(args, store);
    const Gpt2Tokenizer tok = tokenizerFrom(args);
    ImportProgressLine progress(o.name);
    if (!args.flag("quiet")) o.progress = [&progress](const ImportProgress& p) { progress.show(p); };
    ImportResult result;
    try {
        result = importDataset(store, tok, o);
    } catch (...) {
        progress.finish();
        throw;
    }
    progress.finish();
    if (args.flag("json")) {
        std::cout << result.report.dump(2) << "\n";
        return 0;
    }
    if (o.dryRun) std::cout << "dry run: nothing was written to " << projectPath << "\n";
    else
        std::cout << "imported dataset '" << o.name << "' (id " << result.datasetId << ") into " << projectPath << "\n";
    printReport(result.report, nullptr, 20, false);
    return 0;
}

int cmdPreview(const Argv& argv) {
    std::set<std::string> values = kMappingOptions;
    values.insert({"project", "rows", "split", "offset", "tokenizer"});
    values.insert(kHubOptions.begin(), kHubOptions.end());
    Args args(argv, values, {"json", "offline"});
    if (args.help()) {
        std::cout << "usage: swarm dataset preview FILE|org/name [--rows N] [mapping options] [--json]\n"
                     "       swarm dataset preview NAME --project P [--rows N] [--split S] [--offset K]\n"
                     "The first rows of FILE as the import would see them (format, columns, detected preset, the\n"
                     "rendered prompt and response with token counts, or why a row would be rejected), before\n"
                     "importing; with --project, the first examples of an imported dataset.\n"
                  << kMappingHelp << kHubHelp;
        return 0;
    }
    if (args.positionals().size() != 1) throw Error("dataset preview: expected one FILE or dataset NAME (see --help)");
    const int rows = int(args.integer("rows", 5, 1, 100000));
    if (args.has("project")) return previewStoredDataset(args, rows);
    ImportOptions o;
    o.sourcePath = datasetSource(args, args.flag("json"));
    mappingFromArgs(args, o, nullptr);
    const Gpt2Tokenizer tok = tokenizerFrom(args);
    const DatasetPreview pv = previewDataset(o, &tok, rows);
    if (args.flag("json")) printFilePreviewJson(pv);
    else printFilePreviewText(o.sourcePath, pv);
    return 0;
}

} // namespace swarm::cli::datasetcmd
