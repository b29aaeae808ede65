#include "bench.h"
int bench_suite_quant(bench_ctx *b);
int bench_suite_quant(bench_ctx *b) { (void)b; return 0; }
