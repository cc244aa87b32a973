import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import type { Trial, TrialState } from './experiments';
import { formatMetric } from './experiments';

/**
 * One trial's metric as a point of the chart.
 */
export interface IMetricPoint {
  trial: string;
  index: number;
  /**
   * The position in the order of finish (0 for the first to finish).
   */
  order: number;
  metric: number;
  state: TrialState;
}

/**
 * The points of the metric chart: each trial with a metric, in the order
 * they finished (unfinished ones last, by index).
 */
export function metricPoints(trials: readonly Trial[]): IMetricPoint[] {
  return trials
    .filter(
      (t): t is Trial & { metric: number } =>
        typeof t.metric === 'number' && Number.isFinite(t.metric)
    )
    .slice()
    .sort((a, b) => {
      const fa = a.finished_at ? Date.parse(a.finished_at) : Infinity;
      const fb = b.finished_at ? Date.parse(b.finished_at) : Infinity;
      return fa !== fb ? fa - fb : a.index - b.index;
    })
    .map((t, order) => ({
      trial: t.trial,
      index: t.index,
      order,
      metric: t.metric,
      state: t.state
    }));
}

/**
 * The best metric so far after each point, among the finished trials (the
 * ones the search compares), as [order, best] pairs.
 */
export function bestSoFar(
  points: readonly IMetricPoint[],
  direction: 'max' | 'min' | null | undefined
): [number, number][] {
  const line: [number, number][] = [];
  let best: number | null = null;
  for (const point of points) {
    if (point.state !== 'FINISHED') {
      continue;
    }
    if (
      best === null ||
      (direction === 'min' ? point.metric < best : point.metric > best)
    ) {
      best = point.metric;
    }
    line.push([point.order, best]);
  }
  return line;
}

/**
 * A linear map from `[low, high]` onto `[from, to]`; a single value lands in
 * the middle.
 */
export function linearScale(
  low: number,
  high: number,
  from: number,
  to: number
): (value: number) => number {
  if (!(high > low)) {
    const middle = (from + to) / 2;
    return () => middle;
  }
  return value => from + ((value - low) / (high - low)) * (to - from);
}

/**
 * At most `limit` of a line's points (every n-th, the last kept): a trial may
 * report a thousand steps, which a small chart cannot show anyway.
 */
export function thin<T>(values: readonly T[], limit: number): T[] {
  if (values.length <= limit) {
    return values.slice();
  }
  const stride = Math.ceil(values.length / limit);
  const kept = values.filter((_, i) => i % stride === 0);
  if (kept[kept.length - 1] !== values[values.length - 1]) {
    kept.push(values[values.length - 1]);
  }
  return kept;
}

const WIDTH = 560;
const HEIGHT = 220;
const MARGIN = { top: 12, right: 16, bottom: 30, left: 60 };
const LINE_POINTS = 200;

function extent(values: number[]): [number, number] {
  let low = Infinity;
  let high = -Infinity;
  for (const v of values) {
    low = Math.min(low, v);
    high = Math.max(high, v);
  }
  return [low, high];
}

function stateClass(state: string): string {
  return state.toLowerCase().replace('_', '-');
}

/**
 * The y axis: three labelled ticks and grid lines.
 */
function YAxis(props: {
  low: number;
  high: number;
  y: (v: number) => number;
}): JSX.Element {
  const { low, high, y } = props;
  const ticks = high > low ? [low, (low + high) / 2, high] : [low];
  return (
    <g className="hwl-chart-axis hwl-chart-y">
      {ticks.map(tick => (
        <g key={tick}>
          <line
            className="hwl-chart-grid"
            x1={MARGIN.left}
            x2={WIDTH - MARGIN.right}
            y1={y(tick)}
            y2={y(tick)}
          />
          <text
            x={MARGIN.left - 6}
            y={y(tick)}
            textAnchor="end"
            dominantBaseline="middle"
          >
            {formatMetric(tick)}
          </text>
        </g>
      ))}
    </g>
  );
}

/**
 * The props of {@link MetricChart}.
 */
export interface IMetricChartProps {
  trials: readonly Trial[];
  /**
   * The metric's name (the y axis).
   */
  metric: string;
  direction: 'max' | 'min' | null | undefined;
  bestTrial: string | null | undefined;
  trans: TranslationBundle;
}

/**
 * One point per trial with a metric, in the order of finish, coloured by
 * the trial's state, the best one ringed, and the best so far as a step line.
 */
export function MetricChart(props: IMetricChartProps): JSX.Element {
  const { trials, metric, direction, bestTrial, trans } = props;
  const points = metricPoints(trials);
  if (points.length === 0) {
    return (
      <p className="hwl-empty hwl-chart-empty">
        {trans.__('No trial has reported %1 yet.', metric)}
      </p>
    );
  }
  const [low, high] = extent(points.map(p => p.metric));
  const x = linearScale(
    0,
    points.length - 1,
    MARGIN.left + 8,
    WIDTH - MARGIN.right - 8
  );
  const y = linearScale(low, high, HEIGHT - MARGIN.bottom, MARGIN.top);
  const best = bestSoFar(points, direction);
  const step = best
    .map(([order, value], i) => {
      const prev = i > 0 ? best[i - 1][1] : value;
      return `${x(order)},${y(prev)} ${x(order)},${y(value)}`;
    })
    .join(' ');
  return (
    <svg
      className="hwl-chart hwl-metric-chart"
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      role="img"
      aria-label={trans.__(
        '%1 of each trial, in the order they finished',
        metric
      )}
    >
      <YAxis low={low} high={high} y={y} />
      <text
        className="hwl-chart-label"
        x={(MARGIN.left + WIDTH - MARGIN.right) / 2}
        y={HEIGHT - 6}
        textAnchor="middle"
      >
        {trans.__('trials in the order they finished')}
      </text>
      {best.length > 1 && (
        <polyline className="hwl-chart-best-line" points={step} fill="none" />
      )}
      {points.map(point => (
        <circle
          key={point.trial}
          className={`hwl-chart-point hwl-chart-${stateClass(point.state)}${
            point.trial === bestTrial ? ' hwl-chart-best' : ''
          }`}
          data-trial={point.trial}
          data-state={point.state}
          cx={x(point.order)}
          cy={y(point.metric)}
          r={point.trial === bestTrial ? 6 : 4}
        >
          <title>
            {trans.__(
              '%1: %2 = %3 (%4)',
              point.trial,
              metric,
              formatMetric(point.metric),
              point.state
            )}
          </title>
        </circle>
      ))}
    </svg>
  );
}

/**
 * The props of {@link HistoryChart}.
 */
export interface IHistoryChartProps {
  trials: readonly Trial[];
  metric: string;
  bestTrial: string | null | undefined;
  trans: TranslationBundle;
}

/**
 * The intermediate metrics the trials reported (`reporter.broadcast`), one
 * line per trial over the steps, coloured by state: where the early-stopped
 * ones fell behind. Nothing when no trial reported any.
 */
export function HistoryChart(props: IHistoryChartProps): JSX.Element | null {
  const { trials, metric, bestTrial, trans } = props;
  const series = trials
    .filter(t => (t.history ?? []).length > 0)
    .map(t => ({
      trial: t.trial,
      state: t.state,
      history: thin(t.history as [number, number][], LINE_POINTS)
    }));
  if (series.length === 0) {
    return null;
  }
  const steps: number[] = [];
  const reported: number[] = [];
  for (const s of series) {
    for (const [step, value] of s.history) {
      steps.push(step);
      reported.push(value);
    }
  }
  const [first, last] = extent(steps);
  const values = extent(reported);
  const x = linearScale(first, last, MARGIN.left + 8, WIDTH - MARGIN.right - 8);
  const y = linearScale(
    values[0],
    values[1],
    HEIGHT - MARGIN.bottom,
    MARGIN.top
  );
  return (
    <svg
      className="hwl-chart hwl-history-chart"
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      role="img"
      aria-label={trans.__('%1 reported by each trial over its steps', metric)}
    >
      <YAxis low={values[0]} high={values[1]} y={y} />
      <text
        className="hwl-chart-label"
        x={(MARGIN.left + WIDTH - MARGIN.right) / 2}
        y={HEIGHT - 6}
        textAnchor="middle"
      >
        {trans.__('step %1 to %2', first, last)}
      </text>
      {series.map(s => (
        <polyline
          key={s.trial}
          className={`hwl-chart-line hwl-chart-${stateClass(s.state)}${
            s.trial === bestTrial ? ' hwl-chart-best' : ''
          }`}
          data-trial={s.trial}
          data-state={s.state}
          fill="none"
          points={s.history.map(([step, v]) => `${x(step)},${y(v)}`).join(' ')}
        >
          <title>{trans.__('%1 (%2)', s.trial, s.state)}</title>
        </polyline>
      ))}
    </svg>
  );
}
