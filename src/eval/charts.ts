import sharp from 'sharp';
import * as vega from 'vega';

/**
 * The report's pictures as Vega specifications (the JSON grammar, https://vega.github.io/vega/docs/),
 * rendered headless to SVG by Vega's own scenegraph (`renderer: 'none'` + `toSVG()`, no canvas) and
 * rasterised to PNG by sharp (librsvg). vega-lite would be shorter to write but needs Node 22.
 */

export interface Chart {
  name: string;
  title: string;
  svg: string;
  png: Buffer;
}

const SIZE = 320;
const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

const unitScale = (name: string, range: 'width' | 'height') => ({
  name,
  type: 'linear',
  domain: [0, 1],
  range,
  nice: false,
  zero: true,
});

const colour = {
  name: 'colour',
  type: 'ordinal',
  domain: { data: 'points', field: 'series' },
  range: 'category',
};

const diagonal = {
  type: 'rule',
  encode: {
    enter: {
      x: { scale: 'x', value: 0 },
      y: { scale: 'y', value: 0 },
      x2: { scale: 'x', value: 1 },
      y2: { scale: 'y', value: 1 },
      stroke: { value: '#999' },
      strokeDash: { value: [4, 4] },
    },
  },
};

function frame(title: string, data: unknown[], axes: { x: string; y: string }, marks: unknown[]) {
  return {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width: SIZE,
    height: SIZE,
    padding: 8,
    background: 'white',
    config: { text: { font: FONT }, axis: { labelFont: FONT, titleFont: FONT }, title: { font: FONT } },
    title: { text: title, fontSize: 14 },
    data: [{ name: 'points', values: data }],
    scales: [unitScale('x', 'width'), unitScale('y', 'height'), colour],
    axes: [
      { orient: 'bottom', scale: 'x', title: axes.x, grid: true, tickCount: 5 },
      { orient: 'left', scale: 'y', title: axes.y, grid: true, tickCount: 5 },
    ],
    legends: [{ fill: 'colour', stroke: 'colour', orient: 'bottom-right', labelFont: FONT, labelLimit: 280 }],
    marks: [diagonal, ...marks],
  };
}

export interface RocSeries {
  series: string;
  points: Array<{ fpr: number; tpr: number }>;
}

/** One line per series over the 'points' data, ordered by `order`, coloured by series. */
function linePerSeries(xField: string, yField: string, style: Record<string, unknown>) {
  return {
    type: 'group',
    from: { facet: { name: 'line', data: 'points', groupby: 'series' } },
    marks: [
      {
        type: 'line',
        from: { data: 'line' },
        sort: { field: 'datum.order' },
        encode: {
          enter: {
            x: { scale: 'x', field: xField },
            y: { scale: 'y', field: yField },
            stroke: { scale: 'colour', field: 'series' },
            ...style,
          },
        },
      },
    ],
  };
}

/** ROC curves (one line per series) over the chance diagonal. */
export function rocSpec(title: string, series: readonly RocSeries[]) {
  const data = series.flatMap((s) => s.points.map((p, order) => ({ series: s.series, order, ...p })));
  // Straight segments between thresholds: tied scores make the diagonal segment of an empirical ROC,
  // which is exactly what the Mann–Whitney AUROC integrates.
  return frame(title, data, { x: '1 − specificity (false-positive rate)', y: 'sensitivity' }, [
    linePerSeries('fpr', 'tpr', { strokeWidth: { value: 2 }, interpolate: { value: 'linear' } }),
  ]);
}

export interface ReliabilitySeries {
  series: string;
  bins: Array<{ meanScore: number; observed: number; count: number }>;
}

/** Reliability diagram: observed frequency against mean predicted P(yes) per bin, sized by cases. */
export function reliabilitySpec(title: string, series: readonly ReliabilitySeries[]) {
  const data = series.flatMap((s) => s.bins.map((bin, order) => ({ series: s.series, order, ...bin })));
  const spec = frame(title, data, { x: 'mean predicted P(yes)', y: 'observed frequency' }, [
    linePerSeries('meanScore', 'observed', { strokeWidth: { value: 1.5 } }),
    {
      type: 'symbol',
      from: { data: 'points' },
      encode: {
        enter: {
          x: { scale: 'x', field: 'meanScore' },
          y: { scale: 'y', field: 'observed' },
          fill: { scale: 'colour', field: 'series' },
          size: { scale: 'count', field: 'count' },
          tooltip: { signal: "datum.count + ' cases'" },
        },
      },
    },
  ]);
  spec.scales.push({
    name: 'count',
    type: 'sqrt',
    domain: { data: 'points', field: 'count' },
    range: [20, 300],
  } as never);
  return spec;
}

export interface ConfusionCell {
  reference: string;
  read: string;
  count: number;
}

/** A confusion table as a heat map with the count in each cell (reference down, read across). */
export function confusionSpec(
  title: string,
  cells: readonly ConfusionCell[],
  rows: readonly string[],
  columns: readonly string[] = rows,
) {
  const side = Math.max(180, 70 * Math.max(rows.length, columns.length));
  return {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width: side,
    height: side,
    padding: 8,
    background: 'white',
    config: { text: { font: FONT }, axis: { labelFont: FONT, titleFont: FONT }, title: { font: FONT } },
    title: { text: title, fontSize: 14 },
    data: [{ name: 'cells', values: cells }],
    scales: [
      { name: 'x', type: 'band', domain: [...columns], range: 'width' },
      { name: 'y', type: 'band', domain: [...rows], range: 'height' },
      {
        name: 'heat',
        type: 'linear',
        domain: { data: 'cells', field: 'count' },
        range: ['#f4f8fb', '#2b6cb0'],
      },
    ],
    axes: [
      { orient: 'top', scale: 'x', title: 'read', labelAngle: 0 },
      { orient: 'left', scale: 'y', title: 'reference' },
    ],
    marks: [
      {
        type: 'rect',
        from: { data: 'cells' },
        encode: {
          enter: {
            x: { scale: 'x', field: 'read' },
            width: { scale: 'x', band: 1 },
            y: { scale: 'y', field: 'reference' },
            height: { scale: 'y', band: 1 },
            fill: { scale: 'heat', field: 'count' },
            stroke: { value: 'white' },
          },
        },
      },
      {
        type: 'text',
        from: { data: 'cells' },
        encode: {
          enter: {
            x: { scale: 'x', field: 'read', band: 0.5 },
            y: { scale: 'y', field: 'reference', band: 0.5 },
            text: { field: 'count' },
            align: { value: 'center' },
            baseline: { value: 'middle' },
            fontSize: { value: 16 },
            fill: { value: '#1a202c' },
          },
        },
      },
    ],
  };
}

/** Render a spec to SVG with Vega's headless view, then to PNG at 2× for sharp screens. */
export async function renderChart(name: string, title: string, spec: object): Promise<Chart> {
  const view = new vega.View(vega.parse(spec as vega.Spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG(2);
    const png = await sharp(Buffer.from(svg)).png().toBuffer();
    return { name, title, svg, png };
  } finally {
    view.finalize();
  }
}
