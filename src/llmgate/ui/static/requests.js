/* Requests: the request log, newest first, filtered by text, model, endpoint, status, key and time range. */
(function () {
  "use strict";
  var LG = window.LG;
  var el = LG.el;
  var FILTERS = ["q", "model", "endpoint", "status", "key"];
  var nextCursor = null;

  function filterValues() {
    var query = LG.params();
    var out = {};
    FILTERS.forEach(function (name) { out[name] = query.get(name) || ""; });
    return out;
  }

  function option(select, value, text) {
    if (!Array.prototype.some.call(select.options, function (o) { return o.value === value; })) {
      select.appendChild(el("option", { value: value, text: text }));
    }
  }

  function syncForm(filters) {
    var current = filterValues();
    var model = document.getElementById("f-model");
    var key = document.getElementById("f-key");
    var endpoint = document.getElementById("f-endpoint");
    while (model.options.length > 1) model.remove(1);
    while (endpoint.options.length > 1) endpoint.remove(1);
    (filters.endpoints || []).forEach(function (e) { option(endpoint, e, e); });
    if (current.endpoint) option(endpoint, current.endpoint, current.endpoint);
    endpoint.value = current.endpoint;
    while (key.options.length > 1) key.remove(1);
    filters.models.forEach(function (m) { option(model, m, m); });
    filters.keys.forEach(function (k) { option(key, k.id, k.alias + (k.team ? " (" + k.team + ")" : "")); });
    if (current.model) option(model, current.model, current.model);
    if (current.key) option(key, current.key, current.key);
    model.value = current.model;
    key.value = current.key;
  }

  /** The fields that need no server data, set from the URL at once (before anything is fetched). */
  function syncFields() {
    var current = filterValues();
    var status = document.getElementById("f-status");
    if (current.status) option(status, current.status, current.status);
    status.value = current.status;
    document.getElementById("f-q").value = current.q;
  }

  function row(r) {
    var href = "/ui/requests/" + encodeURIComponent(r.id) + window.location.search;
    var status = el("span", { class: "badge " + (r.status === "success" ? "ok" : "error"),
      text: r.status === "success" ? String(r.status_code) : r.status_code + (r.error_type ? " " + r.error_type : "") });
    var tokens = r.prompt_tokens === null && r.completion_tokens === null
      ? "–" : LG.fmtInt(r.prompt_tokens || 0) + " / " + LG.fmtInt(r.completion_tokens || 0);
    var node = el("tr", { class: "clickable", "data-id": r.id, "data-model": r.model, "data-status": r.status },
      el("td", { class: "nowrap" }, el("a", { href: href, text: LG.fmtTime(r.created_at) })),
      el("td", { class: "nowrap", text: r.model }),
      el("td", { class: "nowrap", text: r.endpoint || "–" }),
      el("td", { class: "nowrap" }, status),
      el("td", { class: "nowrap", text: r.key_alias || (r.auth_identity === "master" ? "master key" : r.auth_identity || "–") }),
      el("td", { class: "num", text: tokens }),
      el("td", { class: "num", text: r.cost_unknown ? "unknown" : LG.fmtUsd(r.cost_usd) }),
      el("td", { class: "num", text: LG.fmtMs(r.latency_ms) }),
      el("td", { class: "preview", title: r.prompt_preview, text: r.prompt_preview || "" }));
    node.addEventListener("click", function (event) {
      if (event.target.tagName !== "A") window.location.assign(href);
    });
    return node;
  }

  function load(cursor) {
    var filters = filterValues();
    filters.cursor = cursor;
    return LG.getJSON(LG.withQuery("/ui/api/requests", filters)).then(function (data) {
      var body = document.getElementById("rows");
      if (!cursor) LG.clear(body);
      data.rows.forEach(function (r) { body.appendChild(row(r)); });
      nextCursor = data.next_cursor;
      document.getElementById("more").classList.toggle("hidden", !nextCursor);
      var empty = document.getElementById("empty");
      var none = !cursor && data.rows.length === 0;
      document.getElementById("content").classList.toggle("hidden", none);
      empty.classList.toggle("hidden", !none);
      if (none) {
        var filtered = FILTERS.some(function (name) { return filters[name]; });
        LG.clear(empty).appendChild(filtered
          ? LG.emptyState("No requests match these filters.", "Widen the time range or press Reset to clear the filters.")
          : LG.emptyState("No requests in this range.", "Pick a longer range, or send one through the gateway:", LG.sendOneHint()));
      }
    });
  }

  function render() {
    syncFields();
    return Promise.all([LG.getJSON(LG.withQuery("/ui/api/filters")), load(null)]).then(function (results) {
      syncForm(results[0]);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.getElementById("filters").addEventListener("submit", function (event) {
      event.preventDefault();
      var changes = {};
      FILTERS.forEach(function (name) { changes[name] = document.getElementById("f-" + name).value.trim(); });
      LG.setParams(changes);
    });
    document.getElementById("f-reset").addEventListener("click", function () {
      LG.setParams({ q: null, model: null, endpoint: null, status: null, key: null });
    });
    ["f-model", "f-endpoint", "f-status", "f-key"].forEach(function (id) {
      document.getElementById(id).addEventListener("change", function () {
        document.getElementById("filters").requestSubmit();
      });
    });
    document.getElementById("more").addEventListener("click", function () {
      if (nextCursor) load(nextCursor).catch(function () {});
    });
    LG.boot("requests", render);
  });
})();
