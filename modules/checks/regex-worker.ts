/**
 * The matcher thread of regex.ts: tests one body against one pattern at a
 * time. It may be terminated in the middle of a match; it keeps nothing. The
 * entry of a Bun Worker (scripts/build.mjs compiles it into the binary).
 */
import type { FromRegexThread, ToRegexThread } from "./regex.ts";

declare const self: Worker;

const post = (m: FromRegexThread) => self.postMessage(m);

self.onmessage = (e: MessageEvent<ToRegexThread>) => {
  let answer: FromRegexThread;
  try {
    answer = { matched: new RegExp(e.data.pattern).test(e.data.text) };
  } catch (err) {
    answer = { error: (err as Error).message };
  }
  post(answer);
};
post({ ready: true });
