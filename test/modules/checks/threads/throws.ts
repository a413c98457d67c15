/** A checks thread that dies of an uncaught error when asked for its status. */
import { dieOnStatus } from "./dying.ts";

dieOnStatus(() => {
  throw new Error("the test killed the checks' thread");
});
