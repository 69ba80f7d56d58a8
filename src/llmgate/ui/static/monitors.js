/*
 * Monitors: drift statistics over time with their thresholds, open and recent alerts, reference vs
 * current prompt embeddings on two principal axes, retrieval quality and its worst requests.
 * Data: /ui/api/monitors/drift, /projection and /quality. Record text (prompt excerpts) only ever
 * goes into text nodes and canvas text, never into HTML.
 */
(function () {
  "use strict";
  var LG = window.LG;
  var el = LG.el;
  var NO_DATA_HINT = "Samples and statistics appear once the monitor runs on recorded traffic. " +
    "Run it inside the gateway, or as a worker of its own:";
  var NO_DATA_CODE = "# in the config\nllmgate:\n  monitors:\n    enabled: true\n\n" +
    "# or, next to the gateway\nllmgate monitor --config FILE";
  var STATUS_BADGE = { ok: "ok", drifted: "warn", alerting: "error", collecting: "muted" };

  function groupKey(model, route) { return model + " · " + route; }

  // The API lists alerting groups first, then drifted ones: with no group asked for, the page
  // opens on the one that needs looking at.
  function selectedGroup(groups) {
    var wanted = LG.params().get("group");
    var keys = groups.map(function (g) { return groupKey(g.model, g.route); });
    return keys.indexOf(wanted) >= 0 ? wanted : keys[0] || null;
  }

  function show(id, visible) { document.getElementById(id).classList.toggle("hidden", !visible); }

  function emptyInto(id, title, hint, code) {
    LG.clear(document.getElementById(id)).appendChild(LG.emptyState(title, hint, code));
    show(id, true);
  }

  function fmtNumber(value) {
    if (value === null || value === undefined) return "–";
    var abs = Math.abs(value);
    if (abs !== 0 && (abs < 0.001 || abs >= 100000)) return value.toExponential(2);
    return String(Math.round(value * 10000) / 10000);
  }

  function timeScale() {
    return {
      type: "linear",
      ticks: {
        maxRotation: 0, autoSkip: true, autoSkipPadding: 18,
        callback: function (v) { return new Date(v).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }); },
      },
      grid: { display: false },
    };
  }

  // --- groups and alerts ----------------------------------------------------------------------

  function groupCards(groups) {
    var node = LG.clear(document.getElementById("groups"));
    groups.forEach(function (g) {
      node.appendChild(el("div", { class: "card", "data-group": groupKey(g.model, g.route) },
        el("div", { class: "label", text: groupKey(g.model, g.route) }),
        el("div", { class: "value" }, el("span", { class: "badge " + (STATUS_BADGE[g.status] || "muted"), text: g.status })),
        el("div", { class: "sub", text: LG.fmtInt(g.samples) + " samples" +
          (g.breached.length ? " · breached: " + g.breached.join(", ") : "") })));
    });
  }

  function groupSelect(groups, current) {
    var select = LG.clear(document.getElementById("group"));
    groups.forEach(function (g) {
      var key = groupKey(g.model, g.route);
      select.appendChild(el("option", { value: key, text: key }));
    });
    if (current) select.value = current;
  }

  function alertsTable(conditions) {
    var table = LG.clear(document.getElementById("alerts"));
    if (!conditions.length) {
      emptyInto("alerts-empty", "No alerts in this range.",
        "A condition opens when a statistic breaches its threshold and closes after clean evaluations (llmgate.monitors.drift.resolve_after).");
      return;
    }
    show("alerts-empty", false);
    table.appendChild(el("thead", {}, el("tr", {},
      ["state", "model · route", "condition", "breached", "since", "raised", "resolved", "first drifted request"].map(function (h) {
        return el("th", { text: h });
      }))));
    var body = el("tbody");
    conditions.forEach(function (c) {
      body.appendChild(el("tr", { class: c.active ? "regression" : "" },
        el("td", {}, el("span", { class: "badge " + (c.active ? "error" : "ok"), text: c.active ? "open" : "resolved" })),
        el("td", { text: groupKey(c.model, c.route) }),
        el("td", { class: "mono", text: c.condition }),
        el("td", { text: (c.breached || []).join(", ") || "–" }),
        el("td", { class: "nowrap", text: LG.fmtTime(c.started_at) }),
        el("td", { class: "nowrap", text: LG.fmtTime(c.raised_at) }),
        el("td", { class: "nowrap", text: c.resolved_at ? LG.fmtTime(c.resolved_at) : "–" }),
        el("td", {}, c.first_record_id
          ? el("a", { href: "/ui/requests/" + encodeURIComponent(c.first_record_id), class: "mono", text: c.first_record_id })
          : "–")));
    });
    table.appendChild(body);
  }

  // --- drift series -----------------------------------------------------------------------------

  function describe(s) {
    var rule = s.direction === "below" ? "drifts below " : "drifts above ";
    var text = s.label + " — " + rule + fmtNumber(s.threshold);
    if (s.significance) text += " (when p < " + fmtNumber(s.significance) + ")";
    return text;
  }

  function seriesChart(id, s) {
    var points = s.points.filter(function (p) { return p.value !== null; });
    var xs = points.map(function (p) { return Date.parse(p.at); });
    var first = xs.length ? xs[0] : Date.now();
    var last = xs.length ? xs[xs.length - 1] : Date.now();
    LG.chart(id, {
      type: "line",
      data: {
        datasets: [
          {
            label: s.label,
            data: points.map(function (p, i) { return { x: xs[i], y: p.value }; }),
            borderColor: LG.COLORS.blue, backgroundColor: LG.COLORS.blue, tension: 0, borderWidth: 2,
            pointRadius: points.map(function (p) { return p.breached ? 5 : 2; }),
            pointBackgroundColor: points.map(function (p) { return p.breached ? LG.COLORS.red : LG.COLORS.blue; }),
            pointBorderColor: points.map(function (p) { return p.breached ? LG.COLORS.red : LG.COLORS.blue; }),
          },
          {
            label: "threshold (" + fmtNumber(s.threshold) + ")",
            data: s.threshold === null ? [] : [{ x: first, y: s.threshold }, { x: last, y: s.threshold }],
            borderColor: LG.COLORS.red, borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0, fill: false,
          },
        ],
      },
      options: {
        scales: {
          x: timeScale(),
          y: { type: s.measure === "p_value" ? "logarithmic" : "linear", title: { display: true, text: s.measure === "p_value" ? "p-value (log)" : s.measure } },
        },
        plugins: {
          legend: { display: true, position: "bottom" },
          tooltip: {
            callbacks: {
              title: function (items) { return items.length ? LG.fmtTime(new Date(items[0].parsed.x).toISOString()) : ""; },
              label: function (ctx) {
                if (ctx.datasetIndex === 1) return "threshold " + fmtNumber(s.threshold);
                var p = points[ctx.dataIndex];
                var parts = [s.measure + " " + fmtNumber(p.value)];
                if (p.p_value !== null && s.measure !== "p_value") parts.push("p " + fmtNumber(p.p_value));
                parts.push("n " + LG.fmtInt(p.current_n));
                if (p.breached) parts.push("BREACHED");
                return parts.join(" · ");
              },
            },
          },
        },
      },
    });
  }

  function driftCharts(data, key) {
    var mine = data.series.filter(function (s) { return groupKey(s.model, s.route) === key; });
    var box = LG.clear(document.getElementById("drift-charts"));
    document.getElementById("drift-note").textContent =
      "Each statistic of each evaluation, with the threshold that decides it (dashed). Red points breached." +
      (data.downsampled ? " Long range: evaluations are thinned to keep the charts readable; every breach is kept." : "");
    if (!mine.length) {
      emptyInto("drift-empty", "No drift statistics for " + (key || "this group") + " in this range.",
        "A group is evaluated once it has llmgate.monitors.drift.min_samples samples (" +
        data.settings.min_samples + ") in its reference and in its current window (" + data.settings.window +
        "). Pick a longer range, or wait for the next evaluation.");
      return;
    }
    show("drift-empty", false);
    mine.forEach(function (s, i) {
      var id = "chart-drift-" + i;
      box.appendChild(el("section", { class: "panel", "data-statistic": s.kind + "." + s.statistic },
        el("h2", {},
          s.breached_now ? el("span", { class: "badge error", text: "breached" }) : el("span", { class: "badge ok", text: "ok" }),
          " ", s.kind + " · " + s.label),
        el("p", { class: "muted", text: describe(s) }),
        el("div", { class: "chart-box" }, el("canvas", { id: id, "aria-label": s.kind + " " + s.label + " over time" }))));
      seriesChart(id, s);
    });
  }

  // --- projection -------------------------------------------------------------------------------

  function projection(key) {
    var parts = key ? key.split(" · ") : [];
    var fit = document.getElementById("fit").value;
    var query = { fit: fit };
    if (parts.length === 2) { query.model = parts[0]; query.route = parts[1]; }
    var url = "/ui/api/monitors/projection?" + new URLSearchParams(query).toString();
    return LG.getJSON(url).then(function (data) {
      var p = data.projection;
      if (!p || p.reference.n < 3) {
        emptyInto("projection-empty", "Not enough samples to draw yet.",
          "The projection needs at least three reference samples with prompt embeddings for this model and route.");
        show("projection-box", false);
        document.getElementById("projection-note").textContent = "";
        return;
      }
      show("projection-empty", false);
      show("projection-box", true);
      var variance = p.explained_variance.map(function (r) { return LG.fmtPct(r); }).join(" + ");
      document.getElementById("projection-note").textContent =
        p.reference.n + " reference prompts (" + (p.reference_kind === "baseline" ? "pinned baseline" : "first samples") +
        ") and " + p.current.n + " current prompts (last " + p.window + "), on the first two principal axes of " +
        (p.fit === "pooled" ? "both windows" : "the reference") + " (" + variance + " of its variance). " +
        (p.separation === null ? "No current prompts in the window." :
          "Separation of the centres: " + fmtNumber(p.separation) + " × the reference's spread (about 0: alike; 1 or more: apart).");
      function points(side) {
        return side.points.map(function (xy, i) { return { x: xy[0], y: xy[1], id: side.ids[i], text: side.excerpts[i] }; });
      }
      var sides = [points(p.reference), points(p.current)];
      LG.chart("chart-projection", {
        type: "scatter",
        data: {
          datasets: [
            { label: "reference", data: sides[0], backgroundColor: "rgba(37, 99, 235, 0.45)", borderColor: LG.COLORS.blue, pointRadius: 3 },
            { label: "current", data: sides[1], backgroundColor: "rgba(234, 88, 12, 0.55)", borderColor: LG.COLORS.orange, pointRadius: 3, pointStyle: "triangle" },
          ],
        },
        options: {
          scales: {
            x: { title: { display: true, text: "axis 1" } },
            y: { title: { display: true, text: "axis 2" } },
          },
          onClick: function (event, elements) {
            if (!elements.length) return;
            var point = sides[elements[0].datasetIndex][elements[0].index];
            window.location.assign("/ui/requests/" + encodeURIComponent(point.id));
          },
          plugins: {
            legend: { position: "bottom" },
            tooltip: {
              callbacks: {
                label: function (ctx) {
                  var point = sides[ctx.datasetIndex][ctx.dataIndex];
                  return ctx.dataset.label + ": " + (point.text || point.id);
                },
              },
            },
          },
        },
      });
    });
  }

  // --- retrieval quality ------------------------------------------------------------------------

  var METRICS = [["context_relevance", "context relevance", LG.COLORS.teal],
    ["groundedness", "groundedness", LG.COLORS.purple], ["answer_relevance", "answer relevance", LG.COLORS.amber]];

  function quality(key) {
    var model = key ? key.split(" · ")[0] : null;
    return LG.getJSON(LG.withQuery("/ui/api/monitors/quality", { model: model })).then(function (data) {
      var groups = data.report.groups;
      var series = data.series;
      if (!groups.length && !series.length) {
        emptyInto("quality-empty", "No retrieval-quality scores in this range.",
          "Requests are scored when they carry retrieved context: metadata.context, the x-llmgate-context header, " +
          "tool results or delimited passages, while the monitor runs (llmgate.monitors.rag.enabled). Send one:",
          "curl " + window.location.origin + "/v1/chat/completions -H 'Authorization: Bearer $LLMGATE_KEY' \\\n" +
          "  -H 'Content-Type: application/json' -d '{\"model\": \"MODEL\", \"metadata\": {\"context\": [\"passage\"]},\n" +
          "  \"messages\": [{\"role\": \"user\", \"content\": \"question\"}]}'");
        show("quality-content", false);
        document.getElementById("quality-note").textContent = "";
        return;
      }
      show("quality-empty", false);
      show("quality-content", true);
      document.getElementById("quality-note").textContent =
        "Window means of each evaluation (solid) and the lowest acceptable mean (dashed): a metric under its line is too low.";
      var datasets = [];
      METRICS.forEach(function (m) {
        var s = series.filter(function (x) { return x.statistic === m[0]; })[0];
        if (!s) return;
        var xs = s.points.map(function (p) { return Date.parse(p.at); });
        datasets.push({ label: m[1], data: s.points.map(function (p, i) { return { x: xs[i], y: p.value }; }),
          borderColor: m[2], backgroundColor: m[2], pointRadius: 2, borderWidth: 2 });
        datasets.push({ label: m[1] + " threshold", data: [{ x: xs[0], y: s.threshold }, { x: xs[xs.length - 1], y: s.threshold }],
          borderColor: m[2], borderDash: [6, 4], borderWidth: 1, pointRadius: 0 });
      });
      var box = document.getElementById("chart-quality").parentNode;
      box.classList.toggle("hidden", !datasets.length);
      if (!datasets.length) {  // scored requests, but no evaluation of a whole window yet
        document.getElementById("quality-note").textContent =
          "Requests are being scored; window means appear once an evaluation has enough of them " +
          "(llmgate.monitors.rag.min_samples). The worst requests so far:";
        worstTable(groups);
        return;
      }
      LG.chart("chart-quality", {
        type: "line", data: { datasets: datasets },
        options: { scales: { x: timeScale(), y: { min: 0, max: 1, title: { display: true, text: "score" } } },
          plugins: { legend: { position: "bottom" } } },
      });
      worstTable(groups);
    });
  }

  function worstTable(groups) {
    var table = LG.clear(document.getElementById("worst"));
    table.appendChild(el("thead", {}, el("tr", {},
      ["request", "model", "question", "context rel.", "grounded", "answer rel.", "worst"].map(function (h, i) {
        return el("th", { class: i >= 3 && i <= 5 ? "num" : "", text: h });
      }))));
    var body = el("tbody");
    groups.forEach(function (g) {
      (g.worst || []).forEach(function (w) {
        body.appendChild(el("tr", { "data-record": w.record_id },
          el("td", {}, el("a", { href: w.url, class: "mono", text: w.record_id })),
          el("td", { text: g.model }),
          el("td", { class: "preview", title: w.question || "", text: w.question || "–" }),
          el("td", { class: "num", text: fmtNumber(w.context_relevance) }),
          el("td", { class: "num", text: fmtNumber(w.groundedness) }),
          el("td", { class: "num", text: fmtNumber(w.answer_relevance) }),
          el("td", { text: w.worst_metric.replace(/_/g, " ") + " (" + (w.margin < 0 ? "" : "+") + fmtNumber(w.margin) + ")" })));
      });
    });
    table.appendChild(body);
  }

  // --- page ---------------------------------------------------------------------------------------

  function render() {
    return LG.getJSON(LG.withQuery("/ui/api/monitors/drift")).then(function (data) {
      var empty = document.getElementById("empty");
      var content = document.getElementById("content");
      if (!data.groups.length && !data.series.length) {
        LG.clear(empty).appendChild(LG.emptyState("No drift data yet.", NO_DATA_HINT, NO_DATA_CODE));
        empty.classList.remove("hidden");
        content.classList.add("hidden");
        return null;
      }
      empty.classList.add("hidden");
      content.classList.remove("hidden");
      var key = selectedGroup(data.groups);
      groupCards(data.groups);
      groupSelect(data.groups, key);
      driftCharts(data, key);
      alertsTable(data.conditions);
      return Promise.all([projection(key), quality(key)]);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.getElementById("group").addEventListener("change", function (event) {
      LG.setParams({ group: event.target.value });
    });
    document.getElementById("fit").addEventListener("change", function () {
      projection(document.getElementById("group").value || null);
    });
    LG.boot("monitors", render);
  });
})();
