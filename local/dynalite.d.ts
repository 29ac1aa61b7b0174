/** The part of dynalite 4 (no types of its own) that local/dynamo.ts uses. */
declare module 'dynalite' {
  import type { Server } from 'node:http';

  interface DynaliteOptions {
    /** LevelDB directory. @default in memory */
    path?: string;
    /** How long a new table stays CREATING. @default 500 */
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
    maxItemSizeKb?: number;
  }

  /** An http.Server whose `close` also closes the store. */
  function dynalite(options?: DynaliteOptions): Server;
  export = dynalite;
}
