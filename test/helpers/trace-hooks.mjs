// The module hook of trace-modules.mjs: each resolved ES module's URL, appended to $S2S_TRACE_FILE.
import { appendFileSync } from 'node:fs';

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.S2S_TRACE_FILE, `${resolved.url}\n`);
  return resolved;
}
