#!/usr/bin/env node
// Runs the built master; `npm start` at the repository root runs the sources instead.
import '../dist/main.js';
