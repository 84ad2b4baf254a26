// The training chart: training loss (every reported iteration) and validation loss (every validation) against the
// iteration, drawn on a canvas by the page itself (no library, nothing fetched).

export interface Series {
  label: string;
  color: string;
  points: Array<[number, number]>; // [iteration, loss in nats per character]
  dots?: boolean;
}

const FONT = '12px system-ui, -apple-system, "Segoe UI", sans-serif';

/** A "nice" step (1, 2 or 5 × 10^k) giving about `count` ticks over `span`. */
function tickStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  return (unit < 1.5 ? 1 : unit < 3.5 ? 2 : unit < 7.5 ? 5 : 10) * power;
}

export function drawChart(canvas: HTMLCanvasElement, series: Series[], xMaxHint: number): void {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const g = canvas.getContext('2d');
  if (!g) return;
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  g.font = FONT;

  const all = series.flatMap((s) => s.points);
  const left = 44, right = 12, top = 12, bottom = 28;
  const plotW = width - left - right, plotH = height - top - bottom;
  if (all.length === 0) {
    g.fillStyle = '#8a8f98';
    g.textAlign = 'center';
    g.fillText('loss per character, as training goes', left + plotW / 2, top + plotH / 2);
    return;
  }
  const xMax = Math.max(xMaxHint, ...all.map((p) => p[0]), 1);
  let yMin = Math.min(...all.map((p) => p[1]));
  let yMax = Math.max(...all.map((p) => p[1]));
  if (yMax - yMin < 0.1) { yMax += 0.05; yMin -= 0.05; }
  const yPad = (yMax - yMin) * 0.08;
  yMin = Math.max(0, yMin - yPad);
  yMax += yPad;
  const x = (i: number) => left + (i / xMax) * plotW;
  const y = (l: number) => top + (1 - (l - yMin) / (yMax - yMin)) * plotH;

  // grid and axes
  g.strokeStyle = '#e6e8eb';
  g.fillStyle = '#6b7280';
  g.lineWidth = 1;
  g.textAlign = 'right';
  g.textBaseline = 'middle';
  const yStep = tickStep(yMax - yMin, 4);
  for (let v = Math.ceil(yMin / yStep) * yStep; v <= yMax; v += yStep) {
    g.beginPath();
    g.moveTo(left, Math.round(y(v)) + 0.5);
    g.lineTo(left + plotW, Math.round(y(v)) + 0.5);
    g.stroke();
    g.fillText(v.toFixed(yStep < 0.1 ? 2 : 1), left - 6, y(v));
  }
  g.textAlign = 'center';
  g.textBaseline = 'top';
  const xStep = Math.max(1, tickStep(xMax, 5));
  for (let v = 0; v <= xMax; v += xStep) g.fillText(String(Math.round(v)), x(v), top + plotH + 8);

  for (const s of series) {
    if (s.points.length === 0) continue;
    g.strokeStyle = s.color;
    g.fillStyle = s.color;
    g.lineWidth = 1.75;
    g.beginPath();
    s.points.forEach(([i, l], k) => (k === 0 ? g.moveTo(x(i), y(l)) : g.lineTo(x(i), y(l))));
    g.stroke();
    if (s.dots) {
      for (const [i, l] of s.points) {
        g.beginPath();
        g.arc(x(i), y(l), 3, 0, 2 * Math.PI);
        g.fill();
      }
    }
  }

  // legend, top right
  g.textAlign = 'right';
  g.textBaseline = 'middle';
  let lx = left + plotW - 4;
  for (const s of [...series].reverse()) {
    g.fillStyle = '#374151';
    g.fillText(s.label, lx, top + 8);
    lx -= g.measureText(s.label).width + 8;
    g.fillStyle = s.color;
    g.fillRect(lx - 12, top + 6, 12, 3);
    lx -= 24;
  }
}
