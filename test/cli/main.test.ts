/**
 * main(): errors → exit codes, run in-process with commander's exitOverride.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CommanderError } from 'commander';
import { UserError } from '../../src/errors.ts';
import { main, privateCrashFile, reportError, type MainIO } from '../../src/cli/main.ts';

const dir = mkdtempSync(join(tmpdir(), 's2s-main-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let crashes = 0;
function io(env: NodeJS.ProcessEnv = {}): MainIO & { text: () => string } {
  let text = '';
  const crashFile = join(dir, `crash-${++crashes}.log`);
  return { stderr: (t) => void (text += t), env, crashFile: () => crashFile, text: () => text };
}

describe('reportError', () => {
  test('a UserError is one line and its own exit code', () => {
    const out = io();
    assert.equal(reportError(new UserError('file not found', { where: 'x.tsv' }), out), 1);
    assert.equal(out.text(), 's2s: error: file not found (x.tsv)\n');
  });

  test('the CLI adds the command hints to library errors by their code', () => {
    const missing = io();
    assert.equal(reportError(new UserError('file not found', { where: 'data/cmn-eng/cmn-eng.tsv', code: 'NOT_FOUND' }), missing), 1);
    assert.equal(missing.text(), 's2s: error: file not found (data/cmn-eng/cmn-eng.tsv)\ns2s: hint: run `s2s data get cmn-eng` to download the default corpus\n');
    const failed = io();
    assert.equal(reportError(new UserError('download failed: HTTP 404', { where: 'http://127.0.0.1/x.zip', code: 'DOWNLOAD' }), failed), 1);
    assert.match(failed.text(), /\ns2s: hint: download the file yourself and import it with: s2s data get <corpus> --from FILE\n$/);
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
    const crash = out.crashFile();
    assert.equal(out.text(), `s2s: internal error: x is undefined\ns2s: the full trace was written to ${crash}\n`);
    assert.ok(readFileSync(crash, 'utf8').includes(err.stack!));
  });

  test('a filesystem error naming a path is a user error naming it, not an internal one', () => {
    const out = io();
    const err = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: 'ENOSPC', syscall: 'write', path: '/x/out.txt' });
    assert.equal(reportError(err, out), 1);
    assert.equal(out.text(), 's2s: error: cannot access the file: no space left on the device (ENOSPC) (/x/out.txt)\n');
  });

  test('the crash log is a new file in a private directory; a planted file or link there is never written through', () => {
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'keep');
    const planted = join(dir, 'planted.log');
    symlinkSync(victim, planted);
    const out = { ...io(), crashFile: () => planted };
    assert.equal(reportError(new Error('boom'), out), 70);
    assert.equal(readFileSync(victim, 'utf8'), 'keep');
    assert.match(out.text(), /^\s+at /m, 'the stack goes to stderr when the crash file cannot be created');
    // The default: a new directory under the temporary directory, mode 0700, a different one each time.
    const a = privateCrashFile();
    const b = privateCrashFile();
    assert.notEqual(dirname(a), dirname(b));
    assert.equal(statSync(dirname(a)).mode & 0o777, 0o700);
    rmSync(dirname(a), { recursive: true });
    rmSync(dirname(b), { recursive: true });
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
