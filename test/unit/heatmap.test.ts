import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { displayWidth, renderHeatmap, renderHeatmapSvg, shadeOf, SHADES, type HeatmapData } from '../../src/decode/heatmap.ts';

/** A line as terminal columns: a wide character fills its column and the next (marked ''). */
function columns(line: string): string[] {
  const out: string[] = [];
  for (const char of line) {
    const w = displayWidth(char);
    if (w === 0) out[out.length - 1] += char;
    else out.push(char, ...(w === 2 ? [''] : []));
  }
  return out;
}

/** Checks that every header token and every row's cell block start at the same terminal column. */
function assertAligned(data: HeatmapData): void {
  const [header, ...rows] = renderHeatmap(data);
  const widths = new Set([header!, ...rows].map(displayWidth));
  assert.equal(widths.size, 1, `all lines are equally wide: ${[header!, ...rows].map(displayWidth)}`);
  const labelWidth = Math.max(...data.target.map(displayWidth));
  let start = labelWidth + 2;
  const head = columns(header!);
  data.source.forEach((token, j) => {
    const width = Math.max(2, displayWidth(token));
    assert.equal(head.slice(start, start + displayWidth(token)).join(''), token, `header token ${j} at column ${start}`);
    rows.forEach((row, i) => {
      const cells = columns(row).slice(start, start + width);
      assert.deepEqual(cells, new Array(width).fill(shadeOf(data.attention[i]![j]!)), `row ${i} column ${j}`);
      assert.equal(columns(row)[start + width] ?? ' ', ' ', 'columns are separated by a space');
    });
    start += width + 1;
  });
}

describe('terminal heatmap', () => {
  test('weights map to the nearest of five shades', () => {
    assert.deepEqual([0, 0.1, 0.25, 0.5, 0.7, 0.9, 1].map(shadeOf), [' ', ' ', '░', '▒', '▓', '█', '█']);
    assert.equal(SHADES.length, 5);
  });

  test('display width counts CJK and full-width characters as two columns', () => {
    assert.equal(displayWidth('love'), 4);
    assert.equal(displayWidth('我爱你'), 6);
    assert.equal(displayWidth('，。'), 4);
    assert.equal(displayWidth('ｉＰｈｏｎｅ'), 12);
    assert.equal(displayWidth('café'), 4);
    assert.equal(displayWidth('cafe\u0301'), 4);
    assert.equal(displayWidth('こんにちは'), 10);
  });

  test('English source columns line up over Chinese target rows', () => {
    assertAligned({
      source: ['i', 'love', 'you', '.'],
      target: ['我', '爱', '你', '。'],
      attention: [
        [0.9, 0.05, 0.03, 0.02],
        [0.1, 0.8, 0.05, 0.05],
        [0.0, 0.1, 0.6, 0.3],
        [0.0, 0.0, 0.25, 0.75],
      ],
    });
  });

  test('Chinese source columns line up under mixed-width target rows', () => {
    assertAligned({
      source: ['我', '喜欢', 'iPhone', '。'],
      target: ['i', 'like', 'iphones', 'ｘ', '.'],
      attention: [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0.5, 0.5, 0],
        [0.25, 0.25, 0.25, 0.25],
        [0, 0, 0, 1],
      ],
    });
  });

  test('the header comes first, then one line per target token starting with its label', () => {
    const lines = renderHeatmap({ source: ['a', 'b'], target: ['甲', '乙'], attention: [[1, 0], [0, 1]] });
    assert.equal(lines.length, 3);
    assert.ok(lines[1]!.startsWith('甲  ██   '));
    assert.ok(lines[2]!.startsWith('乙     ██'));
  });
});

describe('SVG heatmap', () => {
  const item: HeatmapData = { source: ['<b>', 'love', '&'], target: ['我', '爱'], attention: [[1, 0, 0], [0, 0.5, 0.5]] };

  test('one rectangle per cell, grey by weight, labels escaped', () => {
    const svg = renderHeatmapSvg([item]);
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="\d+" height="\d+"/);
    assert.match(svg, /<\/svg>\n$/);
    assert.equal(svg.match(/<rect x=/g)!.length, 6);
    assert.equal(svg.match(/fill="rgb\(0,0,0\)"/g)!.length, 1);
    assert.equal(svg.match(/fill="rgb\(128,128,128\)"/g)!.length, 2);
    assert.ok(svg.includes('&lt;b&gt;') && svg.includes('>&amp;<') && !svg.includes('<b>'));
    assert.ok(svg.includes('>我</text>'));
  });

  test('several translations stack vertically in one picture', () => {
    const one = renderHeatmapSvg([item]);
    const two = renderHeatmapSvg([item, item]);
    const height = (svg: string): number => Number(/height="(\d+)"/.exec(svg)![1]);
    assert.equal(two.match(/<rect x=/g)!.length, 12);
    assert.ok(height(two) > 1.8 * height(one));
  });
});
