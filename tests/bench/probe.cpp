// drover-bench-probe: the task of tests/bench/perf.py's part b. Its first act
// is to read the wall clock, so the time it writes is the moment the task's
// process runs, with no interpreter start-up in it. It writes that time, in
// seconds with microseconds, to $DROVER_OUTPUT_DIR/t (./t without the
// variable), so the same binary measures a direct start for the baseline.
// Linked statically where it can be: exec then maps one file, not a libc.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  const char* dir = getenv("DROVER_OUTPUT_DIR");
  char path[4096];
  if (snprintf(path, sizeof path, "%s/t", dir != nullptr ? dir : ".") >= static_cast<int>(sizeof path)) {
    return 2;
  }
  FILE* out = fopen(path, "w");
  if (out == nullptr) return 1;
  fprintf(out, "%lld.%06ld\n", static_cast<long long>(now.tv_sec), now.tv_nsec / 1000);
  return fclose(out) == 0 ? 0 : 1;
}
