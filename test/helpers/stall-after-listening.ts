/**
 * Preloaded into `s2s serve` by a test: once the process has written its
 * "listening on" line, it stalls 300 ms (as a busy machine may between two
 * statements), so that a signal sent on reading the line arrives before
 * anything after the write has run.
 */
const write = process.stdout.write.bind(process.stdout) as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;
process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
  const written = write(chunk, ...rest);
  if (String(chunk).includes('listening on')) {
    const until = Date.now() + 300;
    while (Date.now() < until);
  }
  return written;
}) as typeof process.stdout.write;
