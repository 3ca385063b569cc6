import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { UserError } from '../../src/errors.ts';
import {
  getCorpus,
  maxUnpackedBytes,
  readZipEntries,
  unpackCorpus,
} from '../../src/data/download.ts';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import { makeZip } from '../helpers/zip.ts';

/** Made-up sentence pairs in the cmn.txt layout: English, Chinese, attribution. */
const PAIRS = [
  'The kettle sings.\t水壶在唱歌。\tsynthetic #1',
  'Seven blue kites.\t七只蓝风筝。\tsynthetic #2',
  'My lamp is asleep.\t我的灯睡着了。\tsynthetic #3',
].join('\n') + '\n';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const ZIP = makeZip([
  { name: '_about.txt', data: Buffer.from('About this synthetic archive.\n'), method: 0 },
  { name: 'cmn.txt', data: Buffer.from(PAIRS), method: 8 },
]);

const dir = mkdtempSync(join(tmpdir(), 's2s-download-test-'));
let server: Server;
let base = '';
const requests: string[] = [];

before(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (req.url === '/cmn-eng.zip') {
      res.writeHead(200, { 'content-type': 'application/zip', 'content-length': ZIP.length });
      res.end(ZIP);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('no such file');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('getCorpus over HTTP', () => {
  test('downloads the zip, extracts cmn.txt, writes the tsv and SOURCE.json', async () => {
    const out = join(dir, 'ok');
    const progress: [number, number | null][] = [];
    const result = await getCorpus('cmn-eng', {
      url: `${base}/cmn-eng.zip`,
      outDir: out,
      sha256: sha256(ZIP),
      onProgress: (r, t) => progress.push([r, t]),
      now: () => new Date('2025-01-02T03:04:05Z'),
    });
    assert.equal(result.path, join(out, 'cmn-eng.tsv'));
    assert.equal(readFileSync(result.path, 'utf8'), PAIRS);
    const source = JSON.parse(readFileSync(join(out, 'SOURCE.json'), 'utf8'));
    assert.deepEqual(source, {
      corpus: 'cmn-eng',
      source: `${base}/cmn-eng.zip`,
      member: 'cmn.txt',
      bytes: ZIP.length,
      sha256: sha256(ZIP),
      lines: 3,
      fetchedAt: '2025-01-02T03:04:05.000Z',
    });
    assert.deepEqual(progress.at(-1), [ZIP.length, ZIP.length]);
    assert.deepEqual(readdirSync(out).sort(), ['SOURCE.json', 'cmn-eng.tsv'], 'no temporary files left');
  });

  test('a checksum mismatch is a UserError and writes nothing', async () => {
    const out = join(dir, 'mismatch');
    await assert.rejects(
      getCorpus('cmn-eng', { url: `${base}/cmn-eng.zip`, outDir: out, sha256: 'a'.repeat(64) }),
      (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.equal(err.message, `checksum mismatch: expected sha256 ${'a'.repeat(64)}, got ${sha256(ZIP)}`);
        assert.equal(err.where, `${base}/cmn-eng.zip`);
        return true;
      },
    );
    assert.equal(existsSync(out), false);
  });

  test('a 404 is a UserError naming the URL', async () => {
    await assert.rejects(getCorpus('cmn-eng', { url: `${base}/missing.zip`, outDir: join(dir, 'x') }), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.equal(err.message, 'download failed: HTTP 404 Not Found');
      assert.equal(err.where, `${base}/missing.zip`);
      assert.equal(err.code, 'DOWNLOAD');
      return true;
    });
  });

  test('a refused connection is a UserError, not a crash', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await assert.rejects(getCorpus('cmn-eng', { url: `http://127.0.0.1:${port}/a.zip`, outDir: join(dir, 'y') }), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /^cannot download: ECONNREFUSED/);
      return true;
    });
  });
});

describe('getCorpus --from a local file', () => {
  test('imports .zip, .gz and plain files alike', async () => {
    const files = { 'a.zip': ZIP, 'a.tsv.gz': gzipSync(Buffer.from(PAIRS)), 'a.tsv': Buffer.from(PAIRS) };
    for (const [name, bytes] of Object.entries(files)) {
      const from = join(dir, name);
      writeFileSync(from, bytes);
      const result = await getCorpus('cmn-eng', { from, outDir: join(dir, `from-${name}`) });
      assert.equal(readFileSync(result.path, 'utf8'), PAIRS, name);
      assert.equal(result.record.sha256, sha256(bytes));
      assert.equal(result.record.source, from);
    }
  });

  test('a missing file names it', async () => {
    await assert.rejects(getCorpus('cmn-eng', { from: join(dir, 'nope.zip') }), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.equal(err.message, 'file not found');
      assert.equal(err.where, join(dir, 'nope.zip'));
      return true;
    });
  });

  test('a file without tab-separated pairs is refused', async () => {
    const from = join(dir, 'prose.txt');
    writeFileSync(from, 'just a line of prose\nand another\n');
    await assert.rejects(getCorpus('cmn-eng', { from, outDir: join(dir, 'prose') }), /no tab-separated sentence pairs/);
  });

  test('the toy corpus has nothing to download', async () => {
    await assert.rejects(getCorpus('toy', {}), /ships with s2s/);
  });

  test('an unknown corpus is a usage error listing the known ones', async () => {
    await assert.rejects(getCorpus('fr-eng', {}), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.equal(err.exitCode, 2);
      assert.match(err.hint ?? '', /cmn-eng, toy/);
      return true;
    });
  });
});

describe('zip reading', () => {
  test('lists entries from the central directory', async () => {
    const entries = await readZipEntries(ZIP, 'x.zip');
    assert.deepEqual(entries.map((e) => [e.name, e.method]), [['_about.txt', 0], ['cmn.txt', 8]]);
  });

  test('picks the only .txt when the expected member is absent', async () => {
    const zip = makeZip([{ name: 'pairs/other.txt', data: Buffer.from(PAIRS), method: 0 }]);
    assert.deepEqual(await unpackCorpus(zip, 'cmn.txt', 'x.zip'), { data: Buffer.from(PAIRS), member: 'pairs/other.txt' });
  });

  test('a corrupted member fails its CRC check', async () => {
    const zip = makeZip([{ name: 'cmn.txt', data: Buffer.from(PAIRS), method: 0 }]);
    zip[30 + 'cmn.txt'.length] ^= 0xff; // first data byte
    await assert.rejects(unpackCorpus(zip, 'cmn.txt', 'x.zip'), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /CRC check/);
      assert.equal(err.where, 'x.zip:cmn.txt');
      return true;
    });
  });

  test('a truncated archive is a UserError', async () => {
    await assert.rejects(unpackCorpus(ZIP.subarray(0, ZIP.length - 30), 'cmn.txt', 'x.zip'), UserError);
  });
});

describe('decompression bombs are refused, in bounded memory', () => {
  // 24 MiB of zeros deflate to ~24 KB: far more than maxUnpackedBytes allows for such an archive.
  const zeros = Buffer.alloc(24 * 2 ** 20);
  const bombText = Buffer.concat([Buffer.from(PAIRS), zeros]);

  test('the limit is relative to the archive', () => {
    assert.equal(maxUnpackedBytes(1000), 16 * 2 ** 20 + 20_000);
  });

  test('a zip member declaring more than the limit is refused before inflating', async () => {
    const zip = makeZip([{ name: 'cmn.txt', data: bombText, method: 8 }]);
    assert.ok(zip.length < 100_000);
    await assert.rejects(unpackCorpus(zip, 'cmn.txt', 'bomb.zip'), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /the archive member unpacks to 24\.0 MiB, more than the 16\.\d MiB allowed/);
      assert.equal(err.where, 'bomb.zip:cmn.txt');
      return true;
    });
  });

  test('a zip member that lies about its size is stopped while streaming', async () => {
    const zip = makeZip([{ name: 'cmn.txt', data: bombText, method: 8 }]);
    // Declare 1000 bytes in both headers: the inflated stream is cut off, not trusted.
    const cd = zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    zip.writeUInt32LE(1000, 22);
    zip.writeUInt32LE(1000, cd + 24);
    await assert.rejects(unpackCorpus(zip, 'cmn.txt', 'liar.zip'), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.equal(err.where, 'liar.zip:cmn.txt');
      return true;
    });
  });

  test('a gzip bomb is refused', async () => {
    await assert.rejects(unpackCorpus(gzipSync(bombText), null, 'bomb.gz'), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /the gzip file unpacks to more than the 16\.\d MiB allowed/);
      assert.equal(err.where, 'bomb.gz');
      return true;
    });
  });

  test('--from a device or FIFO is refused without reading it', async () => {
    await assert.rejects(getCorpus('cmn-eng', { from: '/dev/zero', outDir: join(dir, 'zero') }), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /not a regular file/);
      assert.equal(err.where, '/dev/zero');
      return true;
    });
  });
});

test('writeFileAtomic leaves only the final file', () => {
  const path = join(dir, 'atomic', 'f.txt');
  writeFileAtomic(path, 'one');
  writeFileAtomic(path, 'two');
  assert.equal(readFileSync(path, 'utf8'), 'two');
  assert.deepEqual(readdirSync(join(dir, 'atomic')), ['f.txt']);
});
