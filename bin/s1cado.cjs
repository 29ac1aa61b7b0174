#!/usr/bin/env node
// Launcher for `npx s1cado`: the CLI is TypeScript, run through tsx's CommonJS loader (a dev dependency).
// `.cjs`, not `.js`: an extensionless import of `bin/s1cado` must keep resolving to the TypeScript module.
require('tsx/cjs');
require('./s1cado.ts').runCli();
