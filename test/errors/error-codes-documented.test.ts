import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES } from '../../src/errors/codes.js';

test('every error code is documented in docs/errors.md with its status', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const missing = Object.entries(ERROR_CODES).filter(([code, { status }]) => {
    const row = doc.split('\n').find((line) => line.includes(`\`${code}\``));
    return !row || !row.includes(String(status));
  });
  assert.deepEqual(missing.map(([code]) => code), [], 'codes missing from docs/errors.md (or listed without their status)');
});
