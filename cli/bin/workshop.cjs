#!/usr/bin/env node
// The `workshop` bin: runs the TypeScript CLI through tsx's require hook (no build step).
require('tsx/cjs');
require('../workshop.ts').main();
