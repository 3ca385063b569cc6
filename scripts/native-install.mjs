#!/usr/bin/env node
/**
 * npm run native:install — make @tensorflow/tfjs-node work without Google's download host.
 *
 * 1. make sure @tensorflow/tfjs-node@4.22.0 is in node_modules (npm install --no-save --ignore-scripts);
 * 2. obtain libtensorflow: the `tensorflow-cpu` wheel from PyPI (pip download --no-deps), or,
 *    if that fails, TensorFlow Java's native jar from Maven Central;
 * 3. check with `nm -D` that it exports every TF_* / TFE_* function the binding calls;
 * 4. pack it as the tarball tfjs-node's installer downloads
 *    (libtensorflow-cpu-linux-x86_64-2.9.1.tar.gz: include/ + lib/), cached under .cache/native/;
 * 5. serve it on 127.0.0.1 and run tfjs-node's own installer (scripts/install.js) with
 *    TFJS_NODE_BASE_URI pointing there; the binding is built from source by node-gyp
 *    against the Node headers on this machine (npm_config_nodedir);
 * 6. verify in a fresh node process: backend 'tensorflow', a matMul, versions.
 *
 * Idempotent: a second run only re-verifies. Exit 0 on success; on failure exit 1 and one
 * line `native:install: FAILED at step "<step>": <reason>` (plus a hint).
 * Plain Node ESM, no dependencies, so it runs before anything else is set up.
 * See docs/native-install.md for the options and environment variables.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TFJS_NODE = { name: '@tensorflow/tfjs-node', version: '4.22.0' };
/** The libtensorflow version tfjs-node 4.22.0's installer asks for (scripts/deps-constants.js). */
const INSTALLER_LIBTF_VERSION = '2.9.1';
const TARBALL_NAME = `libtensorflow-cpu-linux-x86_64-${INSTALLER_LIBTF_VERSION}.tar.gz`;
/**
 * The tensorflow-cpu wheel used by default: 2.21.0 (manylinux_2_27, glibc ≥ 2.27). Against 2.12.1,
 * five alternating pairs: training 3–17% less ms/step, greedy b64 11–39% more sentences/s, beam
 * unchanged (docs/performance.md).
 */
const DEFAULT_PYPI_TF_VERSION = '2.21.0';
/** First TF release whose pip wheel ships libtensorflow_cc.so.2 (2.9–2.11 only have _pywrap_tensorflow_internal.so); manylinux2014, glibc ≥ 2.17. */
const OLDEST_PYPI_TF_VERSION = '2.12.1';
const DEFAULT_MAVEN_VERSION = '1.0.0'; // org.tensorflow:tensorflow-core-native 1.0.0 = TensorFlow 2.16.1
const DEFAULT_MAVEN_REPO = 'https://repo1.maven.org/maven2';
/** Headers the binding includes (binding/*.cc of tfjs-node 4.22.0). */
const BINDING_INCLUDES = [
  'tensorflow/c/c_api.h',
  'tensorflow/c/eager/c_api.h',
  'tensorflow/c/tf_datatype.h',
  'tensorflow/c/tf_status.h',
  'tensorflow/c/tf_tensor.h',
  'tensorflow/core/platform/ctstring_internal.h',
];
/**
 * Every TF_* / TFE_* function tfjs-node 4.22.0's binding calls (grep of binding/*.cc, minus its own
 * TF_Auto* helpers and the inline TF_TString_* header functions).
 */
const BINDING_SYMBOLS = [
  'TFE_ContextListDevices', 'TFE_DeleteContext', 'TFE_DeleteContextOptions', 'TFE_DeleteOp',
  'TFE_DeleteTensorHandle', 'TFE_Execute', 'TFE_NewContext', 'TFE_NewContextOptions', 'TFE_NewOp',
  'TFE_NewTensorHandle', 'TFE_OpAddInput', 'TFE_OpSetAttrBool', 'TFE_OpSetAttrBoolList',
  'TFE_OpSetAttrFloat', 'TFE_OpSetAttrFloatList', 'TFE_OpSetAttrInt', 'TFE_OpSetAttrIntList',
  'TFE_OpSetAttrShape', 'TFE_OpSetAttrString', 'TFE_OpSetAttrType', 'TFE_TensorHandleCopyToDevice',
  'TFE_TensorHandleDataType', 'TFE_TensorHandleDim', 'TFE_TensorHandleNumDims',
  'TFE_TensorHandleResolve', 'TF_AllocateTensor', 'TF_DataTypeSize', 'TF_DeleteBuffer',
  'TF_DeleteDeviceList', 'TF_DeleteGraph', 'TF_DeleteSession', 'TF_DeleteSessionOptions',
  'TF_DeleteStatus', 'TF_DeleteTensor', 'TF_DeviceListCount', 'TF_DeviceListName',
  'TF_DeviceListType', 'TF_Dim', 'TF_GetCode', 'TF_GraphOperationByName',
  'TF_LoadSessionFromSavedModel', 'TF_Message', 'TF_NewBuffer', 'TF_NewBufferFromString',
  'TF_NewGraph', 'TF_NewSessionOptions', 'TF_NewStatus', 'TF_NewTensor', 'TF_NumDims',
  'TF_SessionRun', 'TF_TensorByteSize', 'TF_TensorData', 'TF_TensorElementCount', 'TF_TensorType',
  'TF_Version',
];
const LIB_CC = 'libtensorflow_cc.so.2';
const LIB_FRAMEWORK = 'libtensorflow_framework.so.2';

// ---------------------------------------------------------------------------------------------
// Options and output

class StepError extends Error {
  constructor(step, reason, hint) {
    super(reason);
    this.step = step;
    this.hint = hint;
  }
}

const USAGE = `usage: node scripts/native-install.mjs [--force] [--check] [--bench] [--source=auto|pypi|maven]
  [--tf-version=X.Y.Z] [--tarball=FILE] [--cache-dir=DIR] [--keep-downloads]`;

/** Reads flags first, then S2S_NATIVE_* environment variables, then defaults. */
function parseOptions(argv, env) {
  const flags = new Map();
  for (const arg of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new StepError('options', `unknown argument "${arg}"`, USAGE);
    flags.set(m[1], m[2] ?? 'true');
  }
  const known = ['force', 'check', 'bench', 'source', 'tf-version', 'tarball', 'cache-dir', 'keep-downloads', 'help'];
  for (const key of flags.keys()) {
    if (!known.includes(key)) throw new StepError('options', `unknown option --${key}`, USAGE);
  }
  const pick = (flag, envName, fallback) => flags.get(flag) ?? (env[envName] || fallback);
  const source = pick('source', 'S2S_NATIVE_SOURCE', 'auto');
  if (!['auto', 'pypi', 'maven'].includes(source)) {
    throw new StepError('options', `--source must be auto, pypi or maven (got "${source}")`, USAGE);
  }
  const cacheDir = path.resolve(REPO_ROOT, pick('cache-dir', 'S2S_NATIVE_CACHE_DIR', '.cache/native'));
  const tarball = pick('tarball', 'S2S_NATIVE_TARBALL', '');
  return {
    help: flags.has('help'),
    force: flags.has('force') || env.S2S_NATIVE_FORCE === '1',
    checkOnly: flags.has('check'),
    bench: flags.has('bench'),
    keepDownloads: flags.has('keep-downloads') || env.S2S_NATIVE_KEEP_DOWNLOADS === '1',
    source,
    pypiVersion: pick('tf-version', 'S2S_NATIVE_TF_VERSION', DEFAULT_PYPI_TF_VERSION),
    mavenVersion: env.S2S_NATIVE_MAVEN_VERSION || DEFAULT_MAVEN_VERSION,
    mavenRepo: (env.S2S_NATIVE_MAVEN_REPO || DEFAULT_MAVEN_REPO).replace(/\/+$/, ''),
    headersDir: env.S2S_NATIVE_HEADERS ? path.resolve(env.S2S_NATIVE_HEADERS) : '',
    userTarball: tarball ? path.resolve(tarball) : '',
    userBaseUri: env.TFJS_NODE_BASE_URI || env.npm_config_tfjs_node_base_uri || '',
    cacheDir,
  };
}

const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
const say = (msg) => console.log(`native:install [${elapsed()}] ${msg}`);
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

// ---------------------------------------------------------------------------------------------
// Small process helpers

/** Runs a command to completion (asynchronously, so the local HTTP server keeps serving). */
function run(cmd, args, { cwd = REPO_ROOT, env = process.env, echo = false, logFile } = {}) {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      resolve({ code: -1, output: String(err) });
      return;
    }
    const chunks = [];
    const log = logFile ? fs.createWriteStream(logFile) : null;
    const onData = (buf) => {
      chunks.push(buf);
      log?.write(buf);
      if (echo) {
        for (const line of buf.toString().split('\n')) {
          if (line.trim() && !/^npm warn Unknown (env|user|cli) config/.test(line)) console.log(`  | ${line}`);
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => chunks.push(Buffer.from(String(err))));
    child.on('close', (code) => {
      log?.end();
      resolve({ code: code ?? -1, output: Buffer.concat(chunks).toString() });
    });
  });
}

function hasCommand(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

const lastLines = (text, n = 15) => text.trim().split('\n').slice(-n).join('\n');

function sha256File(file) {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(1 << 22);
  let n;
  while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) hash.update(buf.subarray(0, n));
  fs.closeSync(fd);
  return hash.digest('hex');
}

const readJson = (file) => {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
};

// ---------------------------------------------------------------------------------------------
// Step 0: can this machine do it at all?

/** Where node-gyp finds Node's headers without downloading them, or '' if nowhere. */
function localNodeDir() {
  const candidates = [process.env.npm_config_nodedir, path.resolve(process.execPath, '..', '..'), '/usr'];
  for (const dir of candidates) {
    if (dir && fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h'))
      && fs.existsSync(path.join(dir, 'include', 'node', 'common.gypi'))) return dir;
  }
  return '';
}

function checkMachine() {
  const step = 'check machine';
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new StepError(step, `only linux x64 is supported here (this is ${process.platform} ${process.arch})`,
      'on other platforms use tfjs-node\'s own installer with a mirror of the official libtensorflow tarballs');
  }
  const missing = ['make', 'nm', 'tar', 'gzip'].filter((c) => !hasCommand(c));
  if (!hasCommand('g++') && !hasCommand('c++')) missing.push('g++');
  if (!hasCommand('python3')) missing.push('python3');
  if (missing.length) {
    throw new StepError(step, `missing tools: ${missing.join(', ')} (node-gyp needs python3, make and a C++ compiler; nm checks symbols)`,
      'apt-get install -y build-essential python3 binutils');
  }
  const nodedir = localNodeDir();
  if (!nodedir) {
    throw new StepError(step, 'no Node.js headers on this machine (looked for <dir>/include/node/node_api.h and common.gypi), and node-gyp cannot download them here',
      'install the headers (Debian: apt-get install -y libnode-dev / nodejs-dev matching your node), or set npm_config_nodedir=<dir with include/node>');
  }
  say(`machine: linux x64, node ${process.version}, Node headers in ${nodedir}/include/node`);
  return nodedir;
}

// ---------------------------------------------------------------------------------------------
// Step 1: tfjs-node in node_modules

const tfjsNodeDir = () => path.join(REPO_ROOT, 'node_modules', '@tensorflow', 'tfjs-node');

async function ensureTfjsNodePackage() {
  const step = 'install @tensorflow/tfjs-node package';
  const installed = readJson(path.join(tfjsNodeDir(), 'package.json'));
  if (installed?.version === TFJS_NODE.version) {
    say(`${TFJS_NODE.name}@${installed.version} is in node_modules`);
    return;
  }
  const spec = `${TFJS_NODE.name}@${TFJS_NODE.version}`;
  say(`${installed ? `found ${TFJS_NODE.name}@${installed.version}` : `${TFJS_NODE.name} is not in node_modules`}: npm install --no-save --ignore-scripts ${spec}`);
  const res = await run('npm', ['install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', spec]);
  const after = readJson(path.join(tfjsNodeDir(), 'package.json'));
  if (res.code !== 0 || after?.version !== TFJS_NODE.version) {
    throw new StepError(step, `npm install ${spec} failed (exit ${res.code}):\n${lastLines(res.output)}`,
      'check that the npm registry is reachable');
  }
}

// ---------------------------------------------------------------------------------------------
// Step 2: obtain libtensorflow (libraries + C headers) into a staging directory

/** Extracts the members of a zip (wheel or jar) whose names pass `filterSource` (a Python expression on `n`). */
async function unzipMembers(archive, destDir, filterSource) {
  const script = [
    'import sys, zipfile',
    'z = zipfile.ZipFile(sys.argv[1])',
    `names = [n for n in z.namelist() if not n.endswith('/') and (${filterSource})]`,
    'z.extractall(sys.argv[2], names)',
    'print(len(names))',
  ].join('\n');
  const res = await run('python3', ['-c', script, archive, destDir]);
  if (res.code !== 0) throw new Error(`unzip of ${path.basename(archive)} failed:\n${lastLines(res.output)}`);
  return Number(res.output.trim());
}

const WHEEL_PLATFORMS = ['manylinux2014_x86_64', 'manylinux_2_27_x86_64', 'manylinux_2_28_x86_64'];

function pipDownloadArgs(version, destDir) {
  return ['-m', 'pip', 'download', '--no-deps', '--no-cache-dir', '--only-binary=:all:',
    '--python-version', '3.11', '--implementation', 'cp', '--abi', 'cp311',
    // 2.12.1 is a manylinux2014 wheel (glibc 2.17), 2.21.0 a manylinux_2_27 one; ldd checks the machine after.
    ...WHEEL_PLATFORMS.flatMap((p) => ['--platform', p]), '-d', destDir, `tensorflow-cpu==${version}`];
}

/** PyPI route: tensorflow-cpu wheel → libtensorflow_cc.so.2, libtensorflow_framework.so.2, headers. */
async function fetchFromPypi(opts, downloadsDir, rawDir) {
  const step = 'download tensorflow-cpu wheel from PyPI';
  const existing = fs.readdirSync(downloadsDir).find((f) => f.startsWith(`tensorflow_cpu-${opts.pypiVersion}-`) && f.endsWith('.whl'));
  let wheel = existing ? path.join(downloadsDir, existing) : '';
  if (wheel) {
    say(`using cached wheel ${path.relative(REPO_ROOT, wheel)}`);
  } else {
    say(`pip download --no-deps tensorflow-cpu==${opts.pypiVersion} (manylinux x86_64, cp311)`);
    const res = await run('python3', pipDownloadArgs(opts.pypiVersion, downloadsDir));
    const name = fs.readdirSync(downloadsDir).find((f) => f.startsWith(`tensorflow_cpu-${opts.pypiVersion}-`) && f.endsWith('.whl'));
    if (res.code !== 0 || !name) {
      const error = res.output.split('\n').filter((l) => l.startsWith('ERROR:')).at(-1) ?? '';
      throw new StepError(step, `pip download tensorflow-cpu==${opts.pypiVersion} failed (exit ${res.code}) ${error}\n${lastLines(res.output)}`,
        'set PIP_INDEX_URL to a PyPI mirror, or use --source=maven');
    }
    wheel = path.join(downloadsDir, name);
    say(`downloaded ${name} (${mib(fs.statSync(wheel).size)})`);
  }
  const count = await unzipMembers(wheel, rawDir,
    `n in ('tensorflow/${LIB_CC}', 'tensorflow/${LIB_FRAMEWORK}') or n.startswith('tensorflow/include/') or (n.startswith('tensorflow_cpu-') and n.endswith('/LICENSE'))`)
    .catch((err) => { throw new StepError('extract wheel', err.message); });
  const libDir = path.join(rawDir, 'tensorflow');
  if (!fs.existsSync(path.join(libDir, LIB_CC))) {
    throw new StepError('extract wheel', `the tensorflow-cpu ${opts.pypiVersion} wheel has no tensorflow/${LIB_CC} (wheels before 2.12 only ship _pywrap_tensorflow_internal.so)`,
      `use --tf-version=${OLDEST_PYPI_TF_VERSION} or newer`);
  }
  const license = fs.readdirSync(rawDir).filter((d) => d.endsWith('.dist-info')).map((d) => path.join(rawDir, d, 'LICENSE')).find(fs.existsSync);
  say(`extracted ${count} files from the wheel`);
  return {
    source: 'pypi', package: `tensorflow-cpu==${opts.pypiVersion}`, artifact: path.basename(wheel), tfVersion: opts.pypiVersion,
    libDir, includeDir: path.join(libDir, 'include'), license, downloaded: wheel,
  };
}

async function downloadFile(url, dest) {
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new Error(`GET ${url} → HTTP ${res.status}`);
  const tmp = `${dest}.part`;
  await pipeline(res.body, fs.createWriteStream(tmp));
  fs.renameSync(tmp, dest);
}

/** Headers for the Maven route, which ships none: S2S_NATIVE_HEADERS or headers cached by an earlier PyPI run. */
function findHeadersForMaven(opts) {
  if (opts.headersDir) return opts.headersDir;
  const cached = path.join(opts.cacheDir, 'headers');
  if (!fs.existsSync(cached)) return '';
  const versions = fs.readdirSync(cached).filter((v) => fs.existsSync(path.join(cached, v, 'tensorflow', 'c', 'c_api.h')));
  versions.sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
  return versions.length ? path.join(cached, versions[0]) : '';
}

/** Maven route: org.tensorflow:tensorflow-core-native:<v>:linux-x86_64 → the two libraries (no headers). */
async function fetchFromMaven(opts, downloadsDir, rawDir) {
  const step = 'download tensorflow-core-native jar from Maven Central';
  const headers = findHeadersForMaven(opts);
  if (!headers) {
    throw new StepError(step, 'the Maven jar ships no C headers, and none are cached (.cache/native/headers/) or given (S2S_NATIVE_HEADERS)',
      'run once with PyPI reachable (the headers are kept in the cache), or set S2S_NATIVE_HEADERS=<dir containing tensorflow/c/c_api.h>');
  }
  const v = opts.mavenVersion;
  const file = `tensorflow-core-native-${v}-linux-x86_64.jar`;
  const url = `${opts.mavenRepo}/org/tensorflow/tensorflow-core-native/${v}/${file}`;
  const jar = path.join(downloadsDir, file);
  try {
    if (fs.existsSync(jar)) {
      say(`using cached ${path.relative(REPO_ROOT, jar)}`);
    } else {
      say(`GET ${url}`);
      await downloadFile(url, jar);
      const sha1 = (await (await fetch(`${url}.sha1`)).text()).trim().split(/\s+/)[0];
      const actual = createHash('sha1').update(fs.readFileSync(jar)).digest('hex');
      if (sha1 && actual !== sha1) {
        fs.rmSync(jar);
        throw new Error(`checksum mismatch for ${file}: expected sha1 ${sha1}, got ${actual}`);
      }
      say(`downloaded ${file} (${mib(fs.statSync(jar).size)}, sha1 ok)`);
    }
  } catch (err) {
    throw new StepError(step, err.message, `set S2S_NATIVE_MAVEN_REPO to a Maven mirror`);
  }
  const inner = 'org/tensorflow/internal/c_api/linux-x86_64';
  await unzipMembers(jar, rawDir, `n in ('${inner}/${LIB_CC}', '${inner}/${LIB_FRAMEWORK}', '${inner}/LICENSE')`)
    .catch((err) => { throw new StepError('extract jar', err.message); });
  const libDir = path.join(rawDir, inner);
  say(`using C headers from ${headers} (the jar has none; the C API is stable across 2.x)`);
  return {
    source: 'maven', package: `org.tensorflow:tensorflow-core-native:${v}:linux-x86_64`, artifact: file, tfVersion: '',
    libDir, includeDir: headers, license: path.join(libDir, 'LICENSE'), downloaded: jar,
  };
}

// ---------------------------------------------------------------------------------------------
// Step 3: check the libraries

/** Defined, exported function names of a shared library (without @@version suffixes). */
function exportedFunctions(lib) {
  const res = spawnSync('nm', ['-D', '--defined-only', lib], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (res.status !== 0) throw new StepError('check symbols', `nm -D ${lib} failed: ${res.stderr}`);
  const names = new Set();
  for (const line of res.stdout.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length === 3 && /^[TtWi]$/.test(parts[1])) names.add(parts[2].replace(/@.*$/, ''));
  }
  return names;
}

function checkSymbols(libDir) {
  const cc = exportedFunctions(path.join(libDir, LIB_CC));
  const fw = exportedFunctions(path.join(libDir, LIB_FRAMEWORK));
  const count = (set, prefix) => [...set].filter((n) => n.startsWith(prefix)).length;
  const missing = BINDING_SYMBOLS.filter((s) => !cc.has(s) && !fw.has(s));
  if (missing.length) {
    throw new StepError('check symbols', `nm -D: ${missing.length} of the ${BINDING_SYMBOLS.length} TF_/TFE_ functions the binding calls are not exported: ${missing.join(', ')}`,
      'pick another TensorFlow version (--tf-version) or source (--source)');
  }
  say(`nm -D: ${LIB_CC} exports ${count(cc, 'TF_')} TF_* and ${count(cc, 'TFE_')} TFE_* functions; all ${BINDING_SYMBOLS.length} the binding calls are present`);
  const ldd = spawnSync('ldd', [path.join(libDir, LIB_CC)], { encoding: 'utf8', env: { ...process.env, LD_LIBRARY_PATH: libDir } });
  const notFound = (ldd.stdout || '').split('\n').filter((l) => /not found/.test(l));
  if (ldd.status === 0 && notFound.length) {
    throw new StepError('check libraries', `ldd ${LIB_CC}: ${notFound.map((l) => l.trim()).join('; ')}`,
      `this TensorFlow build needs a newer glibc/libstdc++ than the machine has: use an older --tf-version (${OLDEST_PYPI_TF_VERSION} needs glibc 2.17)`);
  }
  return { tfFunctions: count(cc, 'TF_'), tfeFunctions: count(cc, 'TFE_') };
}

// ---------------------------------------------------------------------------------------------
// Step 4: assemble the tarball tfjs-node's installer expects

/** Copies the transitive closure of the binding's includes (found with `c++ -M`) into stage/include. */
async function copyHeaderClosure(includeDir, stageInclude) {
  const probeDir = fs.mkdtempSync(path.join(os.tmpdir(), 's2s-tf-headers-'));
  const probe = path.join(probeDir, 'probe.cc');
  fs.writeFileSync(probe, BINDING_INCLUDES.map((h) => `#include "${h}"`).join('\n') + '\n');
  const cxx = hasCommand('g++') ? 'g++' : 'c++';
  const res = await run(cxx, ['-std=c++17', '-M', '-I', includeDir, probe]);
  fs.rmSync(probeDir, { recursive: true, force: true });
  if (res.code !== 0) throw new StepError('assemble tarball', `the C headers in ${includeDir} do not compile:\n${lastLines(res.output)}`);
  const root = path.resolve(includeDir) + path.sep;
  const files = res.output.replace(/\\\n/g, ' ').split(/\s+/).map((f) => path.resolve(f)).filter((f) => f.startsWith(root));
  for (const file of new Set(files)) {
    const dest = path.join(stageInclude, file.slice(root.length));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(file, dest);
  }
  return new Set(files).size;
}

/**
 * Layout (what install.js unpacks into node_modules/@tensorflow/tfjs-node/deps):
 *   include/tensorflow/c/...            C + eager C API headers
 *   lib/libtensorflow_cc.so.2           the real library (its SONAME, so the binding records it)
 *   lib/libtensorflow.so{,.2,.2.9.1}    symlinks: -ltensorflow at link time; .2.9.1 is what install.js looks for
 *   lib/libtensorflow_framework.so.2    + .so and .so.2.9.1 symlinks
 */
async function assembleTarball(fetched, stageDir, tarballPath) {
  const step = 'assemble tarball';
  fs.rmSync(stageDir, { recursive: true, force: true });
  const lib = path.join(stageDir, 'lib');
  fs.mkdirSync(lib, { recursive: true });
  const headerCount = await copyHeaderClosure(fetched.includeDir, path.join(stageDir, 'include'));
  for (const name of [LIB_CC, LIB_FRAMEWORK]) fs.renameSync(path.join(fetched.libDir, name), path.join(lib, name));
  const links = {
    'libtensorflow.so.2': LIB_CC,
    [`libtensorflow.so.${INSTALLER_LIBTF_VERSION}`]: LIB_CC,
    'libtensorflow.so': LIB_CC,
    [`libtensorflow_framework.so.${INSTALLER_LIBTF_VERSION}`]: LIB_FRAMEWORK,
    'libtensorflow_framework.so': LIB_FRAMEWORK,
  };
  for (const [link, target] of Object.entries(links)) fs.symlinkSync(target, path.join(lib, link));
  if (fetched.license && fs.existsSync(fetched.license)) fs.copyFileSync(fetched.license, path.join(stageDir, 'LICENSE'));
  const entries = ['include', 'lib', ...(fs.existsSync(path.join(stageDir, 'LICENSE')) ? ['LICENSE'] : [])];
  const tmp = `${tarballPath}.part`;
  const res = await run('tar', ['--create', '--use-compress-program=gzip -1', '--owner=0', '--group=0', '-f', tmp, '-C', stageDir, ...entries]);
  if (res.code !== 0) throw new StepError(step, `tar failed:\n${lastLines(res.output)}`);
  fs.renameSync(tmp, tarballPath);
  say(`packed ${path.relative(REPO_ROOT, tarballPath)} (${mib(fs.statSync(tarballPath).size)}; ${headerCount} headers, ${LIB_CC} as libtensorflow.so.2)`);
}

/** Keeps the header closure so a later Maven-route run (whose jar has no headers) can use it. */
function cacheHeaders(stageDir, headersCache) {
  fs.rmSync(headersCache, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(headersCache), { recursive: true });
  fs.cpSync(path.join(stageDir, 'include'), headersCache, { recursive: true });
}

/** Returns { tarball, manifest } from the cache, or builds them (download → check → pack). */
async function obtainTarball(opts) {
  if (opts.userTarball) {
    if (!fs.existsSync(opts.userTarball)) throw new StepError('obtain libtensorflow', `--tarball ${opts.userTarball} does not exist`);
    say(`using the given tarball ${opts.userTarball}`);
    return { tarball: opts.userTarball, manifest: { source: 'file', package: opts.userTarball, sha256: sha256File(opts.userTarball) } };
  }
  const routes = opts.source === 'auto' ? ['pypi', 'maven'] : [opts.source];
  const failures = [];
  for (const route of routes) {
    const key = route === 'pypi' ? `pypi-tensorflow-cpu-${opts.pypiVersion}` : `maven-tensorflow-core-native-${opts.mavenVersion}`;
    const dir = path.join(opts.cacheDir, key);
    const tarball = path.join(dir, TARBALL_NAME);
    const manifestPath = path.join(dir, 'manifest.json');
    const manifest = readJson(manifestPath);
    if (manifest && fs.existsSync(tarball) && fs.statSync(tarball).size === manifest.bytes) {
      say(`cached: ${path.relative(REPO_ROOT, tarball)} (${manifest.package}, TensorFlow ${manifest.tfVersion || '?'})`);
      return { tarball, manifest };
    }
    try {
      return { tarball, manifest: await buildTarball(opts, route, dir, tarball, manifestPath) };
    } catch (err) {
      if (!(err instanceof StepError)) throw err;
      failures.push(err);
      if (routes.length > 1 && route !== routes.at(-1)) say(`${route} route failed at "${err.step}": ${err.message.split('\n')[0]} — trying the next source`);
    }
  }
  if (failures.length === 1) throw failures[0];
  throw new StepError('obtain libtensorflow', failures.map((f) => `[${f.step}] ${f.message}`).join('\n'), failures.at(-1).hint);
}

async function buildTarball(opts, route, dir, tarball, manifestPath) {
  fs.mkdirSync(dir, { recursive: true });
  const downloadsDir = path.join(opts.cacheDir, 'downloads');
  fs.mkdirSync(downloadsDir, { recursive: true });
  const rawDir = path.join(dir, 'raw');
  const stageDir = path.join(dir, 'stage');
  fs.rmSync(rawDir, { recursive: true, force: true });
  try {
    const fetched = route === 'pypi' ? await fetchFromPypi(opts, downloadsDir, rawDir) : await fetchFromMaven(opts, downloadsDir, rawDir);
    const symbols = checkSymbols(fetched.libDir);
    await assembleTarball(fetched, stageDir, tarball);
    if (route === 'pypi') cacheHeaders(stageDir, path.join(opts.cacheDir, 'headers', fetched.tfVersion));
    const tfVersion = fetched.tfVersion || (await probeTfVersion(path.join(stageDir, 'lib')));
    const manifest = {
      source: fetched.source, package: fetched.package, artifact: fetched.artifact, tfVersion,
      installerName: TARBALL_NAME, bytes: fs.statSync(tarball).size, sha256: sha256File(tarball), symbols,
      createdAt: new Date().toISOString(),
    };
    fs.writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
    if (!opts.keepDownloads) fs.rmSync(fetched.downloaded, { force: true });
    return manifest;
  } finally {
    fs.rmSync(rawDir, { recursive: true, force: true });
    fs.rmSync(stageDir, { recursive: true, force: true });
  }
}

/** TF_Version() of a libtensorflow, through a few-line C program (only for jars, whose name says no TF version). */
async function probeTfVersion(libDir) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's2s-tf-version-'));
  try {
    fs.writeFileSync(path.join(dir, 'v.c'), 'const char* TF_Version(void);\n#include <stdio.h>\nint main(void){puts(TF_Version());return 0;}\n');
    const cc = await run(hasCommand('gcc') ? 'gcc' : 'cc', ['-o', path.join(dir, 'v'), path.join(dir, 'v.c'), `-L${libDir}`, '-l:' + LIB_CC, '-l:' + LIB_FRAMEWORK, `-Wl,-rpath,${libDir}`]);
    if (cc.code !== 0) return '';
    const res = await run(path.join(dir, 'v'), []);
    return res.code === 0 ? res.output.trim().split('\n').at(-1) : '';
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Step 5: serve the tarball on 127.0.0.1 and run tfjs-node's installer

/** A one-file HTTP server on 127.0.0.1 (random port): GET /<TARBALL_NAME> → the tarball, anything else 404. */
async function serveTarball(tarball) {
  const requests = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.method === 'GET' && req.url === `/${TARBALL_NAME}`) {
      res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': fs.statSync(tarball).size });
      fs.createReadStream(tarball).pipe(res);
    } else {
      res.writeHead(404).end('not found\n');
    }
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return { baseUrl: `http://127.0.0.1:${port}/`, requests, close: () => new Promise((r) => server.close(r)) };
}

/** Environment for install.js: mirror settings (and no proxy for 127.0.0.1), build from source, local Node headers. */
function installerEnv(baseUrl, nodedir) {
  const env = { ...process.env };
  if (baseUrl) {
    for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) delete env[k]; // install.js would proxy 127.0.0.1 too
    env.TFJS_NODE_CDN_STORAGE = baseUrl;
    env.TFJS_NODE_BASE_URI = `${baseUrl}libtensorflow-`;
  }
  env.npm_config_build_from_source = 'true'; // node-pre-gyp: skip the prebuilt-addon download from Google's host
  env.npm_config_nodedir = nodedir; // node-gyp: use local headers, no download
  return env;
}

function findBinding() {
  const libDir = path.join(tfjsNodeDir(), 'lib');
  if (!fs.existsSync(libDir)) return '';
  for (const d of fs.readdirSync(libDir).sort().reverse()) {
    const f = path.join(libDir, d, 'tfjs_binding.node');
    if (d.startsWith('napi-v') && fs.existsSync(f)) return f;
  }
  return '';
}

async function runTfjsNodeInstaller(tarball, nodedir, opts, logFile) {
  const step = 'run tfjs-node installer';
  const server = opts.userBaseUri ? null : await serveTarball(tarball);
  if (server) say(`serving ${TARBALL_NAME} at ${server.baseUrl} (TFJS_NODE_BASE_URI=${server.baseUrl}libtensorflow-)`);
  else say(`TFJS_NODE_BASE_URI is set (${opts.userBaseUri}): the installer downloads from your mirror`);
  // `npm run install` inside the package runs its own install script (node scripts/install.js) with
  // npm's PATH and node-gyp; "cpu download" makes it fetch afresh instead of reusing an old deps/.
  say(`npm --prefix node_modules/@tensorflow/tfjs-node run install -- cpu download   (npm_config_nodedir=${nodedir}, build from source)`);
  const env = installerEnv(server?.baseUrl ?? '', nodedir);
  const res = await run('npm', ['--prefix', tfjsNodeDir(), 'run', 'install', '--', 'cpu', 'download'],
    { env, echo: true, logFile });
  await server?.close();
  if (server && !server.requests.some((r) => r.includes(TARBALL_NAME))) {
    throw new StepError(step, `the installer never asked the local server for ${TARBALL_NAME} (requests: ${server.requests.join(', ') || 'none'})`);
  }
  if (res.code !== 0) {
    throw new StepError(step, `tfjs-node's installer failed (exit ${res.code}); log: ${path.relative(REPO_ROOT, logFile)}\n${lastLines(res.output, 25)}`,
      'node-gyp needs python3, make, g++ and Node headers (npm_config_nodedir)');
  }
  const binding = findBinding();
  if (!binding) throw new StepError(step, `the installer exited 0 but built no tfjs_binding.node; log: ${path.relative(REPO_ROOT, logFile)}`);
  say(`built ${path.relative(REPO_ROOT, binding)}`);
  return binding;
}

// ---------------------------------------------------------------------------------------------
// Step 6: verify (in a fresh process, as the project would use it)

const VERIFY_SOURCE = String.raw`
import { createRequire } from 'node:module';
const require = createRequire(process.cwd() + '/');
const started = Date.now();
const tf = require('@tensorflow/tfjs-node');
const loadMs = Date.now() - started;
const coreFromProject = require.resolve('@tensorflow/tfjs-core');
const coreFromTfjsNode = createRequire(require.resolve('@tensorflow/tfjs-node')).resolve('@tensorflow/tfjs-core');
const out = { loadMs, backend: tf.getBackend(), sameCore: coreFromProject === coreFromTfjsNode, coreFromProject, coreFromTfjsNode };
const a = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
const b = tf.tensor2d([[7, 8], [9, 10], [11, 12]]);
out.matMul = a.matMul(b).arraySync();
out.matMulOk = JSON.stringify(out.matMul) === JSON.stringify([[58, 64], [139, 154]]);
const g = tf.grad((x) => x.tanh().sum())(tf.tensor1d([0, 1]));
const expected = [1, 1 - Math.tanh(1) ** 2];
out.gradOk = g.arraySync().every((v, i) => Math.abs(v - expected[i]) < 1e-5);
out.tfjsVersion = tf.version['tfjs-node'];
out.tfjsCoreVersion = tf.version['tfjs-core'];
out.tensorflowVersion = tf.backend().binding.TF_Version;
if (process.argv.includes('--bench')) {
  await import('@tensorflow/tfjs-backend-wasm');
  const n = 1024;
  const timeOn = async (name) => {
    await tf.setBackend(name);
    const x = tf.randomUniform([n, n]), y = tf.randomUniform([n, n]);
    tf.matMul(x, y).dataSync(); // warm-up
    const reps = name === 'cpu' ? 1 : 5;
    const s = performance.now();
    for (let i = 0; i < reps; i++) tf.matMul(x, y).dataSync();
    return +((performance.now() - s) / reps).toFixed(1);
  };
  out.bench = {};
  for (const name of ['tensorflow', 'wasm', 'cpu']) out.bench[name] = await timeOn(name);
}
console.log('VERIFY ' + JSON.stringify(out));
`;

async function verify(bench) {
  const step = 'verify';
  const args = ['--input-type=module', '-e', VERIFY_SOURCE, '--', ...(bench ? ['--bench'] : [])];
  const res = await run(process.execPath, args, { env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
  const line = res.output.split('\n').find((l) => l.startsWith('VERIFY '));
  if (res.code !== 0 || !line) throw new StepError(step, `require('@tensorflow/tfjs-node') failed:\n${lastLines(res.output)}`);
  const out = JSON.parse(line.slice('VERIFY '.length));
  const problems = [];
  if (out.backend !== 'tensorflow') problems.push(`tf.getBackend() is "${out.backend}", not "tensorflow"`);
  if (!out.matMulOk) problems.push(`matMul gave ${JSON.stringify(out.matMul)}, expected [[58,64],[139,154]]`);
  if (!out.gradOk) problems.push('the gradient of tanh is wrong');
  if (!out.sameCore) problems.push(`tfjs-node uses another @tensorflow/tfjs-core (${out.coreFromTfjsNode}) than the project (${out.coreFromProject})`);
  if (problems.length) throw new StepError(step, problems.join('; '));
  say(`verified: tf.getBackend() === 'tensorflow', matMul [[1,2,3],[4,5,6]]x[[7,8],[9,10],[11,12]] = ${JSON.stringify(out.matMul)}, grad ok, one tfjs-core instance`);
  say(`versions: tfjs-node ${out.tfjsVersion}, tfjs-core ${out.tfjsCoreVersion}, TensorFlow (binding TF_Version) ${out.tensorflowVersion}; load ${out.loadMs} ms`);
  if (out.bench) say(`bench: 1024x1024 matMul, ms per op: tensorflow ${out.bench.tensorflow}, wasm ${out.bench.wasm}, cpu ${out.bench.cpu}`);
  return out;
}

// ---------------------------------------------------------------------------------------------

function stampMatches(stamp, manifest, binding) {
  if (!stamp || !binding || !manifest) return false;
  const st = fs.statSync(binding);
  return stamp.tarballSha256 === manifest.sha256 && stamp.tfjsNode === TFJS_NODE.version
    && stamp.binding === path.relative(REPO_ROOT, binding) && stamp.bindingBytes === st.size && stamp.bindingMtimeMs === st.mtimeMs
    && fs.existsSync(path.join(tfjsNodeDir(), 'deps', 'lib', LIB_CC));
}

async function main() {
  const opts = parseOptions(process.argv.slice(2), process.env);
  if (opts.help) {
    console.log(USAGE);
    return;
  }
  if (opts.checkOnly) {
    await verify(opts.bench);
    return;
  }
  const nodedir = checkMachine();
  fs.mkdirSync(opts.cacheDir, { recursive: true });
  await ensureTfjsNodePackage();
  const stampPath = path.join(opts.cacheDir, 'installed.json');
  const { tarball, manifest } = opts.userBaseUri ? { tarball: '', manifest: { source: 'mirror', package: opts.userBaseUri, sha256: opts.userBaseUri } } : await obtainTarball(opts);
  const stamp = readJson(stampPath);
  if (!opts.force && stampMatches(stamp, manifest, findBinding())) {
    say(`already installed from ${manifest.package} (${stamp.installedAt}); re-verifying (--force rebuilds)`);
    try {
      await verify(opts.bench);
      say(`done in ${elapsed()} (nothing to do)`);
      return;
    } catch (err) {
      say(`verification of the existing install failed (${err.message.split('\n')[0]}); rebuilding`);
    }
  }
  const logDir = path.join(opts.cacheDir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const binding = await runTfjsNodeInstaller(tarball, nodedir, opts, path.join(logDir, 'tfjs-node-install.log'));
  const out = await verify(opts.bench);
  const st = fs.statSync(binding);
  fs.writeFileSync(stampPath, JSON.stringify({
    tarballSha256: manifest.sha256, source: manifest.package, tensorflowVersion: out.tensorflowVersion, tfjsNode: TFJS_NODE.version,
    binding: path.relative(REPO_ROOT, binding), bindingBytes: st.size, bindingMtimeMs: st.mtimeMs, installedAt: new Date().toISOString(),
  }, null, 2) + '\n');
  say(`done in ${elapsed()}: @tensorflow/tfjs-node works with TensorFlow ${out.tensorflowVersion} from ${manifest.package}`);
}

main().catch((err) => {
  if (err instanceof StepError) {
    console.error(`native:install: FAILED at step "${err.step}": ${err.message}`);
    if (err.hint) console.error(`native:install: hint: ${err.hint}`);
  } else {
    console.error(`native:install: FAILED (unexpected error): ${err?.stack ?? err}`);
  }
  process.exitCode = 1;
});
