// Dev-time generator of tests/data/ggml_quant_vectors.bin: test vectors for every block type
// the engine reads, written by llama.cpp itself (ggml's reference quantisers quantize_row_*_ref
// and dequantisers dequantize_row_*, exported by the libggml-base that the npm package
// node-llama-cpp ships prebuilt), so that test_gguf_vectors checks core/gguf_format's codecs
// against an independent implementation byte for byte and float for float.
//
//   npm i -E node-llama-cpp@3.21.1            (in a scratch folder, e.g. /tmp/nlc)
//   cc -O1 -o /tmp/gen-ggml-vectors tools/gen-ggml-vectors.c -ldl -lm
//   LIB=/tmp/nlc/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
//   LD_LIBRARY_PATH=$LIB /tmp/gen-ggml-vectors $LIB/libggml-base.so tests/data/ggml_quant_vectors.bin
//
// File layout (little-endian): "GGQV", u32 version 1, u32 case count; per case: u32 ggml type,
// u32 n (values), n float32 inputs, u32 byte count + the quantised bytes, n float32 dequantised.
// Inputs (fixed xorshift seed): per 256 values one of normal, a zero block, a constant, a
// positive ramp, tiny values, normal with outliers, all-negative, half zeros.
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*QuantizeFn)(const float* x, void* y, int64_t k);
typedef void (*DequantizeFn)(const void* x, float* y, int64_t k);

static uint64_t state = 0x9e3779b97f4a7c15ull;
static double uniform01(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)((state >> 11) + 1) / 9007199254740993.0;
}
static float normal(void) { return (float)(sqrt(-2.0 * log(uniform01())) * cos(6.283185307179586 * uniform01())); }

static void fill(float* x, int n) {
    for (int s = 0; s < n / 256; ++s) {
        float* b = x + 256 * s;
        for (int i = 0; i < 256; ++i) {
            switch (s % 8) {
            case 0: b[i] = 0.02f * normal(); break;
            case 1: b[i] = 0.0f; break;
            case 2: b[i] = 0.37f; break;
            case 3: b[i] = 0.001f * (float)i; break;
            case 4: b[i] = 1e-7f * normal(); break;
            case 5: b[i] = (i % 37 == 5) ? 3.0f * normal() : 0.05f * normal(); break;
            case 6: b[i] = -fabsf(normal()); break;
            default: b[i] = (i % 2) ? 0.0f : normal(); break;
            }
        }
    }
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s LIBGGML-BASE.so OUT.bin\n", argv[0]);
        return 2;
    }
    void* lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "cannot load %s: %s\n", argv[1], dlerror());
        return 1;
    }
    struct Type {
        uint32_t id;
        const char* name;
        size_t blockBytes;
        int blockValues;
    } types[] = {
        {2, "q4_0", 18, 32},   {6, "q5_0", 22, 32},    {7, "q5_1", 24, 32},    {8, "q8_0", 34, 32},
        {12, "q4_K", 144, 256}, {13, "q5_K", 176, 256}, {14, "q6_K", 210, 256},
    };
    const int ntypes = (int)(sizeof types / sizeof types[0]);
    const int n = 2048;   // 8 super-blocks: every input kind once
    FILE* out = fopen(argv[2], "wb");
    if (!out) {
        fprintf(stderr, "cannot write %s\n", argv[2]);
        return 1;
    }
    const uint32_t version = 1, cases = (uint32_t)ntypes;
    fwrite("GGQV", 1, 4, out);
    fwrite(&version, 4, 1, out);
    fwrite(&cases, 4, 1, out);
    float* x = malloc(sizeof(float) * n);
    float* back = malloc(sizeof(float) * n);
    for (int t = 0; t < ntypes; ++t) {
        char qname[64], dname[64];
        snprintf(qname, sizeof qname, "quantize_row_%s_ref", types[t].name);
        snprintf(dname, sizeof dname, "dequantize_row_%s", types[t].name);
        QuantizeFn q = (QuantizeFn)dlsym(lib, qname);
        DequantizeFn d = (DequantizeFn)dlsym(lib, dname);
        if (!q || !d) {
            fprintf(stderr, "%s lacks %s or %s\n", argv[1], qname, dname);
            return 1;
        }
        fill(x, n);
        const uint32_t bytes = (uint32_t)(n / types[t].blockValues * types[t].blockBytes);
        unsigned char* y = malloc(bytes);
        q(x, y, n);
        d(y, back, n);
        const uint32_t nn = (uint32_t)n;
        fwrite(&types[t].id, 4, 1, out);
        fwrite(&nn, 4, 1, out);
        fwrite(x, sizeof(float), (size_t)n, out);
        fwrite(&bytes, 4, 1, out);
        fwrite(y, 1, bytes, out);
        fwrite(back, sizeof(float), (size_t)n, out);
        free(y);
        printf("%s: %d values, %u bytes\n", types[t].name, n, bytes);
    }
    fclose(out);
    free(x);
    free(back);
    return 0;
}
