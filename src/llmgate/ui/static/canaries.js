/*
 * Canaries: every canary release (active first), and for the chosen one its steps over time (the
 * candidate's share of the traffic, a step chart), the split now, every gate's evidence with its
 * bounds (the confidence interval of the candidate's harm against the gate's tolerance, drawn as a
 * small interval plot), and the decision log. A log entry that carries an evaluation shows that
 * evaluation's gates when picked. Data: /ui/api/canaries and /ui/api/canaries/ID. Names, reasons
 * and notes come from the store and the config: they only ever go into text nodes.
 */
(function () {
  "use strict";
  var LG = window.LG;
  var el = LG.el;
  var SVG = "http://www.w3.org/2000/svg";
  var STATUS_BADGE = { running: "ok", paused: "warn", promoted: "ok", rolled_back: "error", cancelled: "muted" };
  var ACTION_BADGE = { promote: "ok", step: "ok", rollback: "error", hold: "muted", pause: "warn", resume: "ok",
    cancel: "muted", start: "muted", evaluate: "muted" };
  var VERDICT_BADGE = { pass: "ok", fail: "error", undecided: "warn", no_data: "muted" };
  var ACTION_COLORS = { rollback: LG.COLORS.red, promote: LG.COLORS.green, step: LG.COLORS.green,
    pause: LG.COLORS.amber, cancel: LG.COLORS.gray };
  var NO_CANARY_CODE = "llmgate canary start MODEL --candidate OTHER-MODEL --steps 10,50,100\n\n" +
    "# or in the config\nllmgate:\n  canaries:\n    - model: MODEL\n      candidate: OTHER-MODEL";

  function show(id, visible) { document.getElementById(id).classList.toggle("hidden", !visible); }

  function fmtNumber(value) {
    if (value === null || value === undefined) return "–";
    var abs = Math.abs(value);
    if (abs !== 0 && (abs < 0.001 || abs >= 100000)) return value.toExponential(2);
    return String(Math.round(value * 10000) / 10000);
  }

  function fmtSigned(value) {
    if (value === null || value === undefined) return "–";
    return (value > 0 ? "+" : "") + fmtNumber(value);
  }

  function fmtPercent(value) {
    if (value === null || value === undefined) return "–";
    return String(Math.round(value * 100) / 100) + "%";
  }

  function fmtConfidence(value) {
    if (value === null || value === undefined) return "–";
    return String(Math.round(value * 10000) / 100) + "%";
  }

  function badge(kinds, value, text) {
    return el("span", { class: "badge " + (kinds[value] || "muted"), text: text || String(value).replace(/_/g, " ") });
  }

  function stepText(c) {
    if (!c.steps || !c.steps.length) return "–";
    return "step " + (c.step_index + 1) + " of " + c.steps.length;
  }

  function stepsList(c) {
    var node = el("span", { class: "steps-list" });
    (c.steps || []).forEach(function (s, i) {
      if (i) node.appendChild(document.createTextNode(" → "));
      node.appendChild(el("span", { class: i === c.step_index && c.active ? "current" : "", text: fmtPercent(s) }));
    });
    return node;
  }

  // --- the list of canaries -----------------------------------------------------------------------

  function canariesTable(canaries, selected) {
    var table = LG.clear(document.getElementById("canaries"));
    var headers = ["canary", "model", "candidate", "status", "split", "steps", "sticky", "last decision", "started", "ended"];
    table.appendChild(el("thead", {}, el("tr", {}, headers.map(function (h) {
      return el("th", { class: h === "split" ? "num" : "", text: h });
    }))));
    var body = el("tbody");
    canaries.forEach(function (c) {
      var decision = c.evaluation && c.evaluation.decision;
      var classes = ["clickable"];
      if (c.id === selected) classes.push("selected");
      if (c.status === "rolled_back") classes.push("regression");
      body.appendChild(el("tr", {
        class: classes.join(" "), "data-canary": c.id, title: "Show this canary's steps, gates and decisions",
        onclick: function () { LG.setParams({ canary: c.id, event: null }); },
      },
        el("td", { class: "mono", text: c.id }),
        el("td", { text: c.model }),
        el("td", { text: c.candidate_label }),
        el("td", {}, badge(STATUS_BADGE, c.status)),
        el("td", { class: "num", text: fmtPercent(c.percent) }),
        el("td", {}, stepsList(c)),
        el("td", { text: c.sticky }),
        el("td", { "data-field": "decision" }, decision ? [badge(ACTION_BADGE, decision.action),
          decision.failing.length ? " " + decision.failing.join(", ") : null] : "–"),
        el("td", { class: "nowrap", text: LG.fmtTime(c.started_at) }),
        el("td", { class: "nowrap", text: c.ended_at ? LG.fmtTime(c.ended_at) : "–" })));
    });
    table.appendChild(body);
  }

  // --- the split now --------------------------------------------------------------------------------

  function card(metric, label, value, sub) {
    return el("div", { class: "card", "data-metric": metric }, el("div", { class: "label", text: label }),
      el("div", { class: "value" }, value), sub ? el("div", { class: "sub" }, sub) : null);
  }

  function splitCards(c) {
    var node = LG.clear(document.getElementById("split"));
    var e = c.evaluation;
    var decision = e && e.decision;
    var candidate = c.percent === null ? null : c.percent;
    LG.append(node, [
      card("status", "Status", badge(STATUS_BADGE, c.status),
        c.ended_at ? "ended " + LG.fmtTime(c.ended_at) : "since " + LG.fmtTime(c.started_at)),
      card("split", "Split now", fmtPercent(candidate) + " candidate",
        candidate === null ? null : fmtPercent(100 - candidate) + " stable · sticky by " + c.sticky),
      card("step", "Step", stepText(c), stepsList(c)),
      card("evidence", "Evidence", e ? LG.fmtInt(e.candidate_requests) + " / " + LG.fmtInt(e.stable_requests) : "–",
        e ? "candidate / stable requests · " + LG.fmtInt(e.step_requests) + " at this step (" +
          LG.fmtInt(c.min_step_requests) + " to promote)" : "no evaluation yet"),
      card("decision", "Last decision", decision ? badge(ACTION_BADGE, decision.action) : "–",
        decision ? decision.reason : null),
    ]);
  }

  // --- steps over time ------------------------------------------------------------------------------

  function stepsChart(c) {
    var points = c.split.map(function (p) { return { x: Date.parse(p.at), y: p.percent, action: p.action }; });
    var span = points.length ? points[points.length - 1].x - points[0].x : 0;
    // a canary decided within the hour: times to the second; a longer one: dates and times
    var tickFormat = span <= 3600000 ? { hour: "2-digit", minute: "2-digit", second: "2-digit" }
      : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
    document.getElementById("steps-note").textContent =
      "The candidate's share of " + c.model + "'s traffic, from the decision log: each step, pause and rollback " +
      "(green: promoted, red: rolled back). Steps: " + (c.steps || []).map(fmtPercent).join(" → ") + ".";
    LG.chart("chart-steps", {
      type: "line",
      data: {
        datasets: [{
          label: "candidate share",
          data: points,
          stepped: "before",
          borderColor: LG.COLORS.blue, backgroundColor: "rgba(37, 99, 235, 0.12)", borderWidth: 2, fill: true,
          pointRadius: points.map(function (p) { return ACTION_COLORS[p.action] ? 5 : 3; }),
          pointBackgroundColor: points.map(function (p) { return ACTION_COLORS[p.action] || LG.COLORS.blue; }),
          pointBorderColor: points.map(function (p) { return ACTION_COLORS[p.action] || LG.COLORS.blue; }),
        }],
      },
      options: {
        scales: {
          x: {
            type: "linear", grid: { display: false },
            ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 18,
              callback: function (v) { return new Date(v).toLocaleString(undefined, tickFormat); } },
          },
          y: { min: 0, max: 100, title: { display: true, text: "% to the candidate" } },
        },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              title: function (items) { return items.length ? LG.fmtTime(new Date(items[0].parsed.x).toISOString()) : ""; },
              label: function (ctx) {
                var p = points[ctx.dataIndex];
                return fmtPercent(p.y) + " to the candidate (" + p.action + ")";
              },
            },
          },
        },
      },
    });
  }

  // --- gates ---------------------------------------------------------------------------------------

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, String(attrs[name])); });
    return node;
  }

  /** A gate's confidence interval [low, high] with its effect, against zero and its tolerance. */
  function intervalPlot(g) {
    var width = 220, height = 26, pad = 10, mid = 13;
    var values = [g.low, g.high, g.effect, g.tolerance, 0].filter(function (v) {
      return v !== null && v !== undefined && isFinite(v);
    });
    if (g.low === null && g.high === null && g.effect === null) return el("span", { class: "muted", text: "–" });
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
    var span = hi - lo || Math.abs(hi) || 1;
    lo -= span * 0.08; hi += span * 0.08;
    function x(v) { return pad + (v - lo) / (hi - lo) * (width - 2 * pad); }
    var plot = svg("svg", { class: "interval", width: width, height: height, viewBox: "0 0 " + width + " " + height,
      role: "img", "data-gate": g.name });
    var title = svg("title");
    title.textContent = "[" + fmtNumber(g.low) + ", " + fmtNumber(g.high) + "], effect " + fmtNumber(g.effect) +
      ", tolerance " + fmtNumber(g.tolerance);
    plot.appendChild(title);
    plot.appendChild(svg("line", { class: "axis", x1: pad, x2: width - pad, y1: mid, y2: mid }));
    plot.appendChild(svg("line", { class: "zero", x1: x(0), x2: x(0), y1: 3, y2: height - 3 }));
    if (g.tolerance !== null && g.tolerance !== undefined) {
      plot.appendChild(svg("line", { class: "tolerance", x1: x(g.tolerance), x2: x(g.tolerance), y1: 1, y2: height - 1 }));
    }
    var left = g.low === null ? pad : x(g.low);
    var right = g.high === null ? width - pad : x(g.high);
    plot.appendChild(svg("line", { class: "bound " + g.verdict, x1: left, x2: right, y1: mid, y2: mid }));
    if (g.low === null) plot.appendChild(text(svg("text", { class: "open", x: 0, y: mid + 4 }), "∞"));
    if (g.high === null) plot.appendChild(text(svg("text", { class: "open", x: width - 8, y: mid + 4 }), "∞"));
    if (g.effect !== null) plot.appendChild(svg("circle", { class: "effect", cx: x(g.effect), cy: mid, r: 3 }));
    return plot;
  }

  function text(node, value) { node.textContent = value; return node; }

  function gatesTable(c, evaluation, event) {
    var table = LG.clear(document.getElementById("gates"));
    var title = document.getElementById("gates-title");
    var note = document.getElementById("gates-note");
    if (!evaluation || !evaluation.gates || !evaluation.gates.length) {
      title.textContent = "Gates";
      note.textContent = "";
      LG.clear(document.getElementById("gates-empty")).appendChild(LG.emptyState("No evaluation yet.",
        "The controller inside llmgate serve evaluates the gates of a running canary every llmgate.canary_controller.interval_s " +
        "once its arms have requests. Gates: " + (c.gate_names || []).join(", ") + "."));
      show("gates-empty", true);
      return;
    }
    show("gates-empty", false);
    title.textContent = event ? "Gates at decision #" + event.id + " (" + event.action + ")" : "Gates at the last evaluation";
    note.textContent = "Evaluated " + LG.fmtTime(evaluation.at) + " at " + fmtPercent(evaluation.percent) +
      " to the candidate (" + LG.fmtInt(evaluation.candidate_requests) + " candidate, " + LG.fmtInt(evaluation.stable_requests) +
      " stable requests). Each gate measures how much worse the candidate is than stable, with a confidence interval " +
      "valid at any time: pass when all of it is under the tolerance (dashed red), fail when all of it is over, " +
      "undecided in between. α = " + fmtNumber(c.alpha) + " over all gates." +
      (event ? " Pick another entry of the log, or the canary in the list for its last evaluation." : "");
    table.appendChild(el("thead", {}, el("tr", {},
      ["gate", "verdict", "effect", "interval [low, high]", "tolerance", "bounds", "confidence", "n candidate / n stable", "note"]
        .map(function (h) {
          return el("th", { class: ["effect", "tolerance", "confidence"].indexOf(h) >= 0 ? "num" : "", text: h });
        }))));
    var body = el("tbody");
    evaluation.gates.forEach(function (g) {
      body.appendChild(el("tr", { class: "gate-" + g.verdict, "data-gate": g.name },
        el("td", { class: "mono", text: g.name }),
        el("td", { class: "nowrap", "data-field": "verdict" }, badge(VERDICT_BADGE, g.verdict)),
        el("td", { class: "num", "data-field": "effect", text: fmtSigned(g.effect) }),
        el("td", { class: "nowrap", "data-field": "interval", text: "[" + fmtNumber(g.low) + ", " + fmtNumber(g.high) + "]" }),
        el("td", { class: "num", "data-field": "tolerance", text: fmtNumber(g.tolerance) }),
        el("td", {}, intervalPlot(g)),
        el("td", { class: "num", text: fmtConfidence(g.confidence) }),
        el("td", { class: "nowrap", "data-field": "n", text: LG.fmtInt(g.n_candidate) + " / " + LG.fmtInt(g.n_stable) }),
        el("td", { class: "note", text: g.note || "" })));
    });
    table.appendChild(body);
  }

  // --- the decision log ----------------------------------------------------------------------------

  function eventsTable(c, selected) {
    var table = LG.clear(document.getElementById("events"));
    document.getElementById("events-note").textContent =
      "Every step, pause, promotion and rollback, newest first, with who took it and why. " +
      "Entries with evidence show their gates when picked." +
      (c.events_truncated ? " Only the newest " + LG.fmtInt(c.events.length) + " of " + LG.fmtInt(c.events_total) + " entries are listed." : "");
    table.appendChild(el("thead", {}, el("tr", {}, ["#", "time", "action", "by", "split", "reason", "failing gates"].map(function (h) {
      return el("th", { class: h === "split" ? "num" : "", text: h });
    }))));
    var body = el("tbody");
    c.events.forEach(function (e) {
      var classes = [];
      if (e.evaluation) classes.push("clickable");
      if (e.action === "rollback") classes.push("regression");
      if (selected && e.id === selected.id) classes.push("selected");
      body.appendChild(el("tr", {
        class: classes.join(" "), "data-event": e.id, "data-action": e.action,
        title: e.evaluation ? "Show the gates of this evaluation" : null,
        onclick: e.evaluation ? function () { LG.setParams({ canary: c.id, event: String(e.id) }); } : null,
      },
        el("td", { class: "mono", text: String(e.id) }),
        el("td", { class: "nowrap", text: LG.fmtTime(e.at) }),
        el("td", {}, badge(ACTION_BADGE, e.action)),
        el("td", { class: "mono", text: e.actor || "–" }),
        el("td", { class: "num", text: fmtPercent(e.percent) }),
        el("td", { class: "note", text: e.reason || "" }),
        el("td", { text: (e.failing || []).join(", ") || "–" })));
    });
    table.appendChild(body);
  }

  // --- page ---------------------------------------------------------------------------------------

  function detail(id) {
    return LG.getJSON("/ui/api/canaries/" + encodeURIComponent(id)).then(function (c) {
      var title = LG.clear(document.getElementById("canary-title"));
      LG.append(title, [c.id + " ", el("span", { class: "muted", text: c.model + " → " + c.candidate_label })]);
      var wanted = LG.params().get("event");
      var event = c.events.filter(function (e) { return String(e.id) === wanted && e.evaluation; })[0] || null;
      splitCards(c);
      stepsChart(c);
      gatesTable(c, event ? event.evaluation : c.evaluation, event);
      eventsTable(c, event);
    });
  }

  function render() {
    return LG.getJSON("/ui/api/canaries").then(function (data) {
      var empty = document.getElementById("empty");
      var content = document.getElementById("content");
      if (!data.canaries.length) {
        LG.clear(empty).appendChild(LG.emptyState("No canary release yet.",
          "A canary moves a share of a model's traffic to a candidate step by step, and rolls it back by itself " +
          "when a gate shows the candidate worse than stable. Start one:", NO_CANARY_CODE));
        empty.classList.remove("hidden");
        content.classList.add("hidden");
        return null;
      }
      empty.classList.add("hidden");
      content.classList.remove("hidden");
      var wanted = LG.params().get("canary");
      var ids = data.canaries.map(function (c) { return c.id; });
      var selected = ids.indexOf(wanted) >= 0 ? wanted : ids[0];
      canariesTable(data.canaries, selected);
      return detail(selected);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    LG.boot("canaries", render);
  });
})();
