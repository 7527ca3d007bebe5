#!/usr/bin/env node
// Generates the Parquet fixtures in tests/data/parquet/ with an independent writer: the npm
// package parquet-wasm (Apache Arrow's Rust `parquet` crate compiled to WebAssembly), fed Arrow
// tables built with the npm package apache-arrow. Each fixture comes with the same rows as JSONL
// (<name>.jsonl, written here from the same JavaScript values), and tests/test_parquet_reader.cpp
// compares the two record by record. Nothing here runs in CI: the generated files are committed.
//
// Regenerate (dev time only; exact versions pinned in tools/parquet-fixtures/package-lock.json):
//     (cd tools/parquet-fixtures && npm ci)
//     node tools/gen-parquet-fixtures.js
//
// Fixtures (rows are deterministic: a seeded xorshift drives every value):
//   flat_plain_none_v1      flat columns, PLAIN, uncompressed, data page v1
//   flat_dict_snappy_v1     the same rows, dictionary (RLE_DICTIONARY), SNAPPY, v1
//   flat_dict_zstd_v2       dictionary, ZSTD, data page v2 (booleans RLE-encoded)
//   flat_plain_gzip_v2      PLAIN, GZIP, v2
//   chat_dict_snappy_v1     chat `messages` (list<struct<role, content>>), `tags` (list<string>),
//                           nulls and empty lists; small pages and 7-row row groups
//   chat_plain_zstd_v2      the same rows, PLAIN, ZSTD, v2
//   refuse_delta            an INT64 column in DELTA_BINARY_PACKED (unsupported encoding)
//   refuse_timestamp        a TIMESTAMP column (unsupported logical type)
//   refuse_lz4              LZ4_RAW pages (unsupported codec)
//   binary_not_utf8         a BYTE_ARRAY column without annotation, row 3 not UTF-8
'use strict';

const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const mods = path.join(__dirname, 'parquet-fixtures', 'node_modules');
if (!fs.existsSync(path.join(mods, 'parquet-wasm'))) {
    console.error('parquet-wasm not installed: run (cd tools/parquet-fixtures && npm ci) first');
    process.exit(1);
}
const arrow = require(path.join(mods, 'apache-arrow'));
const pq = require(path.join(mods, 'parquet-wasm', 'node', 'parquet_wasm.js'));
const outDir = path.join(root, 'tests', 'data', 'parquet');
fs.mkdirSync(outDir, { recursive: true });

// Deterministic values.
let state = 0x2545f4914f6cdd1dn;
function rand() {
    state ^= (state << 13n) & 0xffffffffffffffffn;
    state ^= state >> 7n;
    state ^= (state << 17n) & 0xffffffffffffffffn;
    return Number(state & 0xffffffffn) / 4294967296;
}
function pick(list) { return list[Math.floor(rand() * list.length)]; }

const words = ['select', 'table', 'users', 'orders', 'count', 'where', 'name', 'city', 'total', 'price',
    'größe', 'café', 'naïve', '東京', 'данные', 'emoji 🎉', 'tab\there', 'line\nbreak', 'quote "x"', 'back\\slash'];
function sentence(n) {
    const out = [];
    for (let i = 0; i < n; ++i) out.push(pick(words));
    return out.join(' ');
}

// Flat rows: every supported scalar type, nulls in the optional columns.
function flatRows(n) {
    const rows = [];
    for (let i = 0; i < n; ++i) {
        const long = i % 37 === 5;   // a few long strings, so that pages split inside the column
        rows.push({
            id: i + 1,
            question: i % 50 === 7 ? '' : sentence(long ? 400 : 3 + Math.floor(rand() * 12)),
            answer: 'SELECT ' + pick(['COUNT(*)', 'name', 'city', 'SUM(total)']) + ' FROM ' + pick(['users', 'orders']) + (i % 3 ? ' WHERE id = ' + i : ''),
            label: pick(['sql', 'chat', 'json', 'pii']),   // few distinct values: dictionary-friendly
            score: Math.round(rand() * 1e6) / 1e3 - 250,
            ratio: Math.round(rand() * 800) / 8,            // exact in float32
            ok: rand() < 0.5,
            small: Math.floor(rand() * 256) - 128,
            count: Math.floor(rand() * 4e9),
            big: i * 1000003 - 5000000,
            note: i % 4 === 0 ? null : sentence(2),
            flag: i % 5 === 0 ? null : rand() < 0.3,
        });
    }
    return rows;
}

function flatTable(rows) {
    const col = (name, type) => arrow.vectorFromArray(rows.map(r => r[name]), type);
    return new arrow.Table({
        id: arrow.vectorFromArray(rows.map(r => BigInt(r.id)), new arrow.Int64()),
        question: col('question', new arrow.Utf8()),
        answer: col('answer', new arrow.Utf8()),
        label: col('label', new arrow.Utf8()),
        score: col('score', new arrow.Float64()),
        ratio: col('ratio', new arrow.Float32()),
        ok: col('ok', new arrow.Bool()),
        small: col('small', new arrow.Int8()),
        count: col('count', new arrow.Uint32()),
        big: arrow.vectorFromArray(rows.map(r => BigInt(r.big)), new arrow.Int64()),
        note: col('note', new arrow.Utf8()),
        flag: col('flag', new arrow.Bool()),
    });
}

// Chat rows: a list of {role, content} structs (null content, empty and null lists included) and
// a list of strings with null elements.
function chatRows(n) {
    const rows = [];
    for (let i = 0; i < n; ++i) {
        let messages;
        if (i % 11 === 4) messages = null;
        else if (i % 13 === 6) messages = [];
        else {
            messages = [];
            const turns = 1 + Math.floor(rand() * 4);
            for (let t = 0; t < turns; ++t) {
                messages.push({ role: 'user', content: sentence(2 + Math.floor(rand() * 8)) });
                messages.push({ role: 'assistant', content: i % 17 === 3 && t === 0 ? null : sentence(1 + Math.floor(rand() * 6)) });
            }
        }
        let tags;
        if (i % 9 === 2) tags = null;
        else {
            tags = [];
            const k = Math.floor(rand() * 4);
            for (let j = 0; j < k; ++j) tags.push(j === 1 && i % 5 === 0 ? null : pick(['sql', 'easy', 'join', 'group', 'ü']));
        }
        rows.push({ id: i + 1, messages, tags, source: pick(['web', 'api']) });
    }
    return rows;
}

function chatTable(rows) {
    const message = new arrow.Struct([new arrow.Field('role', new arrow.Utf8(), true), new arrow.Field('content', new arrow.Utf8(), true)]);
    return new arrow.Table({
        id: arrow.vectorFromArray(rows.map(r => r.id), new arrow.Int32()),
        messages: arrow.vectorFromArray(rows.map(r => r.messages), new arrow.List(new arrow.Field('element', message, true))),
        tags: arrow.vectorFromArray(rows.map(r => r.tags), new arrow.List(new arrow.Field('element', new arrow.Utf8(), true))),
        source: arrow.vectorFromArray(rows.map(r => r.source), new arrow.Utf8()),
    });
}

function write(name, table, configure) {
    let b = new pq.WriterPropertiesBuilder();
    b = configure(b);
    const bytes = pq.writeParquet(pq.Table.fromIPCStream(arrow.tableToIPC(table, 'stream')), b.build());
    fs.writeFileSync(path.join(outDir, name + '.parquet'), bytes);
    return bytes.length;
}

function writeJsonl(name, rows) {
    fs.writeFileSync(path.join(outDir, name + '.jsonl'), rows.map(r => JSON.stringify(r)).join('\n') + '\n');
}

const flat = flatRows(300);
const chat = chatRows(120);
const made = [];
writeJsonl('flat', flat);
writeJsonl('chat', chat);
const smallPages = b => b.setDataPageSizeLimit(2048).setDictionaryPageSizeLimit(1 << 20);

made.push(['flat_plain_none_v1', write('flat_plain_none_v1', flatTable(flat), b => smallPages(b)
    .setWriterVersion(pq.WriterVersion.V1).setCompression(pq.Compression.UNCOMPRESSED).setDictionaryEnabled(false).setEncoding(pq.Encoding.PLAIN))]);
made.push(['flat_dict_snappy_v1', write('flat_dict_snappy_v1', flatTable(flat), b => smallPages(b)
    .setWriterVersion(pq.WriterVersion.V1).setCompression(pq.Compression.SNAPPY).setDictionaryEnabled(true).setMaxRowGroupSize(128))]);
made.push(['flat_dict_zstd_v2', write('flat_dict_zstd_v2', flatTable(flat), b => smallPages(b)
    .setWriterVersion(pq.WriterVersion.V2).setCompression(pq.Compression.ZSTD).setDictionaryEnabled(true))]);
made.push(['flat_plain_gzip_v2', write('flat_plain_gzip_v2', flatTable(flat), b => smallPages(b)
    .setWriterVersion(pq.WriterVersion.V2).setCompression(pq.Compression.GZIP).setDictionaryEnabled(false).setEncoding(pq.Encoding.PLAIN))]);
made.push(['chat_dict_snappy_v1', write('chat_dict_snappy_v1', chatTable(chat), b => smallPages(b)
    .setWriterVersion(pq.WriterVersion.V1).setCompression(pq.Compression.SNAPPY).setDictionaryEnabled(true).setMaxRowGroupSize(7))]);
made.push(['chat_plain_zstd_v2', write('chat_plain_zstd_v2', chatTable(chat), b => smallPages(b)
    .setWriterVersion(pq.WriterVersion.V2).setCompression(pq.Compression.ZSTD).setDictionaryEnabled(false).setEncoding(pq.Encoding.PLAIN))]);

const few = flat.slice(0, 20);
made.push(['refuse_delta', write('refuse_delta', flatTable(few), b => b.setWriterVersion(pq.WriterVersion.V2)
    .setCompression(pq.Compression.UNCOMPRESSED).setDictionaryEnabled(false).setColumnEncoding('id', pq.Encoding.DELTA_BINARY_PACKED))]);
made.push(['refuse_timestamp', write('refuse_timestamp', new arrow.Table({
    id: arrow.vectorFromArray([1, 2, 3], new arrow.Int32()),
    created: arrow.vectorFromArray([1700000000000, 1700000001000, 1700000002000], new arrow.TimestampMillisecond()),
}), b => b)]);
made.push(['refuse_lz4', write('refuse_lz4', flatTable(few), b => b.setCompression(pq.Compression.LZ4_RAW))]);
const enc = new TextEncoder();
const blobs = ['fine', 'also fine', 'ok', null, 'last'].map(s => (s === null ? new Uint8Array([0x61, 0xff, 0xfe, 0x62]) : enc.encode(s)));
made.push(['binary_not_utf8', write('binary_not_utf8', new arrow.Table({
    id: arrow.vectorFromArray([1, 2, 3, 4, 5], new arrow.Int32()),
    payload: arrow.vectorFromArray(blobs, new arrow.Binary()),
}), b => b.setDictionaryEnabled(false))]);

for (const [name, size] of made) console.log(name + '.parquet: ' + size + ' bytes');
