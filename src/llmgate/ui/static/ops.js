/*
 * Operations: the operations report over the chosen range (the same numbers as
 * `llmgate report ops`): per alert kind the mean time to detect and to resolve, availability per
 * model group and deployment with and without fallbacks, fallback and retry rates, canary
 * outcomes, and the share of traffic the monitors sampled and scheduled evals covered.
 * Data: /ui/api/ops. Names (models, deployments, canaries) go only into text nodes.
 */
(function () {
  "use strict";
  var LG = window.LG;
  var el = LG.el;

  /** A duration in seconds, as config/time_range.py duration_text writes it: 20.4 s, 4 min 12 s, 2 h 5 min, 3 d 4 h. */
  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 59.95) return Math.max(0, seconds).toFixed(1) + " s";
    var whole = Math.round(seconds);
    if (whole < 3600) {
      var m = Math.floor(whole / 60), s = whole % 60;
      return s ? m + " min " + s + " s" : m + " min";
    }
    var minutes = Math.round(seconds / 60);
    if (minutes < 24 * 60) {
      var h = Math.floor(minutes / 60), rest = minutes % 60;
      return rest ? h + " h " + rest + " min" : h + " h";
    }
    var hours = Math.round(seconds / 3600);
    var d = Math.floor(hours / 24), hr = hours % 24;
    return hr ? d + " d " + hr + " h" : d + " d";
  }

  /** A share to a hundredth of a percent (availability needs the second decimal). */
  function fmtShare(value) {
    return value === null || value === undefined ? "–" : (value * 100).toFixed(2) + "%";
  }

  function card(metric, title, value, sub) {
    return el("div", { class: "card", "data-metric": metric },
      el("div", { class: "label", text: title }), el("div", { class: "value", text: value }),
      sub ? el("div", { class: "sub", text: sub }) : null);
  }

  function head(columns) {
    return el("thead", {}, el("tr", {}, columns.map(function (c) {
      return el("th", { class: c[1] ? "num" : "", text: c[0] });
    })));
  }

  function fill(id, columns, rows, total) {
    var table = LG.clear(document.getElementById(id));
    table.appendChild(head(columns));
    var body = el("tbody");
    if (!rows.length) {
      body.appendChild(el("tr", {}, el("td", { colspan: columns.length, class: "muted", text: "None in this range." })));
    }
    rows.forEach(function (cells) {
      body.appendChild(el("tr", {}, cells.map(function (cell, i) {
        return el("td", { class: columns[i][1] ? "num" : "", text: cell });
      })));
    });
    table.appendChild(body);
    if (total && rows.length) {
      table.appendChild(el("tfoot", {}, el("tr", { class: "total" }, total.map(function (cell, i) {
        return el("td", { class: columns[i][1] ? "num" : "", text: cell });
      }))));
    }
  }

  function alertCells(line) {
    return [line.kind, LG.fmtInt(line.alerts), fmtDuration(line.mttd_s), LG.fmtInt(line.no_start),
      fmtDuration(line.mttr_s), LG.fmtInt(line.resolved), LG.fmtInt(line.unresolved), LG.fmtInt(line.notices)];
  }

  function trafficCells(line) {
    return [line.name === null ? "(none)" : line.name, LG.fmtInt(line.requests), LG.fmtInt(line.rejected),
      LG.fmtInt(line.succeeded), fmtShare(line.availability), fmtShare(line.availability_without_fallbacks),
      fmtShare(line.fallback_rate), fmtShare(line.retry_rate)];
  }

  var TRAFFIC = [["requests", 1], ["rejected", 1], ["succeeded", 1], ["availability", 1],
    ["without fallbacks", 1], ["fallback rate", 1], ["retry rate", 1]];

  function render() {
    return LG.getJSON(LG.withQuery("/ui/api/ops")).then(function (data) {
      var alerts = data.alerts, traffic = data.availability, canaries = data.canaries, cover = data.coverage;
      var t = traffic.total, a = alerts.total, s = canaries.summary;
      var cards = LG.clear(document.getElementById("totals"));
      LG.append(cards, [
        card("availability", "Availability", fmtShare(t.availability),
          fmtShare(t.availability_without_fallbacks) + " without fallbacks"),
        card("mttd", "Mean time to detect", fmtDuration(a.mttd_s), LG.fmtInt(a.detected) + " timed, " + LG.fmtInt(a.no_start) + " without a start"),
        card("mttr", "Mean time to resolve", fmtDuration(a.mttr_s), LG.fmtInt(a.unresolved) + " open"),
        card("fallback_rate", "Fallback rate", fmtShare(t.fallback_rate), "retry rate " + fmtShare(t.retry_rate)),
        card("sampled_share", "Sampled by monitors", fmtShare(cover.sampled_share), LG.fmtInt(cover.sampled) + " of " + LG.fmtInt(cover.requests)),
      ]);
      fill("alerts", [["kind"], ["alerts", 1], ["MTTD", 1], ["no start", 1], ["MTTR", 1], ["resolved", 1], ["unresolved", 1], ["notices", 1]],
        alerts.kinds.map(alertCells), alertCells(a));
      fill("groups", [["model group"]].concat(TRAFFIC), traffic.model_groups.map(trafficCells), trafficCells(t));
      fill("deployments", [["deployment"]].concat(TRAFFIC), traffic.deployments.map(trafficCells));
      document.getElementById("canaries-note").textContent =
        "Promoted " + s.promoted + " (mean " + fmtDuration(s.mean_time_to_promoted_s) + "), rolled back " + s.rolled_back +
        " (mean " + fmtDuration(s.mean_time_to_rolled_back_s) + "), cancelled " + s.cancelled + ", active " + s.active + ".";
      fill("canaries", [["canary"], ["model"], ["outcome"], ["percent", 1], ["started"], ["time to decision", 1], ["candidate requests", 1]],
        canaries.items.map(function (c) {
          return [c.id, c.model, c.outcome.replace("_", " "), c.percent + "%", LG.fmtTime(c.started_at),
            fmtDuration(c.time_to_decision_s), LG.fmtInt(c.candidate_requests)];
        }));
      LG.append(LG.clear(document.getElementById("coverage")), [
        card("requests", "Requests", LG.fmtInt(cover.requests)),
        card("sampled", "Sampled by monitors", fmtShare(cover.sampled_share), LG.fmtInt(cover.sampled) + " samples"),
        card("eval_share", "Covered by scheduled evals", fmtShare(cover.eval_share), LG.fmtInt(cover.eval_covered) + " requests"),
      ]);
      document.getElementById("coverage-note").textContent = cover.eval_models.length
        ? "Models with a scheduled eval run in this range: " + cover.eval_models.join(", ") + "."
        : "No scheduled eval ran in this range.";
    });
  }

  LG.boot("ops", render);
})();
