/*
 * Evals: the latest run of each suite and model, pass rate over time, every run with its
 * regression verdict (against its baseline or previous run), and for a chosen pair of runs the
 * flipped cases side by side: input, both outputs, both runs' assertion results.
 * Data: /ui/api/evals/runs and /ui/api/evals/compare. Outputs and inputs are untrusted text:
 * they only ever go into text nodes.
 */
(function () {
  "use strict";
  var LG = window.LG;
  var el = LG.el;

  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    return seconds >= 90 ? (seconds / 60).toFixed(1) + " min" : seconds.toFixed(1) + " s";
  }

  function fmtSigned(value) {
    if (value === null || value === undefined) return "–";
    return (value > 0 ? "+" : "") + (value * 100).toFixed(1) + " pts";
  }

  function statusBadge(run) {
    var kind = run.status === "passed" ? "ok" : run.status === "running" ? "muted" : "error";
    return el("span", { class: "badge " + kind, text: run.status });
  }

  function latestCards(runs) {
    var seen = {};
    var node = LG.clear(document.getElementById("latest"));
    runs.forEach(function (run) {
      var key = run.suite + " · " + run.model;
      if (seen[key] || run.status === "running") return;
      seen[key] = true;
      node.appendChild(el("div", { class: "card", "data-group": key },
        el("div", { class: "label", text: key }),
        el("div", { class: "value", text: LG.fmtPct(run.pass_rate) }),
        el("div", { class: "sub" }, run.regression ? el("span", { class: "badge error", text: "regression" }) : statusBadge(run),
          " " + LG.fmtTime(run.started_at))));
    });
  }

  function passRateChart(series) {
    LG.chart("chart-pass-rate", {
      type: "line",
      data: {
        datasets: series.map(function (s, i) {
          var color = LG.PALETTE[i % LG.PALETTE.length];
          return {
            label: s.suite + " · " + s.model,
            data: s.points.map(function (p) { return { x: Date.parse(p.at), y: p.pass_rate, run: p.run_id }; }),
            borderColor: color, backgroundColor: color, borderWidth: 2, tension: 0,
            pointRadius: s.points.map(function (p) { return p.regression ? 6 : 3; }),
            pointBackgroundColor: s.points.map(function (p) { return p.regression ? LG.COLORS.red : color; }),
            pointBorderColor: s.points.map(function (p) { return p.regression ? LG.COLORS.red : color; }),
            pointStyle: s.points.map(function (p) { return p.is_baseline ? "rectRot" : "circle"; }),
          };
        }),
      },
      options: {
        scales: {
          x: {
            type: "linear", grid: { display: false },
            ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 18,
              callback: function (v) { return new Date(v).toLocaleDateString(undefined, { month: "short", day: "numeric" }); } },
          },
          y: { min: 0, max: 1, title: { display: true, text: "pass rate" }, ticks: { callback: function (v) { return LG.fmtPct(v); } } },
        },
        onClick: function (event, elements, chart) {
          if (!elements.length) return;
          var point = chart.data.datasets[elements[0].datasetIndex].data[elements[0].index];
          LG.setParams({ run: point.run, baseline: null });
        },
        plugins: {
          legend: { position: "bottom" },
          tooltip: {
            callbacks: {
              title: function (items) { return items.length ? LG.fmtTime(new Date(items[0].parsed.x).toISOString()) : ""; },
              label: function (ctx) {
                var p = series[ctx.datasetIndex].points[ctx.dataIndex];
                return ctx.dataset.label + ": " + LG.fmtPct(p.pass_rate) + (p.regression ? " — REGRESSION" : "") +
                  (p.is_baseline ? " (baseline)" : "");
              },
            },
          },
        },
      },
    });
  }

  function runsTable(data, selected) {
    var table = LG.clear(document.getElementById("runs"));
    var headers = ["run", "suite", "model", "status", "started", "time", "cases", "pass rate", "vs", "change", "flips"];
    table.appendChild(el("thead", {}, el("tr", {}, headers.map(function (h) {
      return el("th", { class: ["cases", "pass rate", "change", "flips", "time"].indexOf(h) >= 0 ? "num" : "", text: h });
    }))));
    var body = el("tbody");
    data.runs.forEach(function (run) {
      var vs = run.compared_with;
      var classes = ["clickable"];
      if (run.regression) classes.push("regression");
      if (run.id === selected) classes.push("selected");
      body.appendChild(el("tr", {
        class: classes.join(" "), "data-run": run.id, title: "Show the cases that flipped",
        onclick: function () { LG.setParams({ run: run.id, baseline: null }); },
      },
        el("td", { class: "mono", text: run.id.slice(0, 12) }),
        el("td", { text: run.suite }),
        el("td", { text: run.model }),
        el("td", {}, statusBadge(run), run.is_baseline ? el("span", { class: "badge muted", text: "baseline" }) : null,
          run.regression ? el("span", { class: "badge error", text: "regression" }) : null),
        el("td", { class: "nowrap", text: LG.fmtTime(run.started_at) }),
        el("td", { class: "num", text: fmtDuration(run.duration_s) }),
        el("td", { class: "num", text: LG.fmtInt(run.cases) }),
        el("td", { class: "num", text: LG.fmtPct(run.pass_rate) }),
        el("td", { class: "mono", text: vs ? vs.kind + " " + vs.run_id.slice(0, 12) : "–" }),
        el("td", { class: "num", text: vs ? fmtSigned(run.effect) + " (p " + run.p_value.toPrecision(2) + ")" : "–" }),
        el("td", { class: "num", text: vs ? "−" + run.flipped_to_fail + " / +" + run.flipped_to_pass : "–" })));
    });
    table.appendChild(body);
    document.getElementById("runs-note").textContent =
      "Each finished run is compared case by case with its suite's baseline (llmgate eval baseline set RUN) when one is " +
      "older, else with its previous run: the same exact McNemar test as llmgate eval compare. A regression needs " +
      "p < 0.05 and a drop of at least 5 points." + (data.truncated ? " Only the newest runs of this range are listed." : "");
  }

  // --- a pair of runs -------------------------------------------------------------------------------

  function card(label, value, sub) {
    return el("div", { class: "card" }, el("div", { class: "label", text: label }),
      el("div", { class: "value", text: value }), sub ? el("div", { class: "sub", text: sub }) : null);
  }

  function assertionList(side) {
    if (!side) return el("p", { class: "muted", text: "Not in this run." });
    var list = el("ul", { class: "assertions" });
    side.assertions.forEach(function (a) {
      list.appendChild(el("li", { class: a.pass ? "pass" : "fail" },
        (a.pass ? "✓ " : "✗ ") + a.type + " (score " + a.score + ")" + (a.reason ? ": " + a.reason : "") +
        (a.error ? " — error: " + a.error : "")));
    });
    return list;
  }

  function sideBox(title, run, side) {
    return el("div", { class: "side" },
      el("h3", { text: title + " · " + run.id.slice(0, 12) + (side ? " · " + side.status : "") }),
      side && side.error ? el("p", { class: "muted", text: "error: " + side.error }) : null,
      el("pre", { class: "block output", text: side && side.output !== null ? side.output : "(no output)" }),
      assertionList(side));
  }

  function flips(data) {
    var box = LG.clear(document.getElementById("flips"));
    var verdict = LG.clear(document.getElementById("verdict"));
    var c = data.comparison;
    if (!c) {
      document.getElementById("compare-note").textContent =
        "Run " + data.current.id.slice(0, 12) + " has nothing to be compared with: it is the first run of its suite and model. " +
        "Pin a baseline with: llmgate eval baseline set " + data.current.id;
      return;
    }
    document.getElementById("compare-title").textContent =
      "Flipped cases: " + data.current.suite + " · " + data.current.model;
    document.getElementById("compare-note").textContent =
      data.current.id + " against " + (data.baseline.kind === "chosen" ? "" : data.baseline.kind + " ") + data.baseline.id +
      (c.suite_changed ? " — the suite file changed between the runs." : ".");
    LG.append(verdict, [
      card("Verdict", c.regression ? "regression" : "no regression", c.method + ", p = " + c.p_value.toPrecision(3)),
      card("Pass rate", LG.fmtPct(c.baseline_pass_rate) + " → " + LG.fmtPct(c.current_pass_rate), fmtSigned(c.effect)),
      card("Flipped", String(data.flips.length), c.compared + " cases compared" + (c.flaky.length ? ", " + c.flaky.length + " flaky left out" : "")),
    ]);
    if (!data.flips.length) {
      box.appendChild(LG.emptyState("No case flipped between these runs.", "Every case compared passed (or failed) in both."));
      return;
    }
    data.flips.forEach(function (f) {
      box.appendChild(el("div", { class: "flip", "data-case": f.id },
        el("div", { class: "flip-head" },
          el("span", { class: "badge " + (f.direction === "to_fail" ? "error" : "ok"), text: f.direction === "to_fail" ? "pass → fail" : "fail → pass" }),
          el("span", { class: "mono", text: f.id }),
          f.reason ? el("span", { class: "muted", text: f.reason }) : null),
        el("div", { class: "input" }, el("h3", { class: "muted", text: "Input" }),
          el("pre", { class: "block", text: JSON.stringify(f.input, null, 2) })),
        el("div", { class: "sides" }, sideBox("Before", data.baseline, f.baseline), sideBox("After", data.current, f.current))));
    });
  }

  function compare(runId, baselineId) {
    var query = { current: runId };
    if (baselineId) query.baseline = baselineId;
    return LG.getJSON("/ui/api/evals/compare?" + new URLSearchParams(query).toString()).then(flips);
  }

  // --- page ---------------------------------------------------------------------------------------

  function render() {
    return LG.getJSON(LG.withQuery("/ui/api/evals/runs")).then(function (data) {
      var empty = document.getElementById("empty");
      var content = document.getElementById("content");
      if (!data.runs.length) {
        LG.clear(empty).appendChild(LG.emptyState("No eval runs in this range.",
          "Pick a longer range, or run a suite (it goes through a gateway like any client and is stored here):",
          "llmgate eval run evals/factual_qa.yaml --config evals/mock-config.yaml"));
        empty.classList.remove("hidden");
        content.classList.add("hidden");
        return null;
      }
      empty.classList.add("hidden");
      content.classList.remove("hidden");
      var params = LG.params();
      var regressed = data.runs.filter(function (r) { return r.regression; })[0];
      var selected = params.get("run") || (regressed || data.runs[0]).id;
      latestCards(data.runs);
      passRateChart(data.series);
      runsTable(data, selected);
      return compare(selected, params.get("baseline"));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    LG.boot("evals", render);
  });
})();
