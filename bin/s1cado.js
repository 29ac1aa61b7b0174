#!/usr/bin/env node
// Launcher for `npx s1cado`: the CLI is TypeScript, run through tsx's CommonJS loader (a dev dependency).
require('tsx/cjs');
require('./s1cado.ts').runCli();
