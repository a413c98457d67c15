/** A checks thread that exits (code 7) when asked for its status. */
import { dieOnStatus } from "./dying.ts";

dieOnStatus(() => process.exit(7));
