import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { DataBenchRow } from '../../bench/data.ts';
import { REPO_ROOT, runNode } from '../helpers/cli.ts';

const corpus = join(REPO_ROOT, 'data', 'cmn-eng', 'cmn-eng.tsv');
const skip = existsSync(corpus) ? false : `corpus not found at ${corpus} (get it with: s2s data get cmn-eng)`;

describe('npm run bench:data (synthetic corpora from cmn-eng)', { skip }, () => {
  test('--json prints one row per size with prepare, training and audit figures', { timeout: 600_000 }, async () => {
    const r = await runNode(['--import', 'tsx', join(REPO_ROOT, 'bench', 'data.ts'), '--pairs', '2000,3000', '--steps', '2', '--json'], {
      timeoutMs: 600_000,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /starting the backend once \(untimed\)/);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as DataBenchRow);
    assert.deepEqual(rows.map((row) => row.pairs), [2000, 3000]);
    for (const row of rows) {
      assert.ok(row.readLinesSeconds > 0 && row.prepare.seconds > 0);
      assert.equal(row.prepare.timesReadLines, row.prepare.seconds / row.readLinesSeconds);
      assert.ok(row.readLinesCpuSeconds > 0 && row.prepare.cpuSeconds > 0);
      assert.equal(row.prepare.cpuTimesReadLines, row.prepare.cpuSeconds / row.readLinesCpuSeconds);
      assert.ok(row.audit!.seconds > 0 && row.audit!.cpuSeconds > 0 && row.audit!.peakRssMb > 30 && row.audit!.workers >= 1);
      assert.ok(row.prepare.peakRssMb > 30);
      assert.equal(row.train!.steps, 2);
      const t = row.train!;
      assert.ok(t.firstStepSeconds > 0 && t.peakRssMb > 30);
      // The first step's time from process start, in parts that add up to it.
      const parts = [t.backendSeconds, t.dataOpenSeconds, t.modelSeconds, t.planSeconds, t.stepSeconds];
      for (const part of parts) assert.ok(part >= 0, `${part}`);
      assert.ok(Math.abs(parts.reduce((a, b) => a + b) - t.firstStepSeconds) < 1e-6);
      assert.equal(t.peakRssTimesFirst, t.peakRssMb / rows[0]!.train!.peakRssMb);
    }
  });
});
