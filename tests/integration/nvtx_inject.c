/* An NVTX injection library for tests/integration/nvtx.rs: it records every range push
 * and pop of the process it is loaded into, so the ranges can be checked without nsys or
 * a GPU.
 *
 * NVTX3 dlopens the library named by NVTX_INJECTION64_PATH on the first NVTX call and
 * calls its InitializeInjectionNvtx2; that asks the export table for the core module's
 * function table and fills the slots of the functions the nvtx crate calls
 * (nvtxRangePushA and nvtxRangePop, in its nvtx-sys/export.c). Each event is one line,
 * "<tid> init", "<tid> push <name>" or "<tid> pop", appended with a single write(2) to
 * the file named by NVTX_RECORD_PATH, so lines from several threads never interleave and
 * nothing is lost if the process dies.
 *
 * The few NVTX types are declared here, not included, so that the test depends on no
 * path inside the cargo registry. The numbers and layouts come from the NVTX 3 headers
 * that the nvtx crate 1.3.0 vendors (nvtx-sys/NVTX/c/include/nvtx3/nvtxDetail/
 * nvtxTypes.h, NVTX_VERSION 3); NVTX only ever appends to these enums and structs. */

#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* NvtxExportTableID */
#define NVTX_ETID_CALLBACKS 1
/* NvtxCallbackModule */
#define NVTX_CB_MODULE_CORE 1
/* NvtxCallbackIdCore */
#define NVTX_CBID_CORE_RangePushA 9
#define NVTX_CBID_CORE_RangePop 11

typedef void (*NvtxFunctionPointer)(void);
typedef NvtxFunctionPointer **NvtxFunctionTable;
typedef struct {
    size_t struct_size;
    int (*GetModuleFunctionTable)(int module, NvtxFunctionTable *out_table,
                                  unsigned int *out_size);
} NvtxExportTableCallbacks;
typedef const void *(*NvtxGetExportTableFunc_t)(uint32_t exportTableId);

static int record_fd = -1;

static void record(const char *event, const char *name) {
    char line[512];
    /* pthread_self, not gettid: it names the thread on every POSIX system. */
    uintptr_t tid = (uintptr_t)pthread_self();
    int n = name ? snprintf(line, sizeof line, "%zx %s %s\n", (size_t)tid, event, name)
                 : snprintf(line, sizeof line, "%zx %s\n", (size_t)tid, event);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line) {
        /* A name too long for the line: keep the newline so the next line still parses. */
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    if (write(record_fd, line, (size_t)n) != n)
        abort();
}

static int push_a(const char *message) {
    record("push", message ? message : "(null)");
    return 0;
}

static int pop(void) {
    record("pop", NULL);
    return 0;
}

/* Returns 1 on success; 0 makes NVTX unload the library and turn every call into a no-op,
 * which the test sees as a record without its "init" line. */
int InitializeInjectionNvtx2(NvtxGetExportTableFunc_t getExportTable) {
    const char *path = getenv("NVTX_RECORD_PATH");
    if (!path)
        return 0;
    record_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (record_fd < 0)
        return 0;
    const NvtxExportTableCallbacks *etbl =
        (const NvtxExportTableCallbacks *)getExportTable(NVTX_ETID_CALLBACKS);
    if (!etbl || etbl->struct_size < sizeof *etbl || !etbl->GetModuleFunctionTable)
        return 0;
    NvtxFunctionTable table = NULL;
    unsigned int size = 0;
    if (!etbl->GetModuleFunctionTable(NVTX_CB_MODULE_CORE, &table, &size) || !table ||
        size <= NVTX_CBID_CORE_RangePop)
        return 0;
    *table[NVTX_CBID_CORE_RangePushA] = (NvtxFunctionPointer)push_a;
    *table[NVTX_CBID_CORE_RangePop] = (NvtxFunctionPointer)pop;
    record("init", NULL);
    return 1;
}
