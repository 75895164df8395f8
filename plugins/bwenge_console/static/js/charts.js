// Bar charts as SVG built node by node (labels are untrusted text: text nodes only).

import { h, svg } from "./dom.js";

/** barChart([{label, value}], {title, horizontal}) -> an <svg> with a <title> and a table fallback. */
export function barChart(data, { title = "", horizontal = false } = {}) {
  if (!data.length) return h("p", { class: "hint" }, "No data yet.");
  const max = Math.max(1, ...data.map((d) => Number(d.value) || 0));
  const wrap = h("div", { class: "chart" });
  if (horizontal) {
    const row = 28;
    const width = 600;
    const labelW = 220;
    const chart = svg("svg", { viewBox: `0 0 ${width} ${data.length * row + 8}`, role: "img", class: "bars horizontal" });
    chart.append(svg("title", {}, title));
    data.forEach((d, i) => {
      const w = ((Number(d.value) || 0) / max) * (width - labelW - 60);
      const y = i * row + 4;
      chart.append(
        svg("text", { x: 0, y: y + 17, class: "label" }, truncate(d.label, 32)),
        svg("rect", { x: labelW, y, width: Math.max(w, 1), height: row - 8, class: "bar" }),
        svg("text", { x: labelW + w + 6, y: y + 17, class: "value" }, String(d.value)),
      );
    });
    wrap.append(chart);
  } else {
    const height = 160;
    const col = 64;
    const chart = svg("svg", { viewBox: `0 0 ${data.length * col} ${height + 40}`, role: "img", class: "bars" });
    chart.append(svg("title", {}, title));
    data.forEach((d, i) => {
      const bh = ((Number(d.value) || 0) / max) * height;
      const x = i * col + 12;
      chart.append(
        svg("rect", { x, y: height - bh + 4, width: col - 24, height: Math.max(bh, 1), class: "bar" }),
        svg("text", { x: x + (col - 24) / 2, y: height - bh, class: "value", "text-anchor": "middle" }, String(d.value)),
        svg("text", { x: x + (col - 24) / 2, y: height + 24, class: "label", "text-anchor": "middle" }, truncate(d.label, 10)),
      );
    });
    wrap.append(chart);
  }
  // The same numbers as a table for screen readers and copy-paste.
  wrap.append(
    h(
      "table",
      { class: "visually-hidden" },
      h("caption", {}, title),
      h("tbody", {}, data.map((d) => h("tr", {}, h("th", { scope: "row", dir: "auto" }, String(d.label)), h("td", {}, String(d.value))))),
    ),
  );
  return wrap;
}

function truncate(value, n) {
  const s = String(value ?? "");
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
