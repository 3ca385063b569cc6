/** `s2s translate`: placeholder registered by the CLI framework until the real command lands. */
import type { Command } from 'commander';
import { UserError } from '../errors.ts';

export function register(program: Command): void {
  program
    .command('translate')
    .description('translate (not implemented yet)')
    .action(() => {
      throw new UserError('not implemented yet');
    });
}
