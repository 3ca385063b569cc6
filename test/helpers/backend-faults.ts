/**
 * Loaded with `--import` into a child s2s process (see `runS2S`'s `preload`):
 * hides installed packages from the backend chooser, as on a machine without
 * them. The test names them in this variable of the child's environment (read
 * here, never by s2s):
 *   HIDE_PACKAGES   comma-separated package names, e.g. @tensorflow/tfjs-node
 */
import { realBackendDeps } from '../../src/backend/index.ts';

const hidden = new Set((process.env.HIDE_PACKAGES ?? '').split(',').filter((p) => p !== ''));
const real = realBackendDeps.isInstalled;
realBackendDeps.isInstalled = (pkg) => !hidden.has(pkg) && real(pkg);
