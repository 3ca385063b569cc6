/**
 * `s2s info`: versions, and every backend with whether it can run here and why.
 */
import type { Command } from 'commander';
import type { BackendInfo } from '../../backend/index.ts';

export interface InfoFacts {
  s2sVersion: string;
  nodeVersion: string;
  platform: string;
  tfjsCoreVersion: string | null;
  backends: BackendInfo[];
  /** The model `s2s translate` uses without --checkpoint, and why; null when there is none. */
  model?: { path: string; reason: string } | null;
}

/** The report `s2s info` prints. */
export function formatInfo(facts: InfoFacts): string {
  const lines = [
    `s2s ${facts.s2sVersion}`,
    `node ${facts.nodeVersion} (${facts.platform})`,
    `tfjs-core ${facts.tfjsCoreVersion ?? 'not installed'}`,
    'backends:',
  ];
  const width = Math.max(...facts.backends.map((b) => label(b).length));
  for (const b of facts.backends) {
    const state = b.available ? 'available  ' : 'unavailable';
    lines.push(`  ${label(b).padEnd(width)}  ${state}  ${b.reason}`);
    if (b.tensorflowVersion) lines.push(`  ${''.padEnd(width)}  TensorFlow ${b.tensorflowVersion}`);
    if (b.devices) lines.push(`  ${''.padEnd(width)}  devices: ${b.devices.join(', ')}`);
  }
  const best = facts.backends.find((b) => b.available);
  lines.push(`--backend auto uses: ${best ? label(best) : 'nothing (no backend loads)'}`);
  if (facts.model !== undefined) {
    lines.push(
      facts.model
        ? `translate uses: ${facts.model.path} (${facts.model.reason})`
        : 'translate uses: no model (no --checkpoint given, none trained, none shipped); train one with `s2s train`',
    );
  }
  return `${lines.join('\n')}\n`;
}

function label(b: BackendInfo): string {
  const provider = b.name === 'tensorflow' ? ` (${b.provider}${b.version ? ` ${b.version}` : ''})` : b.version ? ` ${b.version}` : '';
  return `${b.name}${provider}`;
}

export function register(program: Command): void {
  program
    .command('info')
    .description('show versions, which backends can run here (and why not), and which model translate uses')
    .action(async (_opts: unknown, command: Command) => {
      const { packageVersion, probeBackends } = await import('../../backend/index.ts');
      const { globalOptions } = await import('../global-options.ts');
      const { defaultModel, resolveModelDir } = await import('../../model-dir.ts');
      const choice = defaultModel();
      let model = choice;
      try {
        if (choice) model = { ...choice, path: resolveModelDir(choice.path) };
      } catch {
        // Named as found; translate will say what is wrong with it.
      }
      const backends = await probeBackends({}, { threads: globalOptions(command).threads });
      process.stdout.write(
        formatInfo({
          s2sVersion: program.version() ?? 'unknown',
          nodeVersion: process.version,
          platform: `${process.platform} ${process.arch}`,
          tfjsCoreVersion: packageVersion('@tensorflow/tfjs-core'),
          backends,
          model,
        }),
      );
    });
}
