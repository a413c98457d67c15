/**
 * The fuzz tests' watchdog thread: a decoder stuck in a loop never returns to
 * fail its property, and bun test cannot interrupt it. The test thread marks
 * when a call starts (and 0 when it ends) in shared memory; past the hang
 * bound this thread names the seed that reproduces it and aborts the run.
 */
declare const self: Worker;

self.onmessage = (e: MessageEvent<{ shared: SharedArrayBuffer; base: number; hangMs: number; seed: number }>) => {
  const { shared, base, hangMs, seed } = e.data;
  const started = new Int32Array(shared);
  setInterval(() => {
    const at = Atomics.load(started, 0);
    if (at && Date.now() - base - at > hangMs) {
      console.error(`fuzz: one call has run for over ${hangMs / 1000} s: a hang in the test after the last one passed. Reproduce it with FUZZ_SEED=${seed}.`);
      process.kill(process.pid, "SIGABRT");
    }
  }, 250);
};
