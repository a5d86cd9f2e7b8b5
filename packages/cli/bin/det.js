#!/usr/bin/env node
// Runs the built CLI; `node --import tsx --conditions=source packages/cli/src/bin.ts` runs the sources.
import '../dist/bin.js';
