// Server-side PDF reports (pdfkit, pure JavaScript): a summary page (period, filters, totals,
// metrics and the equity curve drawn as a vector path) and a table whose rows arrive in batches,
// with the header repeated on every page and a page number in each footer. The document is a
// stream: pages leave as they are finished, so the table's length does not decide the memory used.
import PDFDocument from "pdfkit";
import type { Readable } from "node:stream";

export interface PdfColumn {
  header: string;
  /** share of the table width */
  width: number;
  align?: "left" | "right";
}

export interface PdfReport {
  title: string;
  subtitle?: string;
  /** label/value pairs, in order */
  period: [string, string][];
  filters: [string, string][];
  totals: [string, string][];
  metrics: [string, string][];
  curve: { time: number; value: number }[];
  curveTitle: string;
  columns: PdfColumn[];
  rows: AsyncIterable<string[][]>;
  /** called when rendering fails after the stream started (the response is then cut short) */
  onError?: (e: Error) => void;
}

const MARGIN = 36;
const ROW_H = 13;
const FONT_SIZE = 7.5;

/** The standard PDF fonts cover Latin-1 only; anything else prints as "?". */
function printable(s: string): string {
  return s.replace(/[^\x20-\x7e\xa0-\xff]/g, "?");
}

export function renderPdf(r: PdfReport): Readable {
  const doc = new PDFDocument({
    size: "A4",
    layout: "landscape",
    margin: MARGIN,
    bufferPages: false,
    info: { Title: printable(r.title), Producer: "AURA", Creator: "AURA" },
  });
  let pageNo = 1;
  const footer = () => {
    // the footer sits in the bottom margin: drawing there must not open another page
    const bottom = doc.page.margins.bottom;
    doc.page.margins.bottom = 0;
    doc
      .font("Helvetica")
      .fontSize(8)
      .fillColor("#666666")
      .text(`Page ${pageNo}`, MARGIN, doc.page.height - MARGIN + 10, {
        width: doc.page.width - 2 * MARGIN,
        align: "right",
        lineBreak: false,
      });
    doc.page.margins.bottom = bottom;
    doc.fillColor("#000000");
  };
  footer();
  doc.on("pageAdded", () => {
    pageNo++;
    footer();
  });

  void (async () => {
    try {
      summaryPage(doc, r);
      await table(doc, r);
      doc.end();
    } catch (e) {
      r.onError?.(e as Error);
      doc.destroy(e as Error);
    }
  })();
  return doc;
}

function pairs(doc: PDFKit.PDFDocument, title: string, items: [string, string][], x: number, width: number) {
  if (!items.length) return;
  doc.font("Helvetica-Bold").fontSize(10).text(title, x, doc.y, { width });
  doc.moveDown(0.2);
  for (const [k, v] of items) {
    const y = doc.y;
    doc
      .font("Helvetica")
      .fontSize(8.5)
      .text(printable(k), x, y, { width: width * 0.45, lineBreak: false });
    doc.text(printable(v), x + width * 0.45, y, { width: width * 0.55, lineBreak: false });
    doc.y = y + 11;
  }
  doc.moveDown(0.6);
}

function summaryPage(doc: PDFKit.PDFDocument, r: PdfReport) {
  const w = doc.page.width - 2 * MARGIN;
  doc.font("Helvetica-Bold").fontSize(16).text(printable(r.title), MARGIN, MARGIN, { width: w });
  if (r.subtitle)
    doc.font("Helvetica").fontSize(9).fillColor("#444444").text(printable(r.subtitle), { width: w });
  doc.fillColor("#000000").moveDown(0.8);
  const top = doc.y;
  const colW = w * 0.38;
  pairs(doc, "Period", r.period, MARGIN, colW);
  pairs(doc, "Filters", r.filters.length ? r.filters : [["(none)", ""]], MARGIN, colW);
  pairs(doc, "Totals", r.totals, MARGIN, colW);
  const leftBottom = doc.y;
  doc.y = top;
  pairs(doc, "Metrics", r.metrics, MARGIN + colW + 20, w - colW - 20);
  const chartTop = Math.max(leftBottom, doc.y) + 6;
  const chartH = Math.max(120, doc.page.height - MARGIN - chartTop - 24);
  curve(doc, r.curve, r.curveTitle, MARGIN, chartTop, w, chartH);
}

/** The curve as one stroked vector path with its range written beside the axes. */
function curve(
  doc: PDFKit.PDFDocument,
  pts: { time: number; value: number }[],
  title: string,
  x: number,
  y: number,
  w: number,
  h: number,
) {
  doc.font("Helvetica-Bold").fontSize(10).text(printable(title), x, y, { width: w, lineBreak: false });
  const top = y + 16;
  const ph = h - 30;
  const left = x + 60;
  const pw = w - 70;
  doc.lineWidth(0.5).strokeColor("#999999").rect(left, top, pw, ph).stroke();
  if (pts.length === 0) {
    doc
      .font("Helvetica")
      .fontSize(9)
      .text("No data in this period.", left + 10, top + ph / 2, { lineBreak: false });
    return;
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of pts) {
    if (p.value < lo) lo = p.value;
    if (p.value > hi) hi = p.value;
  }
  if (hi === lo) {
    hi += 1;
    lo -= 1;
  }
  const t0 = pts[0].time;
  const t1 = pts[pts.length - 1].time;
  const span = t1 > t0 ? t1 - t0 : 1;
  const px = (t: number) => left + (pts.length === 1 ? pw / 2 : ((t - t0) / span) * pw);
  const py = (v: number) => top + ph - ((v - lo) / (hi - lo)) * ph;
  doc.font("Helvetica").fontSize(7).fillColor("#444444");
  doc.text(fmt(hi), x, top - 3, { width: 56, align: "right", lineBreak: false });
  doc.text(fmt(lo), x, top + ph - 6, { width: 56, align: "right", lineBreak: false });
  doc.text(new Date(t0).toISOString().slice(0, 16).replace("T", " "), left, top + ph + 3, {
    lineBreak: false,
  });
  doc.text(new Date(t1).toISOString().slice(0, 16).replace("T", " "), left + pw - 80, top + ph + 3, {
    width: 80,
    align: "right",
    lineBreak: false,
  });
  doc.fillColor("#000000");
  if (lo < 0 && hi > 0) {
    doc
      .strokeColor("#cccccc")
      .moveTo(left, py(0))
      .lineTo(left + pw, py(0))
      .stroke();
  }
  doc.lineWidth(1).strokeColor("#1f5fbf").moveTo(px(pts[0].time), py(pts[0].value));
  for (let i = 1; i < pts.length; i++) doc.lineTo(px(pts[i].time), py(pts[i].value));
  doc.stroke();
  doc.strokeColor("#000000").lineWidth(1);
}

function fmt(v: number): string {
  return Math.abs(v) >= 1000 ? v.toFixed(0) : v.toFixed(2);
}

async function table(doc: PDFKit.PDFDocument, r: PdfReport) {
  const w = doc.page.width - 2 * MARGIN;
  const total = r.columns.reduce((s, c) => s + c.width, 0);
  const widths = r.columns.map((c) => (c.width / total) * w);
  const bottom = () => doc.page.height - doc.page.margins.bottom;
  let y = 0;
  const header = () => {
    y = MARGIN;
    let x = MARGIN;
    doc.font("Helvetica-Bold").fontSize(FONT_SIZE);
    r.columns.forEach((c, i) => {
      doc.text(c.header, x + 2, y + 3, { width: widths[i] - 4, align: c.align ?? "left", lineBreak: false });
      x += widths[i];
    });
    y += ROW_H;
    doc
      .lineWidth(0.5)
      .strokeColor("#888888")
      .moveTo(MARGIN, y)
      .lineTo(MARGIN + w, y)
      .stroke();
    doc.font("Helvetica").fontSize(FONT_SIZE);
  };
  doc.addPage();
  header();
  let any = false;
  for await (const batch of r.rows) {
    for (const row of batch) {
      any = true;
      if (y + ROW_H > bottom()) {
        doc.addPage();
        header();
      }
      let x = MARGIN;
      row.forEach((cell, i) => {
        doc.text(printable(cell), x + 2, y + 3, {
          width: widths[i] - 4,
          height: ROW_H,
          align: r.columns[i].align ?? "left",
          lineBreak: false,
          ellipsis: true,
        });
        x += widths[i];
      });
      y += ROW_H;
    }
    // let the consumer take the pages written so far before the next batch is drawn
    await new Promise<void>((res) => setImmediate(res));
  }
  if (!any) doc.text("No rows.", MARGIN, y + 4, { lineBreak: false });
}
