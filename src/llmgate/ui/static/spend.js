/* Spend: the spend report (same numbers as `llmgate report spend`) by team, key, model, endpoint, users'
   feedback (good, bad, unrated) or tag,
   with what the response cache saved and its hit rate. */
(function () {
  "use strict";
  var LG = window.LG;
  var el = LG.el;
  var TOP = 15; // bars in the chart; the table has every group
  var NAMES = { team: "team", key: "key", model: "model", endpoint: "endpoint", feedback: "users' rating" };
  // how the requests ended, as llmgate report spend counts them (store/spend.py OUTCOMES)
  var OUTCOMES = ["succeeded", "failed", "rejected"];

  function groupBy() {
    return LG.params().get("group_by") || "team";
  }

  function groupTitle(group) {
    return group.indexOf("tag:") === 0 ? "tag “" + group.slice(4) + "”" : NAMES[group] || group;
  }

  function syncControls(tags) {
    var group = groupBy();
    var select = document.getElementById("group");
    var tagSelect = document.getElementById("tag");
    var isTag = group.indexOf("tag:") === 0;
    select.value = isTag ? "tag" : group;
    LG.clear(tagSelect);
    if (!tags.length) tagSelect.appendChild(el("option", { value: "", text: "no tags recorded in this range" }));
    tags.forEach(function (name) { tagSelect.appendChild(el("option", { value: name, text: name })); });
    if (isTag) {
      if (tags.indexOf(group.slice(4)) < 0) tagSelect.appendChild(el("option", { value: group.slice(4), text: group.slice(4) }));
      tagSelect.value = group.slice(4);
    }
    tagSelect.classList.toggle("hidden", !isTag);
    document.getElementById("csv").setAttribute("href", LG.withQuery("/ui/api/spend.csv", { group_by: group }));
  }

  function label(row, group) {
    var value = row[group];
    return value === null || value === undefined ? "(none)" : String(value);
  }

  function card(metric, title, value) {
    return el("div", { class: "card", "data-metric": metric },
      el("div", { class: "label", text: title }), el("div", { class: "value", text: value }));
  }

  function table(report, group) {
    var isKey = group === "key";
    var head = el("tr", {},
      el("th", { text: groupTitle(group) }),
      isKey ? el("th", { text: "key id" }) : null,
      el("th", { class: "num", text: "requests" }),
      OUTCOMES.map(function (name) { return el("th", { class: "num", text: name }); }),
      el("th", { class: "num", text: "input tokens" }),
      el("th", { class: "num", text: "output tokens" }),
      el("th", { class: "num", text: "hit rate" }),
      el("th", { class: "num", text: "saved (USD)" }),
      el("th", { class: "num", text: "cost (USD)" }));
    var body = el("tbody");
    report.rows.forEach(function (row) {
      body.appendChild(el("tr", {},
        el("td", { text: label(row, group) }),
        isKey ? el("td", { class: "mono", text: row.key_id || "(none)" }) : null,
        el("td", { class: "num", text: LG.fmtInt(row.requests) }),
        OUTCOMES.map(function (name) { return el("td", { class: "num", text: LG.fmtInt(row[name]) }); }),
        el("td", { class: "num", text: LG.fmtInt(row.input_tokens) }),
        el("td", { class: "num", text: LG.fmtInt(row.output_tokens) }),
        el("td", { class: "num", text: LG.fmtPct(row.hit_rate) }),
        el("td", { class: "num", title: row.saved_usd, text: LG.fmtUsd(row.saved_usd) }),
        el("td", { class: "num", title: row.cost_usd, text: LG.fmtUsd(row.cost_usd) })));
    });
    var t = report.totals;
    var foot = el("tfoot", {}, el("tr", { class: "total" },
      el("td", { text: "TOTAL" }), isKey ? el("td") : null,
      el("td", { class: "num", "data-total": "requests", text: LG.fmtInt(t.requests) }),
      OUTCOMES.map(function (name) { return el("td", { class: "num", "data-total": name, text: LG.fmtInt(t[name]) }); }),
      el("td", { class: "num", "data-total": "input_tokens", text: LG.fmtInt(t.input_tokens) }),
      el("td", { class: "num", "data-total": "output_tokens", text: LG.fmtInt(t.output_tokens) }),
      el("td", { class: "num", "data-total": "hit_rate", text: LG.fmtPct(t.hit_rate) }),
      el("td", { class: "num", "data-total": "saved_usd", title: t.saved_usd, text: LG.fmtUsd(t.saved_usd) }),
      el("td", { class: "num", "data-total": "cost_usd", title: t.cost_usd, text: LG.fmtUsd(t.cost_usd) })));
    var node = LG.clear(document.getElementById("table"));
    LG.append(node, [el("thead", {}, head), body, foot]);
  }

  function chart(report, group) {
    var rows = report.rows.slice().sort(function (a, b) { return Number(b.cost_usd) - Number(a.cost_usd); });
    var shown = rows.slice(0, TOP);
    document.getElementById("chart-box").style.height = Math.max(150, 44 * shown.length + 70) + "px";
    document.getElementById("chart-title").textContent = "Spend by " + groupTitle(group) + " (USD)" +
      (rows.length > TOP ? " — top " + TOP + " of " + rows.length : "");
    LG.chart("chart-spend", {
      type: "bar",
      data: {
        labels: shown.map(function (r) { return label(r, group); }),
        datasets: [{
          label: "Spend",
          data: shown.map(function (r) { return Number(r.cost_usd); }),
          backgroundColor: shown.map(function (_, i) { return LG.PALETTE[i % LG.PALETTE.length]; }),
          maxBarThickness: 34,
        }],
      },
      options: {
        indexAxis: "y",
        scales: {
          x: { beginAtZero: true, title: { display: true, text: "USD" }, ticks: { callback: function (v) { return LG.fmtUsdTick(v); } } },
          y: { grid: { display: false } },
        },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: function (ctx) {
                var row = shown[ctx.dataIndex];
                return LG.fmtUsd(row.cost_usd) + " · " + LG.fmtInt(row.requests) + " requests";
              },
            },
          },
        },
      },
    });
  }

  function render() {
    var group = groupBy();
    var filters = LG.getJSON(LG.withQuery("/ui/api/filters"));
    var report = LG.getJSON(LG.withQuery("/ui/api/spend", { group_by: group }));
    return Promise.all([filters, report]).then(function (results) {
      syncControls(results[0].tags);
      var data = results[1];
      var empty = document.getElementById("empty");
      var content = document.getElementById("content");
      if (data.totals.requests === 0) {
        LG.clear(empty).appendChild(LG.emptyState(
          "No spend in this range.",
          "Spend is recorded for every request that goes through the gateway. Pick a longer range, or send one:",
          LG.sendOneHint()));
        empty.classList.remove("hidden");
        content.classList.add("hidden");
        return;
      }
      empty.classList.add("hidden");
      content.classList.remove("hidden");
      var t = data.totals;
      LG.clear(document.getElementById("totals")).append(
        card("cost", "Spend", LG.fmtUsd(t.cost_usd)),
        card("saved", "Saved by the cache", LG.fmtUsd(t.saved_usd)),
        card("hit_rate", "Cache hit rate", LG.fmtPct(t.hit_rate)),
        card("requests", "Requests", LG.fmtInt(t.requests)),
        card("input_tokens", "Input tokens", LG.fmtInt(t.input_tokens)),
        card("output_tokens", "Output tokens", LG.fmtInt(t.output_tokens)),
        card("groups", groupTitle(group).replace(/^./, function (c) { return c.toUpperCase(); }) + "s", LG.fmtInt(data.rows.length)));
      LG.append(LG.clear(document.getElementById("note")), [
        "The same numbers as ", el("code", { text: "llmgate report spend --group-by " + group }),
        " over this range: every request, of which succeeded, failed (upstream or gateway errors) and " +
        "rejected (refused before any upstream was called: budgets, rate limits, models a key may not use). " +
        "Saved is what the response cache's hits would have cost (a hit costs nothing); hit rate is the " +
        "share of requests the cache answered. The CSV has exact costs to 10 decimal places."]);
      chart(data, group);
      table(data, group);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.getElementById("group").addEventListener("change", function (event) {
      var value = event.target.value;
      if (value === "tag") {
        var tag = document.getElementById("tag");
        if (!tag.value) {
          tag.classList.remove("hidden");
          LG.showError("No tags are recorded in this range: requests get tags from their key or from metadata.tags.");
          return;
        }
        value = "tag:" + tag.value;
      }
      LG.setParams({ group_by: value });
    });
    document.getElementById("tag").addEventListener("change", function (event) {
      if (event.target.value) LG.setParams({ group_by: "tag:" + event.target.value });
    });
    LG.boot("spend", render);
  });
})();
