/**
 * The few pieces of Python's `str` behaviour that sacreBLEU's numbers depend
 * on, reproduced exactly: what `str.split()` / `str.strip()` call whitespace,
 * and how `f"{x:.2f}"` rounds. JavaScript differs on both (`\s` includes
 * U+FEFF but not U+001C–U+001F or U+0085; `toFixed` rounds exact ties up).
 */

/**
 * Python's `str.isspace()` set (Unicode 15): bidi classes WS/B/S plus category
 * Zs. Note U+200B (zero-width space) and U+FEFF are NOT whitespace.
 */
const PY_WHITESPACE_CLASS =
  '\\t\\n\\u000B\\f\\r\\u001C-\\u001F \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000';

const PY_WHITESPACE_RUN = new RegExp(`[${PY_WHITESPACE_CLASS}]+`, 'u');
const PY_TRAILING_WHITESPACE = new RegExp(`[${PY_WHITESPACE_CLASS}]+$`, 'u');
const PY_LEADING_WHITESPACE = new RegExp(`^[${PY_WHITESPACE_CLASS}]+`, 'u');

/** Python's `s.split()`: split on runs of whitespace, no empty strings. */
export function pySplit(text: string): string[] {
  return text.split(PY_WHITESPACE_RUN).filter((part) => part.length > 0);
}

/** Python's `s.rstrip()`. */
export function pyRstrip(text: string): string {
  return text.replace(PY_TRAILING_WHITESPACE, '');
}

/** Python's `s.strip()`. */
export function pyStrip(text: string): string {
  return pyRstrip(text).replace(PY_LEADING_WHITESPACE, '');
}

/** Python's `' '.join(s.split())`: collapse whitespace to single spaces. */
export function pyNormalizeSpaces(text: string): string {
  return pySplit(text).join(' ');
}

/**
 * Python's `f"{x:.{digits}f}"`: the exact binary value of `x` rounded to
 * `digits` decimals, ties to even (so 0.125 → "0.12", where JS `toFixed`
 * gives "0.13"). Works on the exact rational value via BigInt.
 */
export function formatFixed(x: number, digits: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf';
  const negative = x < 0 || Object.is(x, -0);
  const { mantissa, exponent } = decomposeDouble(Math.abs(x));
  const scale = 10n ** BigInt(digits);
  let scaled: bigint;
  if (exponent >= 0) {
    scaled = mantissa * 2n ** BigInt(exponent) * scale;
  } else {
    const numerator = mantissa * scale;
    const denominator = 2n ** BigInt(-exponent);
    const quotient = numerator / denominator;
    const twiceRemainder = 2n * (numerator % denominator);
    const roundUp =
      twiceRemainder > denominator || (twiceRemainder === denominator && quotient % 2n === 1n);
    scaled = roundUp ? quotient + 1n : quotient;
  }
  const text = scaled.toString().padStart(digits + 1, '0');
  const whole = text.slice(0, text.length - digits);
  const fraction = text.slice(text.length - digits);
  return `${negative ? '-' : ''}${whole}${digits > 0 ? `.${fraction}` : ''}`;
}

/** `x` (finite, ≥ 0) as `mantissa * 2^exponent` with integer mantissa. */
function decomposeDouble(x: number): { mantissa: bigint; exponent: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const biasedExponent = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  if (biasedExponent === 0) return { mantissa: fraction, exponent: -1074 };
  return { mantissa: fraction | (1n << 52n), exponent: biasedExponent - 1075 };
}
