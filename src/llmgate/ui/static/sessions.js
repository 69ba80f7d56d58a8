/*
 * Sessions: the calls clients grouped with x-llmgate-session-id (or metadata.session_id, or
 * LiteLLM's litellm_session_id). The list: one row per session with calls in the range (first and
 * last call, calls, errors, users, models, tokens, cost), filtered by user and model. One session
 * (?session=ID): its totals, a waterfall of its calls (each bar from the call's start, as long as
 * it took, indented under its parent call), and the calls as a tree, each linking to its request
 * page. Data: /ui/api/sessions and /ui/api/sessions/ID (the same as GET /admin/sessions and
 * `llmgate logs --session`). Session ids, steps and models are client text: text nodes only.
 */
(function () {
  "use strict";
  var LG = window.LG;
  var el = LG.el;
  var SVG = "http://www.w3.org/2000/svg";
  var FILTERS = ["user", "model"];
  // the waterfall's geometry (viewBox units)
  var WIDTH = 1000, LABEL = 270, RIGHT = 990, ROW = 24, TOP = 22, INDENT = 14;

  function filterValues() {
    var query = LG.params();
    var out = {};
    FILTERS.forEach(function (name) { out[name] = query.get(name) || ""; });
    return out;
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, String(attrs[name])); });
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function tokens(inTokens, outTokens) {
    if (inTokens === null && outTokens === null) return "–";
    return LG.fmtInt(inTokens || 0) + " / " + LG.fmtInt(outTokens || 0);
  }

  function cost(value, unknown) {
    if (value === null || value === undefined) return unknown ? "unknown" : "–";
    return LG.fmtUsd(value) + (unknown ? " + unknown" : "");
  }

  function card(metric, title, value, sub) {
    return el("div", { class: "card", "data-metric": metric },
      el("div", { class: "label", text: title }), el("div", { class: "value", text: value }),
      sub ? el("div", { class: "sub", text: sub }) : null);
  }

  function sessionHref(id) {
    return LG.withQuery("/ui/sessions", Object.assign(filterValues(), { session: id }));
  }

  // --- the list -------------------------------------------------------------------------------

  function listRow(s) {
    var href = sessionHref(s.session_id);
    var node = el("tr", { class: "clickable", "data-session": s.session_id },
      el("td", { class: "mono" }, el("a", { href: href, text: s.session_id })),
      el("td", { class: "nowrap", text: LG.fmtTime(s.first_at) }),
      el("td", { class: "nowrap", text: LG.fmtTime(s.last_at) }),
      el("td", { class: "num", text: LG.fmtInt(s.calls) }),
      el("td", { class: "num", text: LG.fmtInt(s.errors) }),
      el("td", { text: s.users.join(", ") || "–" }),
      el("td", { text: s.models.join(", ") }),
      el("td", { class: "num", text: tokens(s.prompt_tokens, s.completion_tokens) }),
      el("td", { class: "num", text: cost(s.cost_usd, s.cost_unknown) }));
    node.addEventListener("click", function (event) {
      if (event.target.tagName !== "A") window.location.assign(href);
    });
    return node;
  }

  function renderList() {
    return LG.getJSON(LG.withQuery("/ui/api/sessions", filterValues())).then(function (data) {
      var body = LG.clear(document.getElementById("session-rows"));
      data.sessions.forEach(function (s) { body.appendChild(listRow(s)); });
      var none = data.sessions.length === 0;
      document.getElementById("list").classList.toggle("hidden", none);
      var empty = document.getElementById("empty");
      empty.classList.toggle("hidden", !none);
      if (none) {
        LG.clear(empty).appendChild(LG.emptyState("No sessions in this range.",
          "Send calls with the same x-llmgate-session-id header (x-llmgate-parent-id names a call's parent, x-llmgate-step its step)."));
      }
    });
  }

  // --- one session ----------------------------------------------------------------------------

  function status(call) {
    var ok = call.status === "success";
    return el("span", { class: "badge " + (ok ? "ok" : "error"),
      text: ok ? String(call.status_code) : call.status_code + (call.error_type ? " " + call.error_type : "") });
  }

  function waterfall(calls, totals) {
    var span = Math.max(totals.wall_ms || 0, 1);
    var height = TOP + calls.length * ROW + 4;
    var plot = svg("svg", { class: "waterfall", viewBox: "0 0 " + WIDTH + " " + height, role: "img",
      "aria-label": "The session's calls over time" });
    var x = function (ms) { return LABEL + (RIGHT - LABEL) * (ms / span); };
    [0, 0.5, 1].forEach(function (share) {
      var at = x(span * share);
      plot.appendChild(svg("line", { class: "grid", x1: at, x2: at, y1: TOP - 4, y2: height }));
      plot.appendChild(svg("text", { class: "tick", x: at, y: 12, "text-anchor": share === 0 ? "start" : share === 1 ? "end" : "middle" },
        LG.fmtMs(span * share)));
    });
    calls.forEach(function (call, i) {
      var y = TOP + i * ROW;
      if (i % 2 === 0) plot.appendChild(svg("rect", { class: "lane", x: 0, y: y, width: WIDTH, height: ROW }));
      plot.appendChild(svg("text", { class: "label", x: 4 + call.depth * INDENT, y: y + 16 },
        (call.step || "–") + " · " + call.model));
      var link = svg("a", { href: "/ui/requests/" + encodeURIComponent(call.id), "data-id": call.id });
      var left = x(call.offset_ms);
      var bar = svg("rect", { class: "bar" + (call.status === "success" ? "" : " error"), x: left, y: y + 5,
        width: Math.max(2, x(call.offset_ms + call.latency_ms) - left), height: ROW - 10, rx: 2 });
      bar.appendChild(svg("title", {}, (call.step || call.model) + ": " + LG.fmtMs(call.latency_ms) +
        " from +" + LG.fmtMs(call.offset_ms)));
      link.appendChild(bar);
      plot.appendChild(link);
    });
    LG.clear(document.getElementById("waterfall")).appendChild(plot);
  }

  function callRow(call) {
    var href = "/ui/requests/" + encodeURIComponent(call.id);
    var tree = call.depth ? new Array(call.depth).join("   ") + "└─ " : "";
    return el("tr", { "data-id": call.id, "data-depth": call.depth, "data-parent": call.parent_id || "" },
      el("td", { class: "step" }, el("span", { class: "tree", text: tree }), call.step || "–"),
      el("td", { class: "nowrap", text: call.model }),
      el("td", { class: "nowrap" }, status(call)),
      el("td", { class: "num", text: "+" + LG.fmtMs(call.offset_ms) }),
      el("td", { class: "num", text: tokens(call.prompt_tokens, call.completion_tokens) }),
      el("td", { class: "num", text: cost(call.cost_usd, call.cost_unknown) }),
      el("td", { class: "num", text: LG.fmtMs(call.latency_ms) }),
      el("td", { class: "mono" }, el("a", { href: href, text: call.id.slice(0, 12) })));
  }

  function renderSession(id) {
    return LG.getJSON("/ui/api/sessions/" + encodeURIComponent(id)).then(function (data) {
      var t = data.totals;
      document.getElementById("session-id").textContent = data.session_id;
      LG.addToDataset(document.getElementById("dataset-add"), { session_id: data.session_id });
      LG.append(LG.clear(document.getElementById("totals")), [
        card("calls", "Calls", LG.fmtInt(t.calls), LG.fmtInt(t.errors) + (t.errors === 1 ? " error" : " errors")),
        card("tokens", "Tokens in / out", tokens(t.prompt_tokens, t.completion_tokens), LG.fmtInt(t.total_tokens) + " in all"),
        card("cost", "Cost", cost(t.cost_usd, t.cost_unknown), t.models.join(", ")),
        card("latency", "Latency (sum)", LG.fmtMs(t.latency_ms), LG.fmtMs(t.wall_ms) + " first start to last end"),
        card("span", "From", LG.fmtTime(t.first_at), "to " + LG.fmtTime(t.last_at)),
      ]);
      waterfall(data.calls, t);
      var body = LG.clear(document.getElementById("call-rows"));
      data.calls.forEach(function (call) { body.appendChild(callRow(call)); });
      LG.clear(document.getElementById("call-total")).appendChild(el("tr", { class: "total" },
        el("td", { text: "Total" }), el("td", { text: t.calls + " calls" }), el("td"), el("td"),
        el("td", { class: "num", text: tokens(t.prompt_tokens, t.completion_tokens) }),
        el("td", { class: "num", text: cost(t.cost_usd, t.cost_unknown) }),
        el("td", { class: "num", text: LG.fmtMs(t.latency_ms) }), el("td")));
    });
  }

  function render() {
    var id = LG.params().get("session");
    var current = filterValues();
    FILTERS.forEach(function (name) { document.getElementById("f-" + name).value = current[name]; });
    document.getElementById("filters").classList.toggle("hidden", !!id);
    document.getElementById("detail").classList.toggle("hidden", !id);
    document.getElementById("back").setAttribute("href", LG.withQuery("/ui/sessions", current));
    if (id) {
      document.getElementById("list").classList.add("hidden");
      document.getElementById("empty").classList.add("hidden");
      return renderSession(id);
    }
    return renderList();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.getElementById("filters").addEventListener("submit", function (event) {
      event.preventDefault();
      var changes = { session: null };
      FILTERS.forEach(function (name) { changes[name] = document.getElementById("f-" + name).value.trim(); });
      LG.setParams(changes);
    });
    document.getElementById("f-reset").addEventListener("click", function () {
      LG.setParams({ user: null, model: null, session: null });
    });
    LG.boot("sessions", render);
  });
})();
