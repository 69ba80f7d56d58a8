/*
 * llmgate dashboard: what every page shares (window.LG).
 *
 * - LG.boot(page, render): the top bar (navigation, who is logged in, log out), then render()
 *   on load and whenever the URL's query changes (range picker, filters, back/forward).
 * - LG.rangePicker(container): last 1h / 24h / 7d / 30d or a custom range, kept in the URL
 *   (?since=24h, or ?since=ISO&until=ISO) so that reloads and links keep it.
 * - LG.getJSON(url): fetch with the session cookie; a lapsed session goes to the login page,
 *   other errors are shown in the page's banner (and thrown). LG.postJSON(url, data): the same
 *   for a JSON post, its errors thrown only (the caller says them where the user acted).
 * - LG.el(tag, attrs, ...children): build DOM. Text always goes in as text nodes: record
 *   contents (prompts, responses) are untrusted and never parsed as HTML.
 */
(function () {
  "use strict";

  var PAGES = [
    ["overview", "Overview"],
    ["spend", "Spend"],
    ["requests", "Requests"],
    ["sessions", "Sessions"],
    ["monitors", "Monitors"],
    ["evals", "Evals"],
    ["canaries", "Canaries"],
    ["ops", "Operations"],
  ];
  var RANGES = [
    ["1h", "1h"],
    ["24h", "24h"],
    ["7d", "7d"],
    ["30d", "30d"],
  ];
  var DEFAULT_RANGE = "24h";
  var RANGE_KEYS = ["since", "until"];

  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) return;
        if (name === "text") node.textContent = String(value);
        else if (name === "class") node.className = value;
        else if (name.slice(0, 2) === "on") node.addEventListener(name.slice(2), value);
        else node.setAttribute(name, value === true ? "" : String(value));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) child.forEach(function (c) { append(node, c); });
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  // --- URL state ------------------------------------------------------------------------------

  function params() {
    return new URLSearchParams(window.location.search);
  }

  /** Change the URL's query (null removes a key) and re-render. */
  function setParams(changes, options) {
    var query = params();
    Object.keys(changes).forEach(function (key) {
      var value = changes[key];
      if (value === null || value === undefined || value === "") query.delete(key);
      else query.set(key, value);
    });
    var text = query.toString();
    var url = window.location.pathname + (text ? "?" + text : "");
    if (options && options.replace) window.history.replaceState(null, "", url);
    else window.history.pushState(null, "", url);
    rerender();
  }

  /** The range part of the query, for API calls and links: {since, until?}. */
  function range() {
    var query = params();
    var out = { since: query.get("since") || DEFAULT_RANGE };
    if (query.get("until")) out.until = query.get("until");
    return out;
  }

  function rangeQuery() {
    var out = new URLSearchParams();
    var current = range();
    RANGE_KEYS.forEach(function (key) { if (current[key]) out.set(key, current[key]); });
    return out;
  }

  function withQuery(path, values) {
    var query = rangeQuery();
    Object.keys(values || {}).forEach(function (key) {
      var value = values[key];
      if (value !== null && value !== undefined && value !== "") query.set(key, value);
    });
    var text = query.toString();
    return path + (text ? "?" + text : "");
  }

  // --- fetching -------------------------------------------------------------------------------

  function banner() {
    return document.getElementById("banner");
  }

  function showError(message) {
    var node = banner();
    if (!node) return;
    node.textContent = message;
    node.classList.remove("hidden");
  }

  function hideError() {
    var node = banner();
    if (node) node.classList.add("hidden");
  }

  // One request to the dashboard's API: the session cookie, JSON back; a lapsed session goes to the
  // login page; an error answer is thrown with the server's message (and, with banner, shown).
  function requestJSON(url, init, banner) {
    var options = Object.assign({ credentials: "same-origin" }, init);
    options.headers = Object.assign({ Accept: "application/json" }, init.headers || {});
    return fetch(url, options).then(
      function (response) {
        if (response.status === 401) {
          var here = window.location.pathname + window.location.search;
          window.location.assign("/ui/login?next=" + encodeURIComponent(here));
          throw new Error("Your session has ended: log in again.");
        }
        return response.text().then(function (text) {
          var body = null;
          try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
          if (!response.ok) {
            var message = body && body.error && body.error.message
              ? body.error.message
              : "The server answered " + response.status + ".";
            if (banner) showError(message);
            throw new Error(message);
          }
          if (banner) hideError();
          return body;
        });
      },
      function (error) {
        if (banner) showError("Cannot reach llmgate: " + error.message);
        throw error;
      }
    );
  }

  function getJSON(url) {
    return requestJSON(url, {}, true);
  }

  function postJSON(url, data) {
    return requestJSON(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(data),
    }, false);
  }

  // --- formatting -----------------------------------------------------------------------------

  var intFormat = new Intl.NumberFormat();

  function fmtInt(value) {
    return value === null || value === undefined ? "–" : intFormat.format(value);
  }

  function fmtMs(value) {
    if (value === null || value === undefined) return "–";
    if (value === 0) return "0 ms";
    if (value >= 10000) return (value / 1000).toFixed(1) + " s";
    if (value >= 1000) return (value / 1000).toFixed(2) + " s";
    if (value >= 10) return Math.round(value) + " ms";
    return value.toFixed(1) + " ms";
  }

  /**
   * A cost (exact decimal string or number) as dollars, by the rule of llmgate.store.money.usd (the
   * CLI's tables and messages): at least cents; under a dollar 4 significant digits, trailing zeros
   * past the cents dropped ($0.00429, $0.001, $0.50); a minus before the $; zero is $0.00.
   */
  function fmtUsd(value) {
    if (value === null || value === undefined || value === "") return "–";
    var amount = Number(value);
    if (!isFinite(amount)) return "$" + String(value);
    var abs = Math.abs(amount);
    if (abs === 0) return "$0.00";
    var places = abs >= 1 ? 2 : Math.min(10, Math.max(2, 3 - Math.floor(Math.log10(abs))));
    var text = abs.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: places });
    return (amount < 0 ? "-" : "") + "$" + text;
  }

  /** A dollar amount on a chart axis: cents from $0.10 up, two significant digits below. */
  function fmtUsdTick(value) {
    var amount = Number(value);
    if (amount === 0) return "$0";
    if (Math.abs(amount) >= 0.1) {
      return "$" + amount.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    }
    return "$" + amount.toLocaleString(undefined, { maximumSignificantDigits: 2 });
  }

  function fmtPct(value) {
    if (value === null || value === undefined) return "–";
    var pct = value * 100;
    return (pct === 0 || pct >= 10 ? pct.toFixed(0) : pct.toFixed(1)) + "%";
  }

  function fmtTime(iso) {
    if (!iso) return "–";
    var date = new Date(iso);
    return date.toLocaleString(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
  }

  /** A bucket's start as a short chart label: time of day for short ranges, date and time otherwise. */
  function fmtBucket(iso, bucketSeconds, spanSeconds) {
    var date = new Date(iso);
    if (bucketSeconds >= 86400) return date.toLocaleDateString(undefined, { month: "short", day: "numeric" });
    if (spanSeconds <= 86400) return date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
    return date.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function emptyState(title, hint, code) {
    return el("div", { class: "empty" },
      el("div", { class: "title", text: title }),
      hint ? el("p", { text: hint }) : null,
      code ? el("pre", { text: code }) : null);
  }

  /** How to send traffic through this gateway (for empty states). */
  function sendOneHint() {
    var base = window.location.origin;
    return "curl " + base + "/v1/chat/completions \\\n" +
      "  -H 'Authorization: Bearer $LLMGATE_KEY' -H 'Content-Type: application/json' \\\n" +
      "  -d '{\"model\": \"MODEL\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}]}'\n\n" +
      "or point your OpenAI client's base URL at " + base + "/v1";
  }

  // --- charts ---------------------------------------------------------------------------------

  var COLORS = {
    blue: "#2563eb", red: "#dc2626", green: "#16a34a", orange: "#ea580c", purple: "#7c3aed",
    teal: "#0d9488", gray: "#6b7280", amber: "#d97706", pink: "#db2777", sky: "#0284c7",
  };
  var PALETTE = [COLORS.blue, COLORS.orange, COLORS.teal, COLORS.purple, COLORS.pink, COLORS.amber,
    COLORS.sky, COLORS.green, COLORS.red, COLORS.gray];
  var charts = {};

  /** Draw (or redraw) a Chart.js chart on the canvas with this id. */
  function chart(id, config) {
    if (charts[id]) charts[id].destroy();
    var canvas = document.getElementById(id);
    if (!window.Chart || !canvas) return null;
    var Chart = window.Chart;
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.font.size = 12;
    Chart.defaults.color = "#374151";
    Chart.defaults.borderColor = "#e5e7eb";
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false },
      config.options || {});
    charts[id] = new Chart(canvas, config);
    return charts[id];
  }

  // --- range picker ---------------------------------------------------------------------------

  function toLocalInput(iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) return "";
    var shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
    return shifted.toISOString().slice(0, 16);
  }

  function rangePicker(container) {
    var current = range();
    var preset = !current.until && RANGES.some(function (r) { return r[0] === current.since; });
    var fromInput = el("input", { type: "datetime-local", id: "range-from", "aria-label": "From" });
    var toInput = el("input", { type: "datetime-local", id: "range-to", "aria-label": "To" });
    var custom = el("span", { class: "range-custom" + (preset ? " hidden" : "") },
      fromInput, el("span", { class: "muted", text: "to" }), toInput,
      el("button", {
        type: "button", class: "secondary", id: "range-apply", text: "Apply",
        onclick: function () {
          if (!fromInput.value) { showError("Pick a start for the custom range."); return; }
          var since = new Date(fromInput.value).toISOString();
          var until = toInput.value ? new Date(toInput.value).toISOString() : null;
          setParams({ since: since, until: until, cursor: null });
        },
      }));
    if (!preset) {
      fromInput.value = toLocalInput(current.since);
      if (current.until) toInput.value = toLocalInput(current.until);
    }
    var buttons = el("span", { class: "range-buttons", role: "group", "aria-label": "Time range" });
    RANGES.forEach(function (r) {
      buttons.appendChild(el("button", {
        type: "button", "data-range": r[0], class: preset && current.since === r[0] ? "active" : "",
        text: "Last " + r[1],
        onclick: function () { setParams({ since: r[0], until: null, cursor: null }); },
      }));
    });
    buttons.appendChild(el("button", {
      type: "button", "data-range": "custom", class: preset ? "" : "active", text: "Custom",
      onclick: function () { custom.classList.remove("hidden"); fromInput.focus(); },
    }));
    clear(container);
    append(container, [buttons, custom]);
  }

  // --- page frame -----------------------------------------------------------------------------

  var renderPage = null;

  function rerender() {
    var picker = document.getElementById("range");
    if (picker) rangePicker(picker);
    document.querySelectorAll(".topbar nav a[data-page]").forEach(function (link) {
      link.setAttribute("href", withQuery("/ui/" + link.getAttribute("data-page")));
    });
    if (renderPage) {
      Promise.resolve().then(renderPage).catch(function (error) {
        if (error && error.message) showError(error.message);
      });
    }
  }

  function topBar(active) {
    var nav = el("nav", { "aria-label": "Pages" });
    PAGES.forEach(function (p) {
      nav.appendChild(el("a", {
        href: withQuery("/ui/" + p[0]), class: p[0] === active ? "active" : "", "data-page": p[0], text: p[1],
      }));
    });
    var who = el("span", { class: "who" },
      el("span", { id: "who" }),
      el("form", { method: "post", action: "/ui/logout" }, el("button", { type: "submit", text: "Log out" })));
    return el("header", { class: "topbar" }, el("a", { class: "brand", href: "/ui/overview", text: "llmgate" }), nav, who);
  }

  function boot(active, render) {
    renderPage = render;
    document.body.insertBefore(topBar(active), document.body.firstChild);
    getJSON("/ui/api/session").then(function (session) {
      document.getElementById("who").textContent = "Logged in as " + session.name;
    }, function () {});
    window.addEventListener("popstate", rerender);
    rerender();
  }

  window.LG = {
    el: el, append: append, clear: clear, params: params, setParams: setParams, range: range,
    rangeQuery: rangeQuery, withQuery: withQuery, getJSON: getJSON, postJSON: postJSON, showError: showError,
    fmtInt: fmtInt, fmtMs: fmtMs, fmtUsd: fmtUsd, fmtUsdTick: fmtUsdTick, fmtPct: fmtPct, fmtTime: fmtTime, fmtBucket: fmtBucket,
    emptyState: emptyState, sendOneHint: sendOneHint, chart: chart, COLORS: COLORS, PALETTE: PALETTE,
    boot: boot,
  };
})();
