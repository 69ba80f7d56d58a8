/* Overview: totals for the range, then requests, latency, tokens and spend per time bucket. */
(function () {
  "use strict";
  var LG = window.LG;
  var el = LG.el;

  function card(metric, label, value, sub) {
    return el("div", { class: "card", "data-metric": metric },
      el("div", { class: "label", text: label }),
      el("div", { class: "value", text: value }),
      sub ? el("div", { class: "sub", text: sub }) : null);
  }

  function axis(title, format) {
    var ticks = format ? { callback: function (v) { return format(v); } } : {};
    return { beginAtZero: true, title: { display: true, text: title }, ticks: ticks };
  }

  function timeAxis() {
    return { ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 16 }, grid: { display: false } };
  }

  function tooltipFormat(format) {
    return {
      callbacks: {
        label: function (ctx) { return ctx.dataset.label + ": " + format(ctx.parsed.y); },
      },
    };
  }

  function render() {
    return LG.getJSON(LG.withQuery("/ui/api/overview")).then(function (data) {
      var totals = data.totals;
      var empty = document.getElementById("empty");
      var content = document.getElementById("content");
      if (totals.requests === 0) {
        LG.clear(empty).appendChild(LG.emptyState(
          "No requests in this range.",
          "Pick a longer range above, or send a request through the gateway:",
          LG.sendOneHint()));
        empty.classList.remove("hidden");
        content.classList.add("hidden");
        return;
      }
      empty.classList.add("hidden");
      content.classList.remove("hidden");

      LG.clear(document.getElementById("totals")).append(
        card("requests", "Requests", LG.fmtInt(totals.requests)),
        card("error_rate", "Error rate", LG.fmtPct(totals.error_rate), LG.fmtInt(totals.errors) + " errors"),
        card("p50", "p50 latency", LG.fmtMs(totals.p50_ms)),
        card("p95", "p95 latency", LG.fmtMs(totals.p95_ms)),
        card("input_tokens", "Input tokens", LG.fmtInt(totals.input_tokens)),
        card("output_tokens", "Output tokens", LG.fmtInt(totals.output_tokens)),
        card("cost", "Spend", LG.fmtUsd(totals.cost_usd)));

      var span = (new Date(data.until) - new Date(data.since)) / 1000;
      var labels = data.buckets.map(function (b) { return LG.fmtBucket(b.start, data.bucket_seconds, span); });
      var pick = function (name) { return data.buckets.map(function (b) { return b[name]; }); };
      var ok = data.buckets.map(function (b) { return b.requests - b.errors; });
      var C = LG.COLORS;

      LG.chart("chart-requests", {
        type: "bar",
        data: {
          labels: labels,
          datasets: [
            { label: "Successful", data: ok, backgroundColor: C.blue, stack: "r" },
            { label: "Errors", data: pick("errors"), backgroundColor: C.red, stack: "r" },
          ],
        },
        options: { scales: { x: Object.assign(timeAxis(), { stacked: true }), y: Object.assign(axis("requests"), { stacked: true }) } },
      });
      LG.chart("chart-latency", {
        type: "line",
        data: {
          labels: labels,
          datasets: [
            { label: "p50", data: pick("p50_ms"), borderColor: C.blue, backgroundColor: C.blue, spanGaps: true, tension: 0.2, pointRadius: 2 },
            { label: "p95", data: pick("p95_ms"), borderColor: C.orange, backgroundColor: C.orange, spanGaps: true, tension: 0.2, pointRadius: 2 },
          ],
        },
        options: { scales: { x: timeAxis(), y: axis("latency", LG.fmtMs) }, plugins: { tooltip: tooltipFormat(LG.fmtMs) } },
      });
      LG.chart("chart-tokens", {
        type: "bar",
        data: {
          labels: labels,
          datasets: [
            { label: "Input", data: pick("input_tokens"), backgroundColor: C.teal, stack: "t" },
            { label: "Output", data: pick("output_tokens"), backgroundColor: C.purple, stack: "t" },
          ],
        },
        options: { scales: { x: Object.assign(timeAxis(), { stacked: true }), y: Object.assign(axis("tokens", LG.fmtInt), { stacked: true }) } },
      });
      LG.chart("chart-spend", {
        type: "bar",
        data: {
          labels: labels,
          datasets: [{ label: "Spend", data: data.buckets.map(function (b) { return Number(b.cost_usd); }), backgroundColor: C.amber }],
        },
        options: {
          scales: { x: timeAxis(), y: axis("USD", LG.fmtUsdTick) },
          plugins: { legend: { display: false }, tooltip: tooltipFormat(LG.fmtUsd) },
        },
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { LG.boot("overview", render); });
})();
