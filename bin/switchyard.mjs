#!/usr/bin/env node
// The `switchyard` command. The sources are TypeScript, run through tsx's loader so that
// `npm install && npm start` needs no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv.slice(2));
