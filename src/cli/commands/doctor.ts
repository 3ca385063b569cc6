/**
 * `s2s doctor`: can this machine train on a GPU, and if not, exactly what is
 * missing. tfjs-node-gpu 4.22 runs libtensorflow 2.9, built for CUDA 11.2 and
 * cuDNN 8.1; newer CUDA majors do not satisfy it. The report is a pure
 * function of the gathered facts (`doctorReport`) so it is tested without a GPU.
 */
import type { Command } from 'commander';
import type { LibraryStatus, NvidiaSmi } from '../../backend/cuda.ts';

export interface DoctorFacts {
  /** `process.platform process.arch`, e.g. `linux x64`. */
  platform: string;
  libraries: LibraryStatus[];
  nvidiaSmi: NvidiaSmi;
  /** Installed versions, null when absent. */
  packages: { tfjsCore: string | null; tfjsNode: string | null; tfjsNodeGpu: string | null };
  /** Installed native packages whose compiled binding is missing, e.g. `tfjs-node-gpu`. */
  withoutBinding: string[];
}

export interface DoctorReport {
  /** What was found, one line per check. */
  checks: string[];
  /** What to do, in order; empty when nothing is needed. */
  advice: string[];
  /** tfjs-node-gpu can use a GPU here. */
  gpuReady: boolean;
}

const TFJS = '4.22.0';
const APT_CUDA =
  'sudo apt-get install cuda-cudart-11-2 libcublas-11-2 libcufft-11-2 libcurand-11-2 libcusolver-11-2 libcusparse-11-2 ' +
  "'libcudnn8=8.1.1.*-1+cuda11.2'   (from NVIDIA's CUDA apt repository)";
const CONDA_CUDA = 'conda install -c conda-forge cudatoolkit=11.2 cudnn=8.1   (then add $CONDA_PREFIX/lib to LD_LIBRARY_PATH)';

export function doctorReport(facts: DoctorFacts): DoctorReport {
  const checks: string[] = [];
  const advice: string[] = [];
  const { packages, nvidiaSmi } = facts;
  const linuxX64 = facts.platform === 'linux x64';

  checks.push(`platform: ${facts.platform}${linuxX64 ? '' : ' (tfjs-node-gpu supports linux x64 only)'}`);
  checks.push(`@tensorflow/tfjs-core: ${packages.tfjsCore ?? 'not installed'}`);
  const broken = new Set(facts.withoutBinding);
  const state = (name: string, version: string | null): string =>
    version === null ? 'not installed' : broken.has(name) ? `${version}, native binding MISSING` : version;
  checks.push(`@tensorflow/tfjs-node: ${state('tfjs-node', packages.tfjsNode)}`);
  checks.push(`@tensorflow/tfjs-node-gpu: ${state('tfjs-node-gpu', packages.tfjsNodeGpu)}`);
  if (packages.tfjsNode && broken.has('tfjs-node')) {
    advice.push('@tensorflow/tfjs-node has no native binding: npm run native:install');
  }
  for (const [name, version] of [['tfjs-node', packages.tfjsNode], ['tfjs-node-gpu', packages.tfjsNodeGpu]] as const) {
    if (version && packages.tfjsCore && version !== packages.tfjsCore) {
      advice.push(`@tensorflow/${name} ${version} does not match tfjs-core ${packages.tfjsCore}: npm install @tensorflow/${name}@${packages.tfjsCore}`);
    }
  }

  const gpus = nvidiaSmi.gpus;
  if (!nvidiaSmi.found) checks.push('nvidia-smi: not found (no NVIDIA driver)');
  else if (gpus.length === 0) checks.push(`nvidia-smi: no GPU visible${nvidiaSmi.error ? ` (${nvidiaSmi.error})` : ''}`);
  else checks.push(...gpus.map((g, i) => `GPU ${i}: ${g}`));

  const missing = facts.libraries.filter((l) => l.path === null);
  for (const lib of facts.libraries) {
    checks.push(`${lib.file.padEnd(18)} ${lib.path ? `found: ${lib.path}` : `MISSING (${lib.from})`}`);
  }

  const hasGpu = gpus.length > 0;
  const libsOk = missing.length === 0;
  const gpuPackageOk = packages.tfjsNodeGpu !== null && !broken.has('tfjs-node-gpu');
  const gpuReady = linuxX64 && hasGpu && libsOk && gpuPackageOk;

  if (!linuxX64 || !hasGpu) {
    // No GPU training here: the best is native TensorFlow on the CPU.
    if (!packages.tfjsNode && !packages.tfjsNodeGpu) {
      advice.push(`no GPU here; for native TensorFlow on the CPU (much faster than wasm): npm install @tensorflow/tfjs-node@${TFJS}`);
    }
    if (linuxX64 && !nvidiaSmi.found) {
      advice.push('to train on an NVIDIA GPU: install the NVIDIA driver (>= 450) so that nvidia-smi lists the GPU, then run s2s doctor again');
    }
  } else {
    if (missing.some((l) => l.file === 'libcuda.so.1')) {
      advice.push('libcuda.so.1 (the driver library) is not on the linker path: reinstall the NVIDIA driver or add its directory to LD_LIBRARY_PATH');
    }
    if (missing.some((l) => l.file !== 'libcuda.so.1')) {
      const files = missing.filter((l) => l.file !== 'libcuda.so.1').map((l) => l.file);
      advice.push(`install CUDA 11.2 and cuDNN 8.1 (tfjs-node-gpu ${TFJS} needs exactly these majors; missing: ${files.join(', ')}):`);
      advice.push(`  ${APT_CUDA}`);
      advice.push(`  or: ${CONDA_CUDA}`);
      advice.push('  then make sure the directory holding them (e.g. /usr/local/cuda-11.2/lib64) is in LD_LIBRARY_PATH or run sudo ldconfig');
    }
    if (!packages.tfjsNodeGpu) advice.push(`npm install @tensorflow/tfjs-node-gpu@${TFJS}`);
    else if (!gpuPackageOk) {
      advice.push('@tensorflow/tfjs-node-gpu has no native binding (its install script downloads libtensorflow): npm rebuild @tensorflow/tfjs-node-gpu');
    }
  }
  if (gpuReady) advice.push('nothing to do: s2s --backend tensorflow will train on the GPU');
  return { checks, advice, gpuReady };
}

export function formatDoctor(report: DoctorReport): string {
  const lines = [...report.checks, '', report.gpuReady ? 'GPU: ready' : 'GPU: not ready'];
  if (report.advice.length > 0) lines.push('what to do:', ...report.advice.map((a) => (a.startsWith('  ') ? a : `- ${a}`)));
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  program
    .command('doctor')
    .description('check the CUDA/cuDNN libraries and packages GPU training needs, and say what to install; with --backend, whether that backend starts')
    .action(async (_opts: unknown, command: Command) => {
      const { probeCuda } = await import('../../backend/cuda.ts');
      const { packageVersion, realBackendDeps } = await import('../../backend/index.ts');
      const installedWithoutBinding = (pkg: string): boolean =>
        realBackendDeps.isInstalled(pkg) && !realBackendDeps.hasBinding(pkg);
      const cuda = probeCuda();
      const report = doctorReport({
        platform: `${process.platform} ${process.arch}`,
        libraries: cuda.libraries,
        nvidiaSmi: cuda.nvidiaSmi,
        packages: {
          tfjsCore: packageVersion('@tensorflow/tfjs-core'),
          tfjsNode: packageVersion('@tensorflow/tfjs-node'),
          tfjsNodeGpu: packageVersion('@tensorflow/tfjs-node-gpu'),
        },
        withoutBinding: ['tfjs-node', 'tfjs-node-gpu'].filter((name) => installedWithoutBinding(`@tensorflow/${name}`)),
      });
      process.stdout.write(formatDoctor(report));
      await checkRequestedBackend(command);
    });
}

/**
 * The backend asked for with --backend or S2S_BACKEND is started: a line says
 * it is usable, or a UserError (exit 1) says in one line why it is not. Without
 * a request (`auto`) there is always a backend, and nothing is checked.
 */
async function checkRequestedBackend(command: Command): Promise<void> {
  const { globalOptions } = await import('../global-options.ts');
  const { backend, threads } = globalOptions(command);
  if (backend === 'auto') return;
  const { describeChoice, initBackend } = await import('../../backend/index.ts');
  const { UserError } = await import('../../errors.ts');
  const fromEnv = command.parent?.getOptionValueSource('backend') === 'env';
  const where = fromEnv ? `S2S_BACKEND=${backend}` : `--backend ${backend}`;
  try {
    const choice = await initBackend(backend, () => {}, {}, { threads, warn: () => {} });
    process.stdout.write(`${describeChoice(choice, backend)}: usable\n`);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    throw new UserError(`${err.message.replace(/^the (\w+) backend is not available/, 'the $1 backend is unusable')}`, { where, code: err.code });
  }
}
