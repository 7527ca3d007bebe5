#!/usr/bin/env node
// Converts a JSONL file of flat string fields to Parquet the way the Hub's converter (pyarrow)
// lays its files out: one row group, dictionary pages with RLE_DICTIONARY data pages, Snappy,
// data page v1. Dev time only, for bench/bench_parquet_import.cpp; the writer is parquet-wasm
// (Apache Arrow's Rust parquet crate), pinned in tools/parquet-fixtures/package-lock.json:
//     (cd tools/parquet-fixtures && npm ci)
//     node tools/jsonl-to-parquet.js IN.jsonl OUT.parquet
'use strict';

const fs = require('fs');
const path = require('path');

const mods = path.join(__dirname, 'parquet-fixtures', 'node_modules');
if (process.argv.length !== 4) {
    console.error('usage: node tools/jsonl-to-parquet.js IN.jsonl OUT.parquet');
    process.exit(2);
}
if (!fs.existsSync(path.join(mods, 'parquet-wasm'))) {
    console.error('parquet-wasm not installed: run (cd tools/parquet-fixtures && npm ci) first');
    process.exit(3);
}
const arrow = require(path.join(mods, 'apache-arrow'));
const pq = require(path.join(mods, 'parquet-wasm', 'node', 'parquet_wasm.js'));

const rows = fs.readFileSync(process.argv[2], 'utf-8').split('\n').filter(l => l.length).map(l => JSON.parse(l));
const keys = [];
for (const r of rows)
    for (const k of Object.keys(r))
        if (!keys.includes(k)) keys.push(k);
const columns = {};
for (const k of keys) {
    for (const r of rows)
        if (r[k] !== null && r[k] !== undefined && typeof r[k] !== 'string') {
            console.error('column ' + k + ' is not text: only flat string fields are converted');
            process.exit(1);
        }
    columns[k] = arrow.vectorFromArray(rows.map(r => (r[k] === undefined ? null : r[k])), new arrow.Utf8());
}
const props = new pq.WriterPropertiesBuilder()
    .setWriterVersion(pq.WriterVersion.V1)
    .setCompression(pq.Compression.SNAPPY)
    .setDictionaryEnabled(true)
    .build();
const bytes = pq.writeParquet(pq.Table.fromIPCStream(arrow.tableToIPC(new arrow.Table(columns), 'stream')), props);
fs.writeFileSync(process.argv[3], bytes);
