// Line charts (Chart.js): equity curves, drawdown, and runs overlaid for comparison. Only the
// pieces these charts use are registered, so the bundle carries nothing else. The x axis is a
// plain linear scale of epoch ms labelled through format.ts, which spares a date adapter.
import {
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartDataset,
} from "chart.js";
import { formatDate, formatTime, type TimeZoneMode } from "../format";
import type { Point } from "../series";

Chart.register(LineController, LineElement, PointElement, LinearScale, Tooltip, Legend, Filler);

export const PALETTE = [
  "#2563eb",
  "#d97706",
  "#059669",
  "#7c3aed",
  "#db2777",
  "#0891b2",
  "#65a30d",
  "#dc2626",
];

export interface LineSeries {
  label: string;
  points: readonly Point[];
  color?: string;
  fill?: boolean;
}

export interface LineChartOptions {
  zone: TimeZoneMode;
  yLabel: string;
  yFormat: (v: number) => string;
}

export function datasets(series: readonly LineSeries[]): ChartDataset<"line", { x: number; y: number }[]>[] {
  return series.map((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    return {
      label: s.label,
      data: s.points.map((p) => ({ x: p.time, y: p.value })),
      borderColor: color,
      backgroundColor: s.fill ? `${color}33` : color,
      fill: s.fill ? "origin" : false,
      borderWidth: 1.5,
      pointRadius: 0,
      pointHitRadius: 4,
      tension: 0,
    };
  });
}

/** The time span the series cover, so the x axis starts and ends with the data. */
export function xBounds(series: readonly LineSeries[]): { min?: number; max?: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const s of series)
    if (s.points.length) {
      min = Math.min(min, s.points[0].time);
      max = Math.max(max, s.points[s.points.length - 1].time);
    }
  return Number.isFinite(min) ? { min, max } : {};
}

export function createLineChart(
  canvas: HTMLCanvasElement,
  series: readonly LineSeries[],
  o: LineChartOptions,
): Chart<"line", { x: number; y: number }[]> {
  return new Chart<"line", { x: number; y: number }[]>(canvas, {
    type: "line",
    data: { datasets: datasets(series) },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      scales: {
        x: {
          type: "linear",
          ...xBounds(series),
          ticks: { maxTicksLimit: 8, callback: (v) => formatDate(Number(v), o.zone) },
          grid: { display: false },
        },
        y: {
          title: { display: true, text: o.yLabel },
          ticks: { callback: (v) => o.yFormat(Number(v)) },
        },
      },
      plugins: {
        legend: { display: series.length > 1 },
        tooltip: {
          callbacks: {
            title: (items) =>
              items[0] ? formatTime(items[0].parsed.x as number, o.zone, { label: true }) : "",
            label: (item) => `${item.dataset.label}: ${o.yFormat(item.parsed.y as number)}`,
          },
        },
      },
    },
  });
}
