/**
 * A body's regular expression (the http and https checks' `body`), matched
 * on a thread of its own under a deadline. JavaScript's regular expressions
 * backtrack: a pattern such as `(a+)+$` takes time exponential in the length
 * of a body that nearly matches, and the backend chooses the body. Run in the
 * checks' thread itself, one such match would stall every check for as long
 * as it takes (minutes, years). Here it costs at most REGEX_DEADLINE_MS: the
 * matcher thread is then terminated, the check fails saying so, and a fresh
 * thread takes the next match. Matches go one at a time, each bounded; the
 * deadline runs from when the thread is ready, so its start is not counted.
 * The queue holds at most one match per check in flight (each check waits for
 * its answer), so the checks' concurrency bounds it.
 */
import { workerEntry } from "../../core/threads.ts";

/** The longest one body match may take; a body is at most HTTP_BODY_LIMIT (64 KiB), so an honest pattern needs far less. */
export const REGEX_DEADLINE_MS = 250;

export type RegexAnswer = { matched: boolean } | { error: string } | { timeout: true };
/** What the matcher thread says: that it is ready, then one answer per request. */
export type FromRegexThread = { ready: true } | { matched: boolean } | { error: string };
export type ToRegexThread = { pattern: string; text: string };

interface Request extends ToRegexThread {
  answer: (a: RegexAnswer) => void;
}

export class RegexMatcher {
  private worker: Worker | null = null;
  private ready = false;
  private readonly queue: Request[] = [];
  private busy: { request: Request; timer: ReturnType<typeof setTimeout> } | null = null;

  constructor(
    private readonly deadlineMs = REGEX_DEADLINE_MS,
    private readonly entry = workerEntry("modules/checks/regex-worker.ts"),
  ) {}

  /** Whether `pattern` matches somewhere in `text`, or why it could not be told. */
  match(pattern: string, text: string): Promise<RegexAnswer> {
    return new Promise((answer) => {
      this.queue.push({ pattern, text, answer });
      this.next();
    });
  }

  /** The thread ends; matches still asked for are answered by a new one. */
  close(): void {
    this.worker?.terminate();
    this.worker = null;
    this.ready = false;
  }

  private next(): void {
    if (this.busy) return;
    // The thread holds the process open only while a match is asked for; an idle matcher never does.
    if (!this.queue.length) return void this.worker?.unref();
    const worker = this.thread();
    worker.ref();
    if (!this.ready) return;
    const request = this.queue.shift()!;
    const timer = setTimeout(() => {
      this.close();
      this.done({ timeout: true });
    }, this.deadlineMs);
    this.busy = { request, timer };
    worker.postMessage({ pattern: request.pattern, text: request.text } satisfies ToRegexThread);
  }

  private done(a: RegexAnswer): void {
    const busy = this.busy!;
    clearTimeout(busy.timer);
    this.busy = null;
    busy.request.answer(a);
    this.next();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.entry);
    worker.onmessage = (e: MessageEvent<FromRegexThread>) => {
      if (this.worker !== worker) return;
      if ("ready" in e.data) {
        this.ready = true;
        this.next();
      } else if (this.busy) this.done(e.data);
    };
    worker.onerror = (e) => {
      if (this.worker !== worker) return;
      this.close();
      if (this.busy) this.done({ error: `the matcher thread failed: ${e.message}` });
      else this.next();
    };
    this.worker = worker;
    return worker;
  }
}
