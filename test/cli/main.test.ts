/**
 * main(): errors → exit codes, run in-process with commander's exitOverride.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CommanderError } from 'commander';
import { UserError } from '../../src/errors.ts';
import { main, reportError, type MainIO } from '../../src/cli/main.ts';

const dir = mkdtempSync(join(tmpdir(), 's2s-main-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function io(env: NodeJS.ProcessEnv = {}): MainIO & { text: () => string } {
  let text = '';
  return { stderr: (t) => void (text += t), env, crashFile: join(dir, 'crash.log'), text: () => text };
}

describe('reportError', () => {
  test('a UserError is one line and its own exit code', () => {
    const out = io();
    assert.equal(reportError(new UserError('file not found', { where: 'x.tsv' }), out), 1);
    assert.equal(out.text(), 's2s: error: file not found (x.tsv)\n');
  });

  test('a UserError with a hint adds one hint line', () => {
    const out = io();
    assert.equal(reportError(new UserError('bad', { where: '--beam', hint: 'try 5', exitCode: 2 }), out), 2);
    assert.equal(out.text(), 's2s: error: bad (--beam)\ns2s: hint: try 5\n');
  });

  test("commander's usage errors become one `s2s: error:` line, exit 2", () => {
    const out = io();
    const err = new CommanderError(1, 'commander.unknownOption', "error: unknown option '--bem'\n(Did you mean --beam?)");
    assert.equal(reportError(err, out), 2);
    assert.equal(out.text(), "s2s: error: unknown option '--bem' (Did you mean --beam?)\n");
  });

  test('help and version exit 0 silently', () => {
    const out = io();
    assert.equal(reportError(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'), out), 0);
    assert.equal(reportError(new CommanderError(0, 'commander.version', '0.1.0'), out), 0);
    assert.equal(out.text(), '');
  });

  test('any other error is internal: exit 70, the stack goes to a file, not the terminal', () => {
    const out = io();
    const err = new TypeError('x is undefined');
    assert.equal(reportError(err, out), 70);
    const crash = join(dir, 'crash.log');
    assert.equal(out.text(), `s2s: internal error: x is undefined\ns2s: the full trace was written to ${crash}\n`);
    assert.ok(readFileSync(crash, 'utf8').includes(err.stack!));
  });

  test('S2S_DEBUG=1 also prints the stack', () => {
    const out = io({ S2S_DEBUG: '1' });
    const err = new Error('boom');
    assert.equal(reportError(err, out), 70);
    assert.ok(out.text().includes(err.stack!));
  });
});

describe('main', () => {
  test('returns the exit code instead of exiting', async () => {
    const out = io();
    const code = await main(['node', 's2s', 'data', 'get', 'no-such-corpus'], out);
    assert.equal(code, 2);
    assert.equal(out.text(), "s2s: error: unknown corpus 'no-such-corpus' (data get)\ns2s: hint: known corpora: cmn-eng, toy\n");
  });

  test('a missing argument is a usage error', async () => {
    const out = io();
    assert.equal(await main(['node', 's2s', 'data', 'get'], out), 2);
    assert.equal(out.text(), "s2s: error: missing required argument 'corpus'\n");
  });
});
