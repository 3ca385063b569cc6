import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import {
  describeChoice,
  initBackend,
  probeBackends,
  realBackendDeps,
  threadsFromEnv,
  type BackendDeps,
  type BackendName,
} from '../../src/backend/index.ts';
import { UserError } from '../../src/errors.ts';
import { backendTraits, traitsFor } from '../../src/backend/traits.ts';

const GPU = '@tensorflow/tfjs-node-gpu';
const NODE = '@tensorflow/tfjs-node';
const WASM = '@tensorflow/tfjs-backend-wasm';
const CPU = '@tensorflow/tfjs-backend-cpu';

interface Machine {
  /** Packages that resolve. */
  installed?: string[];
  /** CUDA libraries the linker cannot find. */
  missingLibs?: string[];
  /** Whether libtensorflow sees a GPU once tfjs-node-gpu loads. */
  gpuDevice?: boolean;
  /** Installed native packages whose compiled binding is missing. */
  noBinding?: string[];
  /** Packages whose import throws (e.g. libtensorflow missing). */
  brokenLoad?: Record<string, string>;
  /** Backends whose activation fails. */
  brokenActivate?: Partial<Record<BackendName, string>>;
  /** Why threaded wasm does not start (it then falls back to one thread). */
  brokenThreads?: string;
}

/** A stubbed machine: records what was loaded and activated, never touches tfjs. */
function stubDeps(m: Machine) {
  const loaded: string[] = [];
  const activated: BackendName[] = [];
  /** The thread counts wasm was asked for. */
  const threadRequests: number[] = [];
  let lastNative: string | null = null;
  const deps: Partial<BackendDeps> = {
    isInstalled: (pkg) => (m.installed ?? []).includes(pkg),
    hasBinding: (pkg) => !(m.noBinding ?? []).includes(pkg),
    missingGpuLibraries: () => m.missingLibs ?? [],
    load: async (name) => {
      loaded.push(name);
      const broken = m.brokenLoad?.[name];
      if (broken) throw new Error(broken);
      if (name === GPU || name === NODE) lastNative = name;
      return name === WASM ? { setWasmPaths: () => {} } : {};
    },
    activate: async (name) => {
      const broken = m.brokenActivate?.[name];
      if (broken) throw new Error(broken);
      activated.push(name);
      if (name !== 'tensorflow') return {};
      return { isUsingGpuDevice: lastNative === GPU && m.gpuDevice === true, binding: { TF_Version: '2.9.1' } };
    },
    wasmDir: () => '/stub/dist/',
    activateWasm: async (_mod, threads, activate) => {
      threadRequests.push(threads);
      await activate();
      if (threads > 1 && m.brokenThreads) return { requested: threads, threads: 1, fallback: m.brokenThreads };
      return { requested: threads, threads, fallback: null };
    },
  };
  return { deps, loaded, activated, threadRequests };
}

async function choose(requested: 'auto' | BackendName, m: Machine, threads = 1) {
  const { deps, loaded, activated, threadRequests } = stubDeps(m);
  const lines: string[] = [];
  const warnings: string[] = [];
  const choice = await initBackend(requested, (l) => lines.push(l), deps, { threads, warn: (l) => warnings.push(l) });
  return { choice, lines, warnings, loaded, activated, threadRequests };
}

/** Runs `fn` with environment variable `name` unset, then restores it. */
async function withoutEnv(name: string, fn: () => Promise<void>): Promise<void> {
  const before = process.env[name];
  try {
    delete process.env[name];
    await fn();
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
}

/** A machine with tfjs-node, whose load records environment variable `name` as tfjs-node loads. */
function seenAtLoad(name: string) {
  const { deps } = stubDeps({ installed: [NODE] });
  const seen: (string | undefined)[] = [];
  const load = deps.load!;
  deps.load = async (pkg) => {
    seen.push(process.env[name]);
    return load(pkg);
  };
  return { deps, seen };
}

describe('initBackend decisions (stubbed machine)', () => {
  test('intra-op threads reach TensorFlow: TF_NUM_INTRAOP_THREADS is set before tfjs-node loads, and said', async () => {
    await withoutEnv('TF_NUM_INTRAOP_THREADS', async () => {
      const { deps, seen } = seenAtLoad('TF_NUM_INTRAOP_THREADS');
      const lines: string[] = [];
      const choice = await initBackend('auto', (l) => lines.push(l), deps, { intraOpThreads: 1 });
      assert.deepEqual([choice.name, choice.intraOpThreads, seen], ['tensorflow', 1, ['1']]);
      assert.deepEqual(lines, ['backend: tensorflow (CPU; 1 intra-op thread)']);
      // Not asked for: TensorFlow's own default, and nothing said.
      delete process.env.TF_NUM_INTRAOP_THREADS;
      const plain = await choose('auto', { installed: [NODE] });
      assert.deepEqual([plain.choice.intraOpThreads, process.env.TF_NUM_INTRAOP_THREADS, plain.lines], [undefined, undefined, ['backend: tensorflow (CPU)']]);
    });
  });

  test('oneDNN off for decoding: TF_ENABLE_ONEDNN_OPTS=0 is set before tfjs-node loads and said; a value the user set stands', async () => {
    await withoutEnv('TF_ENABLE_ONEDNN_OPTS', async () => {
      const { deps, seen } = seenAtLoad('TF_ENABLE_ONEDNN_OPTS');
      const lines: string[] = [];
      const choice = await initBackend('auto', (l) => lines.push(l), deps, { oneDnn: false, intraOpThreads: 1 });
      assert.deepEqual([choice.name, choice.oneDnn, seen], ['tensorflow', false, ['0']]);
      assert.deepEqual(lines, ['backend: tensorflow (CPU; 1 intra-op thread; oneDNN off)']);
      // The user's value stands, and s2s does not claim it.
      process.env.TF_ENABLE_ONEDNN_OPTS = '1';
      const userLines: string[] = [];
      const user = await initBackend('auto', (l) => userLines.push(l), stubDeps({ installed: [NODE] }).deps, { oneDnn: false });
      assert.deepEqual([user.oneDnn, process.env.TF_ENABLE_ONEDNN_OPTS, userLines], [undefined, '1', ['backend: tensorflow (CPU)']]);
      // Not asked for (training): nothing set, nothing said.
      delete process.env.TF_ENABLE_ONEDNN_OPTS;
      const plain = await choose('auto', { installed: [NODE] });
      assert.deepEqual([plain.choice.oneDnn, process.env.TF_ENABLE_ONEDNN_OPTS, plain.lines], [undefined, undefined, ['backend: tensorflow (CPU)']]);
      // No native TensorFlow: the variable is not left behind for a later start.
      const wasm = await initBackend('auto', () => {}, stubDeps({}).deps, { oneDnn: false });
      assert.deepEqual([wasm.name, wasm.oneDnn, process.env.TF_ENABLE_ONEDNN_OPTS], ['wasm', undefined, undefined]);
    });
  });

  test('nothing native installed: auto picks wasm and says why, in one line', async () => {
    const r = await choose('auto', {});
    assert.equal(r.choice.name, 'wasm');
    assert.deepEqual(r.lines, ['backend: wasm (tfjs-node not installed)']);
    assert.deepEqual(r.loaded, [WASM]);
    assert.deepEqual(r.activated, ['wasm']);
  });

  test('GPU build with a usable GPU: tensorflow on the GPU, tfjs-node never loaded', async () => {
    const r = await choose('auto', { installed: [GPU, NODE], gpuDevice: true });
    assert.deepEqual([r.choice.name, r.choice.provider, r.choice.gpu], ['tensorflow', 'tfjs-node-gpu', true]);
    assert.deepEqual(r.lines, ['backend: tensorflow (GPU)']);
    assert.deepEqual(r.loaded, [GPU]);
  });

  test('GPU build installed but libcudart.so.11.0 missing: not loaded, falls back to tfjs-node', async () => {
    const r = await choose('auto', { installed: [GPU, NODE], missingLibs: ['libcudart.so.11.0', 'libcudnn.so.8'] });
    assert.deepEqual([r.choice.name, r.choice.provider, r.choice.gpu], ['tensorflow', 'tfjs-node', false]);
    assert.deepEqual(r.loaded, [NODE]);
    assert.equal(r.lines.length, 1);
    assert.equal(
      r.lines[0],
      'backend: tensorflow (CPU)',
    );
  });

  test('GPU build loads but finds no GPU device: it runs TensorFlow on the CPU, and says so', async () => {
    const r = await choose('auto', { installed: [GPU, NODE], gpuDevice: false });
    assert.deepEqual([r.choice.name, r.choice.provider, r.choice.gpu], ['tensorflow', 'tfjs-node-gpu', false]);
    assert.deepEqual(r.loaded, [GPU], 'a second libtensorflow is never loaded');
    assert.match(r.lines[0]!, /tfjs-node-gpu found no GPU device/);
  });

  test('only the GPU build, without CUDA: still native TensorFlow on the CPU rather than wasm', async () => {
    const r = await choose('auto', { installed: [GPU], missingLibs: ['libcuda.so.1'] });
    assert.deepEqual([r.choice.name, r.choice.provider, r.choice.gpu], ['tensorflow', 'tfjs-node-gpu', false]);
    assert.match(r.lines[0]!, /tfjs-node-gpu has no usable GPU \(libcuda.so.1 not found\); tfjs-node not installed/);
  });

  test('tfjs-node installed without its compiled binding: not loaded, says how to fix, falls back to wasm', async () => {
    const r = await choose('auto', { installed: [NODE], noBinding: [NODE] });
    assert.equal(r.choice.name, 'wasm');
    assert.deepEqual(r.loaded, [WASM]);
    assert.deepEqual(r.lines, [
      'backend: wasm (tfjs-node is installed without its native binding ' +
        '(lib/napi-v*/tfjs_binding.node; npm run native:install))',
    ]);
  });

  test('tfjs-node whose import throws: the first line of the reason, falls back to wasm', async () => {
    const r = await choose('auto', {
      installed: [NODE],
      brokenLoad: { [NODE]: 'libtensorflow.so.2: cannot open shared object file\nRequire stack:\n- /x/dist/index.js' },
    });
    assert.equal(r.choice.name, 'wasm');
    assert.deepEqual(r.lines, [
      'backend: wasm (tfjs-node is installed but failed to load: libtensorflow.so.2: cannot open shared object file)',
    ]);
  });

  test('after one native package fails to load, the other is not tried (its kernels are already registered)', async () => {
    const r = await choose('auto', { installed: [GPU, NODE], brokenLoad: { [GPU]: 'libtensorflow.so.2: not found' } });
    assert.equal(r.choice.name, 'wasm');
    assert.deepEqual(r.loaded, [GPU, WASM]);
    assert.match(r.lines[0]!, /tfjs-node not tried after tfjs-node-gpu failed/);
  });

  test('tfjs-node registering into another tfjs-core copy is caught', async () => {
    const r = await choose('auto', { installed: [NODE], brokenActivate: { tensorflow: "no 'tensorflow' backend is registered" } });
    assert.equal(r.choice.name, 'wasm');
    assert.match(r.lines[0]!, /tfjs-node loaded but its backend is unusable: no 'tensorflow' backend is registered/);
  });

  test('wasm failing: auto falls back to cpu', async () => {
    const r = await choose('auto', { brokenActivate: { wasm: 'WebAssembly.instantiate(): bad magic' } });
    assert.equal(r.choice.name, 'cpu');
    assert.deepEqual(r.loaded, [WASM, CPU]);
    assert.match(r.lines[0]!, /^backend: cpu \(.*wasm failed: WebAssembly.instantiate\(\): bad magic\)$/);
  });

  test('explicit tensorflow that cannot load is a UserError saying how to install it', async () => {
    await assert.rejects(choose('tensorflow', {}), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.equal(err.where, '--backend');
      assert.equal(err.exitCode, 1);
      assert.match(err.message, /tensorflow backend is not available: tfjs-node-gpu not installed; tfjs-node not installed/);
      assert.match(err.hint ?? '', /npm install @tensorflow\/tfjs-node@4\.22\.0/);
      return true;
    });
  });

  test('explicit tensorflow never falls back to wasm', async () => {
    const { deps, loaded } = stubDeps({});
    await assert.rejects(initBackend('tensorflow', () => {}, deps), UserError);
    assert.equal(loaded.includes(WASM), false);
  });

  test('explicit wasm that cannot start is a UserError', async () => {
    await assert.rejects(choose('wasm', { brokenLoad: { [WASM]: 'Cannot find module' } }), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /wasm backend is not available/);
      return true;
    });
  });

  test('wasm with 4 threads: asks for 4 and says so in its line', async () => {
    const r = await choose('wasm', {}, 4);
    assert.deepEqual(r.threadRequests, [4]);
    assert.deepEqual([r.choice.name, r.choice.threads], ['wasm', 4]);
    assert.deepEqual(r.lines, ['backend: wasm (4 threads; requested)']);
    assert.deepEqual(r.warnings, []);
  });

  test('threaded wasm that does not start: one warning, then wasm on one thread', async () => {
    const r = await choose('auto', { brokenThreads: 'a pthread worker exited during start-up (code 1)' }, 2);
    assert.deepEqual([r.choice.name, r.choice.threads], ['wasm', 1]);
    assert.deepEqual(r.warnings, [
      'threaded wasm did not start (a pthread worker exited during start-up (code 1)); using the single-threaded SIMD binary',
    ]);
    assert.deepEqual(r.lines, ['backend: wasm (tfjs-node not installed)']);
  });

  test('the tensorflow backend ignores --threads', async () => {
    const r = await choose('auto', { installed: [NODE] }, 4);
    assert.equal(r.choice.name, 'tensorflow');
    assert.deepEqual(r.threadRequests, []);
  });

  test('threadsFromEnv: S2S_THREADS, else one per core; a bad value is a usage error naming it', () => {
    assert.equal(threadsFromEnv({ S2S_THREADS: '3' }), 3);
    assert.equal(threadsFromEnv({}), Math.min(availableParallelism(), 8));
    for (const bad of ['0', '9', 'two', '1.5', '-1']) {
      assert.throws(() => threadsFromEnv({ S2S_THREADS: bad }), (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.equal(err.exitCode, 2);
        assert.equal(err.where, 'S2S_THREADS');
        return true;
      });
    }
  });

  test('explicit cpu loads nothing else', async () => {
    const r = await choose('cpu', { installed: [GPU, NODE], gpuDevice: true });
    assert.equal(r.choice.name, 'cpu');
    assert.deepEqual(r.loaded, [CPU]);
    assert.deepEqual(r.lines, ['backend: cpu (requested)']);
  });

  test('describeChoice marks an explicit request', () => {
    const line = describeChoice({ name: 'tensorflow', reasons: [], provider: 'tfjs-node', gpu: false }, 'tensorflow');
    assert.equal(line, 'backend: tensorflow (CPU; requested)');
  });

  test('probeBackends reports every backend with a reason (stubbed)', async () => {
    const { deps } = stubDeps({ installed: [GPU], missingLibs: ['libcudart.so.11.0'] });
    const infos = await probeBackends(deps, { threads: 1 });
    assert.deepEqual(
      infos.map((i) => [i.name, i.provider, i.available]),
      [
        ['tensorflow', 'tfjs-node-gpu', true],
        ['tensorflow', 'tfjs-node', false],
        ['wasm', 'tfjs-backend-wasm', true],
        ['cpu', 'tfjs-backend-cpu', true],
      ],
    );
    assert.equal(infos[0]!.tensorflowVersion, '2.9.1');
    assert.deepEqual(infos[0]!.devices, ['CPU']);
    assert.match(infos[0]!.reason, /no usable GPU \(libcudart.so.11.0 not found\)/);
    assert.match(infos[1]!.reason, /not installed \(npm run native:install, or npm install @tensorflow\/tfjs-node@4\.22\.0\)/);
    assert.match(infos[2]!.reason, /, threads no \(--threads 1\)$/);
  });

  test('probeBackends shows how many threads wasm runs, or why it fell back (stubbed)', async () => {
    const threaded = await probeBackends(stubDeps({}).deps, { threads: 2 });
    assert.match(threaded[2]!.reason, /, threads yes \(2 threads\)$/);
    const fellBack = await probeBackends(stubDeps({ brokenThreads: 'no WebAssembly threads' }).deps, { threads: 2 });
    assert.match(fellBack[2]!.reason, /, threads no \(threaded start failed: no WebAssembly threads\)$/);
  });
});

describe('initBackend on the real tfjs-core', () => {
  test('wasm loads its binaries from node_modules and computes', async () => {
    const lines: string[] = [];
    const choice = await initBackend('wasm', (l) => lines.push(l), {}, { threads: 1 });
    assert.equal(choice.name, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.deepEqual(lines, ['backend: wasm (requested)']);
    assert.deepEqual(backendTraits(), traitsFor('wasm'), 'model code reads the traits chosen here');
    assert.equal(backendTraits().tanhFromSigmoid, true);
    const sum = tf.tidy(() => tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4])).arraySync());
    assert.deepEqual(sum, [4, 6]);
  });

  test('tensorflow (tfjs-node) registers with the same tfjs-core instance, when installed', async (t) => {
    if (!realBackendDeps.isInstalled(NODE) || !realBackendDeps.hasBinding(NODE)) {
      t.skip('tfjs-node with its binding is not installed (npm run native:install)');
      return;
    }
    const lines: string[] = [];
    const choice = await initBackend('tensorflow', (l) => lines.push(l));
    assert.equal(choice.name, 'tensorflow');
    assert.equal(tf.getBackend(), 'tensorflow', "s2s's own tfjs-core runs on it");
    assert.equal(lines.length, 1);
    assert.deepEqual(backendTraits(), traitsFor('tensorflow'));
    assert.equal(backendTraits().fusedEncoder, true);
    assert.deepEqual(tf.tidy(() => tf.matMul(tf.ones([2, 3]), tf.ones([3, 1])).arraySync()), [[3], [3]]);
  });

  test('cpu initialises and computes', async () => {
    const choice = await initBackend('cpu', () => {});
    assert.equal(choice.name, 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
    assert.deepEqual(backendTraits(), traitsFor('cpu'));
    assert.equal(backendTraits().fusedEncoder || backendTraits().tanhFromSigmoid || backendTraits().batchedAttentionProducts, false);
    assert.deepEqual(tf.tidy(() => tf.mul(tf.scalar(3), tf.scalar(4)).arraySync()), 12);
  });
});
