// Dev-time benchmark of llama.cpp on a GGUF file, through the npm package node-llama-cpp (its
// prebuilt llama.cpp; no machine here runs llama.cpp's own binaries): prefill tokens/s of one
// prompt and decode tokens/s of greedy tokens after it, on N threads, CPU only, to set beside
// bench_engine / swarm bench on the same file and thread count.
//
//   npm i -E node-llama-cpp@3.21.1      (in a scratch folder, e.g. /tmp/nlc; run from there)
//   node /path/to/tools/bench-llamacpp.mjs MODEL.gguf [threads=2] [prompt=256] [decode=128] [repeat=3]
//
// Token ids are pseudo-random ordinary tokens (the speed does not depend on them); the context is
// 2048 with llama.cpp's default KV cache and flash-attention setting. Prints one RESULT line.
import { pathToFileURL } from "node:url";

// The package is resolved from the current folder (where npm installed it), not from tools/.
const { getLlama } = await import(pathToFileURL(process.cwd() + "/node_modules/node-llama-cpp/dist/index.js").href);

const [path, threadsArg = "2", promptArg = "256", decodeArg = "128", repeatArg = "3"] = process.argv.slice(2);
if (!path) {
    console.error("usage: node bench-llamacpp.mjs MODEL.gguf [threads] [prompt] [decode] [repeat]");
    process.exit(2);
}
const threads = Number(threadsArg), promptTokens = Number(promptArg), decodeTokens = Number(decodeArg);
const repeat = Number(repeatArg);

let seed = 1n;
function nextToken() {
    seed = (seed * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    return Number((seed >> 33n) % 50256n);
}

const llama = await getLlama({ gpu: false, maxThreads: threads });
const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
let bestPrefill = 0, bestDecode = 0;
for (let r = 0; r < repeat; ++r) {
    const context = await model.createContext({ contextSize: 2048, threads, batchSize: 512 });
    const sequence = context.getSequence();
    await sequence.evaluateWithoutGeneratingNewTokens([nextToken(), nextToken(), nextToken(), nextToken()]);   // warm-up
    await sequence.clearHistory();
    const prompt = Array.from({ length: promptTokens }, nextToken);
    let t0 = process.hrtime.bigint();
    await sequence.evaluateWithoutGeneratingNewTokens(prompt);
    const prefill = promptTokens / (Number(process.hrtime.bigint() - t0) / 1e9);
    // Decode: each step feeds one token and computes its logits (greedy sampling, as the engine's decode).
    t0 = process.hrtime.bigint();
    let produced = 0;
    for await (const token of sequence.evaluate([nextToken()], { temperature: 0 })) {
        if (++produced >= decodeTokens) break;
    }
    const decode = produced / (Number(process.hrtime.bigint() - t0) / 1e9);
    bestPrefill = Math.max(bestPrefill, prefill);
    bestDecode = Math.max(bestDecode, decode);
    await context.dispose();
}
console.log(`RESULT llama.cpp prefill=${bestPrefill.toFixed(1)} decode=${bestDecode.toFixed(1)} threads=${threads} file=${path}`);
await model.dispose();
