#!/usr/bin/env node
// Generates tests/data/tokenizer_fixture_ids.json: the GPT-2 token ids of
// tests/data/tokenizer_fixture.txt according to an independent reference, the npm package
// gpt-3-encoder (a JavaScript port of OpenAI's GPT-2 encoder.py). tests/test_tokenizer.cpp checks
// Gpt2Tokenizer against these ids.
//
// Regenerate (dev time only; the package is installed outside the repository, never committed):
//     mkdir -p /tmp/tokref && (cd /tmp/tokref && npm install gpt-3-encoder)
//     node tools/gen-tokenizer-fixture.js [/tmp/tokref]
// The argument (or $TOKREF_DIR, default /tmp/tokref) is the folder holding node_modules/.
//
// Output: {"ids": whole text, "lines": each line of the text (split on "\n", the "\n" left out)
// encoded on its own, plus bookkeeping fields}.
//
// Safety checks, because the reference has known divergences from GPT-2 proper (Python
// encoder.py with the `regex` module, which is also what Hugging Face tokenizers reproduces):
//  - gpt-3-encoder keys its merge ranks by the pair joined with a comma ("a,b"), so a pair such as
//    ('",', '"') is mistaken for the merge ('"', ',"'). This script re-encodes every piece with a
//    correct BPE (written below, ranks keyed without ambiguity) and stops if the two disagree, so
//    the fixture never relies on that bug.
//  - JavaScript's /\s/ includes U+FEFF and lacks U+0085, unlike Python's \s (Unicode
//    White_Space); the fixture must contain neither, and "<|endoftext|>" (which the reference
//    encodes as plain text) must not appear either.
//  - the package's encoder.json / vocab.bpe must be byte-identical to resources/tokenizer.
'use strict';

const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const refDir = process.argv[2] || process.env.TOKREF_DIR || '/tmp/tokref';
const pkgDir = path.join(refDir, 'node_modules', 'gpt-3-encoder');
if (!fs.existsSync(pkgDir)) {
    console.error('gpt-3-encoder not found in ' + pkgDir + '\nInstall it: mkdir -p /tmp/tokref && (cd /tmp/tokref && npm install gpt-3-encoder)');
    process.exit(1);
}
const reference = require(pkgDir);
const pkgVersion = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf-8')).version;

const fixturePath = path.join(root, 'tests', 'data', 'tokenizer_fixture.txt');
const outPath = path.join(root, 'tests', 'data', 'tokenizer_fixture_ids.json');
const vocabPath = path.join(root, 'resources', 'tokenizer', 'vocab.json');
const mergesPath = path.join(root, 'resources', 'tokenizer', 'merges.txt');

function fail(message) {
    console.error('gen-tokenizer-fixture: ' + message);
    process.exit(1);
}

// ---- input checks ------------------------------------------------------------------------------
for (const [ours, theirs] of [[vocabPath, 'encoder.json'], [mergesPath, 'vocab.bpe']]) {
    if (!fs.readFileSync(ours).equals(fs.readFileSync(path.join(pkgDir, theirs))))
        fail(path.relative(root, ours) + ' differs from the package\'s ' + theirs);
}
const raw = fs.readFileSync(fixturePath);
const text = raw.toString('utf-8');
if (!Buffer.from(text, 'utf-8').equals(raw)) fail('the fixture is not valid UTF-8');
if (text.includes('<|endoftext|>')) fail('the fixture contains <|endoftext|>');
if (/[\u0085\uFEFF]/u.test(text)) fail('the fixture contains U+0085 or U+FEFF (JS and Python \\s differ there)');

// ---- independent GPT-2 encoder, used only to cross-check the reference -------------------------
const vocab = JSON.parse(fs.readFileSync(vocabPath, 'utf-8'));
const mergeLines = fs.readFileSync(mergesPath, 'utf-8').split('\n').slice(1).filter((l) => l.length > 0);
const ranks = new Map();   // "left\u0000right" -> rank; byte-level tokens never contain U+0000
mergeLines.forEach((line, i) => {
    const [a, b] = line.split(' ');
    ranks.set(a + '\u0000' + b, i);
});
const byteChar = [];
{
    let n = 0;
    for (let b = 0; b < 256; b++) {
        const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
        byteChar.push(String.fromCharCode(printable ? b : 256 + n++));
    }
}
const pattern = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

function bpe(piece) {
    let word = Array.from(Buffer.from(piece, 'utf-8'), (b) => byteChar[b]);
    while (word.length > 1) {
        let best = -1, bestRank = Infinity;
        for (let i = 0; i + 1 < word.length; i++) {
            const r = ranks.get(word[i] + '\u0000' + word[i + 1]);
            if (r !== undefined && r < bestRank) { bestRank = r; best = i; }
        }
        if (best < 0) break;
        const first = word[best], second = word[best + 1];
        const merged = [];
        for (let i = 0; i < word.length;) {
            if (i + 1 < word.length && word[i] === first && word[i + 1] === second) { merged.push(first + second); i += 2; }
            else merged.push(word[i++]);
        }
        word = merged;
    }
    return word.map((t) => vocab[t]);
}

function checkedEncode(s, where) {
    const ids = reference.encode(s);
    const ours = [];
    for (const m of s.matchAll(pattern)) {
        const piece = m[0];
        const expected = bpe(piece);
        const got = reference.encode(piece);
        if (expected.join() !== got.join())
            fail(where + ': gpt-3-encoder disagrees with GPT-2 BPE on the piece ' + JSON.stringify(piece) +
                 ' (' + JSON.stringify(got) + ' instead of ' + JSON.stringify(expected) + '); change the fixture');
        ours.push(...expected);
    }
    if (ours.join() !== ids.join()) fail(where + ': piecewise and whole-text encodings differ');
    if (ids.some((id) => !Number.isInteger(id))) fail(where + ': the reference produced a non-integer id');
    if (reference.decode(ids) !== s) fail(where + ': the reference does not decode back to the text');
    return ids;
}

// ---- encode and write --------------------------------------------------------------------------
const ids = checkedEncode(text, 'whole text');
const lines = text.split('\n').map((line, i) => checkedEncode(line, 'line ' + (i + 1)));

const chunks = [];
for (let i = 0; i < ids.length; i += 32) chunks.push('    ' + ids.slice(i, i + 32).join(', '));
const out = '{\n' +
    '  "generator": "tools/gen-tokenizer-fixture.js",\n' +
    '  "reference": ' + JSON.stringify('gpt-3-encoder ' + pkgVersion) + ',\n' +
    '  "text": "tokenizer_fixture.txt",\n' +
    '  "text_bytes": ' + raw.length + ',\n' +
    '  "token_count": ' + ids.length + ',\n' +
    '  "ids": [\n' + chunks.join(',\n') + '\n  ],\n' +
    '  "lines_note": "each line of the text (split on \\\\n, without it) encoded on its own",\n' +
    '  "lines": [\n' + lines.map((l) => '    [' + l.join(', ') + ']').join(',\n') + '\n  ]\n' +
    '}\n';
JSON.parse(out);   // sanity
fs.writeFileSync(outPath, out);
console.log('wrote ' + path.relative(root, outPath) + ': ' + ids.length + ' ids for ' + raw.length + ' bytes, ' +
            lines.length + ' lines (gpt-3-encoder ' + pkgVersion + ')');
