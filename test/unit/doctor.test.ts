import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { doctorReport, formatDoctor, type DoctorFacts } from '../../src/cli/commands/doctor.ts';
import {
  CUDA_LIBRARIES,
  findLibrary,
  missingCudaLibraries,
  parseLdconfig,
  parseNvidiaSmi,
  splitLibraryPath,
  type LibrarySearch,
} from '../../src/backend/cuda.ts';

const LDCONFIG = [
  '542 libs found in cache `/etc/ld.so.cache\'',
  '\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1',
  '\tlibcudart.so.11.0 (libc6,x86-64) => /usr/local/cuda-11.2/lib64/libcudart.so.11.0',
  '\tlibcudart.so.12 (libc6,x86-64) => /usr/local/cuda-12.4/lib64/libcudart.so.12',
  '\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1',
  '\tlibcuda.so.1 (libc6) => /usr/lib/i386-linux-gnu/libcuda.so.1',
  '',
].join('\n');

function search(over: Partial<LibrarySearch> = {}): LibrarySearch {
  return { libraryPath: [], ldconfig: parseLdconfig(LDCONFIG), exists: () => false, ...over };
}

describe('finding CUDA libraries', () => {
  test('parseLdconfig maps sonames to paths, first the preferred', () => {
    const map = parseLdconfig(LDCONFIG);
    assert.deepEqual(map.get('libcudart.so.11.0'), ['/usr/local/cuda-11.2/lib64/libcudart.so.11.0']);
    assert.deepEqual(map.get('libcuda.so.1'), ['/usr/lib/x86_64-linux-gnu/libcuda.so.1', '/usr/lib/i386-linux-gnu/libcuda.so.1']);
    assert.equal(map.has('542'), false);
  });

  test('LD_LIBRARY_PATH comes before the linker cache', () => {
    const s = search({
      libraryPath: splitLibraryPath('/opt/cuda/lib64::/other'),
      exists: (p) => p === '/opt/cuda/lib64/libcudart.so.11.0',
    });
    assert.equal(findLibrary('libcudart.so.11.0', s), '/opt/cuda/lib64/libcudart.so.11.0');
    assert.equal(findLibrary('libcuda.so.1', s), '/usr/lib/x86_64-linux-gnu/libcuda.so.1');
    assert.equal(findLibrary('libcudnn.so.8', s), null);
  });

  test('the default directories are searched last', () => {
    assert.equal(findLibrary('libcudnn.so.8', search({ exists: (p) => p === '/usr/lib/libcudnn.so.8' })), '/usr/lib/libcudnn.so.8');
  });

  test('a CUDA 12 runtime does not satisfy libcudart.so.11.0', () => {
    const ld = parseLdconfig('\tlibcudart.so.12 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.12\n');
    assert.ok(missingCudaLibraries(search({ ldconfig: ld })).includes('libcudart.so.11.0'));
  });

  test('the libraries are those libtensorflow 2.9 dlopens for CUDA 11.2 / cuDNN 8.1', () => {
    assert.deepEqual(
      CUDA_LIBRARIES.map((l) => l.file),
      [
        'libcuda.so.1',
        'libcudart.so.11.0',
        'libcublas.so.11',
        'libcublasLt.so.11',
        'libcufft.so.10',
        'libcurand.so.10',
        'libcusolver.so.11',
        'libcusparse.so.11',
        'libcudnn.so.8',
      ],
    );
  });

  test('parseNvidiaSmi reads one GPU per line', () => {
    assert.deepEqual(parseNvidiaSmi('NVIDIA A100-SXM4-40GB, 535.104.05\nTesla T4, 535.104.05\n'), [
      'NVIDIA A100-SXM4-40GB (driver 535.104.05)',
      'Tesla T4 (driver 535.104.05)',
    ]);
  });
});

function facts(over: Partial<DoctorFacts> & { missing?: string[] } = {}): DoctorFacts {
  const missing = new Set(over.missing ?? []);
  return {
    platform: 'linux x64',
    libraries: CUDA_LIBRARIES.map((l) => ({ ...l, path: missing.has(l.file) ? null : `/usr/local/cuda/lib64/${l.file}` })),
    nvidiaSmi: { found: true, gpus: ['Tesla T4 (driver 535.104.05)'] },
    packages: { tfjsCore: '4.22.0', tfjsNode: null, tfjsNodeGpu: '4.22.0' },
    withoutBinding: [],
    ...over,
  };
}

describe('doctorReport', () => {
  test('everything present: GPU ready, nothing to do', () => {
    const r = doctorReport(facts());
    assert.equal(r.gpuReady, true);
    assert.deepEqual(r.advice, ['nothing to do: s2s --backend tensorflow will train on the GPU']);
    assert.ok(r.checks.includes('GPU 0: Tesla T4 (driver 535.104.05)'));
  });

  test('GPU visible but cuDNN and cuRAND missing: names them and how to install CUDA 11.2 + cuDNN 8.1', () => {
    const r = doctorReport(facts({ missing: ['libcudnn.so.8', 'libcurand.so.10'] }));
    assert.equal(r.gpuReady, false);
    assert.ok(r.checks.some((c) => /^libcudnn\.so\.8 +MISSING \(cuDNN 8\.1\)$/.test(c)));
    assert.match(r.advice[0]!, /install CUDA 11\.2 and cuDNN 8\.1 .*missing: libcurand\.so\.10, libcudnn\.so\.8/);
    assert.ok(r.advice.some((a) => a.includes("libcudnn8=8.1.1.*-1+cuda11.2")));
    assert.ok(r.advice.some((a) => a.includes('LD_LIBRARY_PATH')));
  });

  test('GPU and libraries but no tfjs-node-gpu: says to install it', () => {
    const r = doctorReport(facts({ packages: { tfjsCore: '4.22.0', tfjsNode: '4.22.0', tfjsNodeGpu: null } }));
    assert.equal(r.gpuReady, false);
    assert.deepEqual(r.advice, ['npm install @tensorflow/tfjs-node-gpu@4.22.0']);
  });

  test('no NVIDIA driver, nothing native: suggests tfjs-node for the CPU and the driver for a GPU', () => {
    const r = doctorReport(
      facts({
        nvidiaSmi: { found: false, gpus: [], error: 'nvidia-smi not found' },
        missing: CUDA_LIBRARIES.map((l) => l.file),
        packages: { tfjsCore: '4.22.0', tfjsNode: null, tfjsNodeGpu: null },
      }),
    );
    assert.equal(r.gpuReady, false);
    assert.ok(r.checks.includes('nvidia-smi: not found (no NVIDIA driver)'));
    assert.match(r.advice[0]!, /npm install @tensorflow\/tfjs-node@4\.22\.0/);
    assert.match(r.advice[1]!, /install the NVIDIA driver/);
    assert.equal(r.advice.some((a) => a.includes('cuDNN')), false, 'no CUDA advice without a GPU');
  });

  test('tfjs-node-gpu installed without its binding: not ready, says to rebuild it', () => {
    const r = doctorReport(facts({ withoutBinding: ['tfjs-node-gpu'] }));
    assert.equal(r.gpuReady, false);
    assert.ok(r.checks.includes('@tensorflow/tfjs-node-gpu: 4.22.0, native binding MISSING'));
    assert.deepEqual(r.advice, [
      '@tensorflow/tfjs-node-gpu has no native binding (its install script downloads libtensorflow): npm rebuild @tensorflow/tfjs-node-gpu',
    ]);
  });

  test('tfjs-node installed without its binding: points at npm run native:install', () => {
    const r = doctorReport(facts({ packages: { tfjsCore: '4.22.0', tfjsNode: '4.22.0', tfjsNodeGpu: '4.22.0' }, withoutBinding: ['tfjs-node'] }));
    assert.ok(r.advice.includes('@tensorflow/tfjs-node has no native binding: npm run native:install'));
  });

  test('a native package of another version than tfjs-core is flagged', () => {
    const r = doctorReport(facts({ packages: { tfjsCore: '4.22.0', tfjsNode: '4.10.0', tfjsNodeGpu: '4.22.0' } }));
    assert.ok(r.advice.some((a) => a.includes('@tensorflow/tfjs-node 4.10.0 does not match tfjs-core 4.22.0')));
  });

  test('macOS: tfjs-node-gpu is not an option', () => {
    const r = doctorReport(facts({ platform: 'darwin arm64', nvidiaSmi: { found: false, gpus: [] } }));
    assert.equal(r.gpuReady, false);
    assert.match(r.checks[0]!, /linux x64 only/);
  });

  test('formatDoctor ends with the verdict and the advice', () => {
    const text = formatDoctor(doctorReport(facts({ missing: ['libcudnn.so.8'] })));
    assert.match(text, /\nGPU: not ready\nwhat to do:\n- install CUDA 11\.2/);
  });
});
