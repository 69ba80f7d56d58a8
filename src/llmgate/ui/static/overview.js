/* Overview: totals for the range, then requests, latency, tokens and spend per time bucket, and the
   same totals per users' rating of the requests (good, bad, unrated). */
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

  var RATING_TITLES = { good: "Rated good", bad: "Rated bad", unrated: "Unrated" };

  function feedbackTable(split) {
    var head = el("tr", {}, ["rating", "requests", "error rate", "p50 latency", "p95 latency",
      "input tokens", "output tokens", "spend"].map(function (name, i) {
      return el("th", { class: i ? "num" : null, text: name });
    }));
    var body = el("tbody", {}, split.groups.map(function (g) {
      return el("tr", { "data-rating": g.rating },
        el("td", { text: RATING_TITLES[g.rating] || g.rating }),
        el("td", { class: "num", "data-figure": "requests", text: LG.fmtInt(g.requests) }),
        el("td", { class: "num", "data-figure": "error_rate", text: LG.fmtPct(g.error_rate) }),
        el("td", { class: "num", text: LG.fmtMs(g.p50_ms) }),
        el("td", { class: "num", text: LG.fmtMs(g.p95_ms) }),
        el("td", { class: "num", text: LG.fmtInt(g.input_tokens) }),
        el("td", { class: "num", text: LG.fmtInt(g.output_tokens) }),
        el("td", { class: "num", "data-figure": "cost_usd", title: g.cost_usd, text: LG.fmtUsd(g.cost_usd) }));
    }));
    LG.append(LG.clear(document.getElementById("feedback-table")), [el("thead", {}, head), body]);
  }

  function render() {
    var split = LG.getJSON(LG.withQuery("/ui/api/overview/feedback"));
    return Promise.all([LG.getJSON(LG.withQuery("/ui/api/overview")), split]).then(function (results) {
      var data = results[0];
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
      feedbackTable(results[1]);

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
