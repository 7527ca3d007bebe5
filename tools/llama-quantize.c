// Dev-time tool: llama.cpp's own quantiser (llama_model_quantize in the libllama that the npm
// package node-llama-cpp ships prebuilt), to make real llama-quantize files of an exported Eve
// GGUF, e.g. a Q4_K_M, for side-by-side checks with the engine. Nothing here is built or run by
// the product or CI: no machine here runs llama.cpp's binaries, but its shared library comes
// through npm.
//
//   npm i -E node-llama-cpp@3.21.1            (in a scratch folder, e.g. /tmp/nlc)
//   cc -O1 -o /tmp/llama-quantize tools/llama-quantize.c -ldl
//   LIB=/tmp/nlc/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
//   LD_LIBRARY_PATH=$LIB /tmp/llama-quantize $LIB/libllama.v0.4.0.so in-f32.gguf out-q4_k_m.gguf 15 [threads]
//
// The last arguments are the llama_ftype (15 Q4_K_M, 17 Q5_K_M, 18 Q6_K, 7 Q8_0, 2 Q4_0, 8 Q5_0)
// and the thread count. llama_model_quantize_params is taken from
// llama_model_quantize_default_params() (returned through a buffer larger than any version's
// struct) and only its first two fields are set: int32 nthread, int32 ftype, in the order every
// llama.h since 2023 declares them.
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char bytes[1024];
} QuantizeParams;

int main(int argc, char** argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s LIBLLAMA.so IN.gguf OUT.gguf FTYPE [THREADS]\n", argv[0]);
        return 2;
    }
    void* lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "cannot load %s: %s\n", argv[1], dlerror());
        return 1;
    }
    void (*backendInit)(void) = (void (*)(void))dlsym(lib, "llama_backend_init");
    QuantizeParams (*defaults)(void) = (QuantizeParams(*)(void))dlsym(lib, "llama_model_quantize_default_params");
    uint32_t (*quantize)(const char*, const char*, const QuantizeParams*) =
        (uint32_t(*)(const char*, const char*, const QuantizeParams*))dlsym(lib, "llama_model_quantize");
    if (!backendInit || !defaults || !quantize) {
        fprintf(stderr, "%s lacks the llama_model_quantize API\n", argv[1]);
        return 1;
    }
    backendInit();
    QuantizeParams params = defaults();
    const int32_t nthread = argc > 5 ? atoi(argv[5]) : 0;
    const int32_t ftype = atoi(argv[4]);
    memcpy(params.bytes, &nthread, 4);
    memcpy(params.bytes + 4, &ftype, 4);
    const uint32_t rc = quantize(argv[2], argv[3], &params);
    if (rc != 0) fprintf(stderr, "llama_model_quantize failed (%u)\n", rc);
    return rc == 0 ? 0 : 1;
}
