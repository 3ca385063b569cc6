/**
 * Attention heatmaps: source tokens as columns, target tokens as rows, one
 * cell per weight. In the terminal a cell is a run of shade blocks ` ░▒▓█`
 * as wide as its column; columns line up with East Asian wide characters
 * (which take two terminal columns). The SVG picture shows the same grid.
 */

export interface HeatmapData {
  /** Column labels. */
  source: readonly string[];
  /** Row labels. */
  target: readonly string[];
  /** [target.length][source.length], weights in [0, 1]. */
  attention: readonly (readonly number[])[];
}

export const SHADES = [' ', '░', '▒', '▓', '█'] as const;

/** The shade of a weight: the nearest of 0, ¼, ½, ¾, 1. */
export function shadeOf(weight: number): string {
  const level = Math.round(Math.min(1, Math.max(0, weight)) * (SHADES.length - 1));
  return SHADES[level]!;
}

/** Code points that take two terminal columns (East Asian Wide and Fullwidth). */
const WIDE_RANGES: readonly [number, number][] = [
  [0x1100, 0x115f], // Hangul Jamo initials
  [0x2e80, 0x303e], // CJK radicals, Kangxi, ideographic description, CJK symbols and punctuation
  [0x3041, 0x33ff], // Hiragana, Katakana, Bopomofo, Hangul compatibility, Kanbun, CJK compatibility
  [0x3400, 0x4dbf], // CJK extension A
  [0x4e00, 0x9fff], // CJK unified ideographs
  [0xa000, 0xa4cf], // Yi
  [0xa960, 0xa97f], // Hangul Jamo extended-A
  [0xac00, 0xd7a3], // Hangul syllables
  [0xf900, 0xfaff], // CJK compatibility ideographs
  [0xfe10, 0xfe19], // vertical forms
  [0xfe30, 0xfe6f], // CJK compatibility forms, small form variants
  [0xff00, 0xff60], // fullwidth forms
  [0xffe0, 0xffe6], // fullwidth signs
  [0x1f300, 0x1f64f], // pictographs, emoticons
  [0x1f900, 0x1f9ff], // supplemental symbols and pictographs
  [0x20000, 0x3fffd], // CJK extensions B and beyond
];

const ZERO_WIDTH = /[\p{M}\u200b-\u200f\u2060\ufeff]/u;

/** Terminal columns a code point takes: 0 (combining, zero-width), 1, or 2 (wide). */
export function charWidth(char: string): number {
  if (ZERO_WIDTH.test(char)) return 0;
  const cp = char.codePointAt(0)!;
  return WIDE_RANGES.some(([lo, hi]) => cp >= lo && cp <= hi) ? 2 : 1;
}

/** Terminal columns a string takes. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) width += charWidth(char);
  return width;
}

/** Pads with spaces to `width` terminal columns. */
export function padToWidth(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - displayWidth(text)));
}

/**
 * The heatmap as terminal lines: a header of source tokens, then one line per
 * target token, `label  cells`. Every column is at least two cells wide and as
 * wide as its source token; columns are separated by one space.
 */
export function renderHeatmap(data: HeatmapData): string[] {
  const labelWidth = Math.max(0, ...data.target.map(displayWidth));
  const widths = data.source.map((token) => Math.max(2, displayWidth(token)));
  const header = padToWidth('', labelWidth) + '  ' + data.source.map((token, j) => padToWidth(token, widths[j]!)).join(' ');
  const rows = data.target.map((token, i) => {
    const cells = widths.map((w, j) => shadeOf(data.attention[i]?.[j] ?? 0).repeat(w));
    return padToWidth(token, labelWidth) + '  ' + cells.join(' ');
  });
  return [header, ...rows];
}

// ---------------------------------------------------------------- SVG

const CELL = 22;
const FONT = 13;
/** Rough advance of one terminal column at FONT px. */
const COLUMN_PX = 8;
const GAP = 24;

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** One grey level per weight: white for 0, black for 1. */
function fillOf(weight: number): string {
  const v = Math.round(255 * (1 - Math.min(1, Math.max(0, weight))));
  return `rgb(${v},${v},${v})`;
}

interface Block {
  svg: string[];
  width: number;
  height: number;
}

/** One heatmap drawn at vertical offset `top`: source labels slanted above the grid, target labels left of it. */
function heatmapBlock(data: HeatmapData, top: number): Block {
  const labelWidth = Math.max(0, ...data.target.map(displayWidth)) * COLUMN_PX + 8;
  const headerHeight = Math.ceil(Math.max(0, ...data.source.map(displayWidth)) * COLUMN_PX * Math.SQRT1_2) + FONT + 8;
  const gridTop = top + headerHeight;
  const svg: string[] = [];
  data.source.forEach((token, j) => {
    const x = labelWidth + j * CELL + CELL / 2;
    const y = gridTop - 6;
    svg.push(`<text x="${x}" y="${y}" transform="rotate(-45 ${x} ${y})">${escapeXml(token)}</text>`);
  });
  data.target.forEach((token, i) => {
    const y = Math.round(gridTop + i * CELL + CELL / 2 + FONT / 3);
    svg.push(`<text x="${labelWidth - 6}" y="${y}" text-anchor="end">${escapeXml(token)}</text>`);
    data.source.forEach((_, j) => {
      const w = data.attention[i]?.[j] ?? 0;
      svg.push(
        `<rect x="${labelWidth + j * CELL}" y="${gridTop + i * CELL}" width="${CELL}" height="${CELL}" fill="${fillOf(w)}"><title>${escapeXml(token)} ← ${escapeXml(data.source[j]!)}: ${w.toFixed(3)}</title></rect>`,
      );
    });
  });
  return {
    svg,
    width: labelWidth + data.source.length * CELL + headerHeight,
    height: headerHeight + data.target.length * CELL,
  };
}

/** The heatmaps of several translations stacked in one SVG picture. */
export function renderHeatmapSvg(items: readonly HeatmapData[]): string {
  const parts: string[] = [];
  let top = GAP / 2;
  let width = 0;
  for (const item of items) {
    const block = heatmapBlock(item, top);
    parts.push(`<g>`, ...block.svg, `</g>`);
    top += block.height + GAP;
    width = Math.max(width, block.width);
  }
  const height = Math.max(top - GAP / 2, 1);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${Math.ceil(width + GAP)}" height="${Math.ceil(height)}" font-family="sans-serif" font-size="${FONT}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
