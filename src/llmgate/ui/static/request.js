/* One request: summary, messages, response, retrieved context (RAG), attempts, parameters.
   Record text is untrusted: it is only ever set as textContent. */
(function () {
  "use strict";
  var LG = window.LG;
  var el = LG.el;

  function recordId() {
    var parts = window.location.pathname.split("/");
    return decodeURIComponent(parts[parts.length - 1]);
  }

  function fact(name, value, attrs) {
    return el("div", attrs || {}, el("div", { class: "k", text: name }), el("div", { class: "v", text: value }));
  }

  function partText(part) {
    if (typeof part === "string") return part;
    if (!part || typeof part !== "object") return "";
    if (typeof part.text === "string") return part.text;
    return "[" + (part.type || "part") + "]";
  }

  function contentText(content) {
    if (content === null || content === undefined) return "";
    if (typeof content === "string") return content;
    if (Array.isArray(content)) return content.map(partText).join("\n");
    return JSON.stringify(content, null, 2);
  }

  function message(role, text, extra) {
    return el("div", { class: "message" },
      el("div", { class: "role", text: role }),
      el("div", { class: "content", text: text }),
      extra ? el("pre", { class: "block", text: extra }) : null);
  }

  function messages(request) {
    var box = LG.clear(document.getElementById("messages"));
    if (!request || typeof request !== "object") {
      box.appendChild(el("p", { class: "muted", text: "The request body was not recorded." }));
      return;
    }
    if (Array.isArray(request.messages)) {
      request.messages.forEach(function (m) {
        var calls = m && m.tool_calls ? JSON.stringify(m.tool_calls, null, 2) : null;
        box.appendChild(message((m && m.role) || "message", contentText(m && m.content), calls));
      });
    } else if (request.prompt !== undefined) {
      box.appendChild(message("prompt", contentText(request.prompt)));
    } else if (request.input !== undefined) {
      box.appendChild(message("input", contentText(request.input)));
    } else {
      box.appendChild(el("p", { class: "muted", text: "No prompt recorded (log_prompts is off for this deployment)." }));
    }
  }

  function response(record) {
    var box = LG.clear(document.getElementById("response"));
    if (record.response_text) box.appendChild(message("assistant", record.response_text));
    if (record.tool_calls) box.appendChild(message("tool calls", "", JSON.stringify(record.tool_calls, null, 2)));
    if (!record.response_text && !record.tool_calls) {
      box.appendChild(el("p", { class: "muted", text: record.status === "error" ? "No response: the request failed." : "No response text recorded." }));
    }
  }

  function retrievedContext(context) {
    var box = LG.clear(document.getElementById("context"));
    document.getElementById("context-panel").classList.toggle("hidden", !context);
    if (!context) return;
    var n = context.passages.length;
    document.getElementById("context-note").textContent = n + (n === 1 ? " passage" : " passages") +
      ", from " + context.from + ": what the retrieval-quality monitor scores this request on.";
    context.passages.forEach(function (text, i) {
      box.appendChild(el("div", { class: "message", "data-passage": i + 1 },
        el("div", { class: "role", text: "passage " + (i + 1) }),
        el("div", { class: "content", text: text })));
    });
  }

  function attempts(record) {
    var rows = record.attempts_detail || [];
    var table = LG.clear(document.getElementById("attempts"));
    if (!rows.length) {
      table.appendChild(el("tbody", {}, el("tr", {}, el("td", { class: "muted", text: "No upstream attempt (refused before routing)." }))));
      return;
    }
    table.appendChild(el("thead", {}, el("tr", {},
      el("th", { text: "#" }), el("th", { text: "Deployment" }), el("th", { text: "Provider" }),
      el("th", { text: "Status" }), el("th", { text: "Error" }), el("th", { class: "num", text: "Latency" }))));
    var body = el("tbody");
    rows.forEach(function (a, i) {
      body.appendChild(el("tr", { "data-attempt": i + 1 },
        el("td", { text: i + 1 }),
        el("td", { text: a.deployment }),
        el("td", { text: a.provider }),
        el("td", {}, el("span", { class: "badge " + (a.status === "success" ? "ok" : "error"),
          text: a.status + (a.status_code ? " " + a.status_code : "") })),
        el("td", { text: a.error_type || "" }),
        el("td", { class: "num", text: LG.fmtMs(a.latency_ms) })));
    });
    table.appendChild(body);
  }

  function scoreValue(s) {
    if (s.kind === "bool") return s.value ? "true" : "false";
    if (s.kind === "number") return String(Math.round(s.value * 1000) / 1000);
    return s.value;
  }

  // who gave a score: a key's or the master key's feedback, the monitor, an eval run (a link to it)
  function scoreSource(source) {
    if (source.indexOf("eval:") === 0) {
      var run = source.slice(5);
      return el("a", { href: "/ui/evals?run=" + encodeURIComponent(run), title: source, text: "eval run " + run.slice(0, 12) });
    }
    if (source.indexOf("key:") === 0) return el("span", { title: source, text: "key " + source.slice(4) });
    return el("span", { text: source === "master" ? "master key" : source });
  }

  function scores(record) {  // every score this request got, from whom (feedback, the monitor, evals)
    var rows = record.scores || [];
    var table = LG.clear(document.getElementById("scores"));
    if (!rows.length) {
      table.appendChild(el("tbody", {}, el("tr", {}, el("td", { class: "muted", text: "No scores yet (POST /v1/feedback, the monitors, eval runs)." }))));
      return;
    }
    table.appendChild(el("thead", {}, el("tr", {},
      el("th", { text: "Name" }), el("th", { text: "Value" }), el("th", { text: "From" }),
      el("th", { text: "On" }), el("th", { text: "Comment" }), el("th", { text: "Time" }))));
    var body = el("tbody");
    rows.forEach(function (s) {
      body.appendChild(el("tr", { "data-score": s.name, "data-source": s.source },
        el("td", { text: s.name }),
        el("td", { text: scoreValue(s) }),
        el("td", {}, scoreSource(s.source)),
        el("td", { text: s.target_kind }),
        el("td", { text: s.comment || "" }),
        el("td", { text: LG.fmtTime(s.updated_at) })));
    });
    table.appendChild(body);
  }

  function render() {
    var back = document.getElementById("back");
    back.setAttribute("href", "/ui/requests" + window.location.search);
    return LG.getJSON("/ui/api/requests/" + encodeURIComponent(recordId())).then(function (r) {
      document.title = r.model + " request · llmgate";
      document.getElementById("title").textContent = "Request to " + r.model;
      var tokens = LG.fmtInt(r.prompt_tokens) + " in / " + LG.fmtInt(r.completion_tokens) + " out" +
        (r.tokens_estimated ? " (estimated)" : "");
      var key = r.key_alias ? r.key_alias + " (" + r.key_id + ")" : r.key_id || (r.auth_identity === "master" ? "master key" : "–");
      var tags = r.tags && Object.keys(r.tags).length
        ? Object.keys(r.tags).map(function (k) { return k + "=" + r.tags[k]; }).join(", ") : "–";
      LG.clear(document.getElementById("facts")).append(
        fact("Status", r.status + " (" + r.status_code + ")", { "data-fact": "status" }),
        fact("Time", LG.fmtTime(r.created_at)),
        fact("Model", r.model, { "data-fact": "model" }),
        fact("Deployment", (r.deployment || "–") + (r.upstream_model ? " → " + r.upstream_model : "")),
        fact("Provider", r.provider || "–"),
        fact("Endpoint", r.endpoint + (r.stream ? " (stream)" : "")),
        fact("Tokens", tokens, { "data-fact": "tokens" }),
        fact("Cost", r.cost_unknown ? "unknown (no price)" : LG.fmtUsd(r.cost_usd), { "data-fact": "cost" }),
        fact("Latency", LG.fmtMs(r.latency_ms), { "data-fact": "latency" }),
        fact("Time to first token", LG.fmtMs(r.ttft_ms)),
        fact("Attempts", String(r.attempts)),
        fact("Finish reason", r.finish_reason || "–"),
        fact("Key", key, { "data-fact": "key" }),
        fact("Team", r.team_id || "–", { "data-fact": "team" }),
        fact("User", r.user || "–"),
        fact("Tags", tags, { "data-fact": "tags" }),
        fact("Request id", r.id));
      if (r.session_id || r.parent_id || r.step) {  // an agent's session: back to its timeline, its parent call
        document.getElementById("facts").append(el("div", { "data-fact": "session" },
          el("div", { class: "k", text: "Session" }),
          el("div", { class: "v" },
            r.session_id ? el("a", { href: "/ui/sessions?session=" + encodeURIComponent(r.session_id), text: r.session_id }) : "–",
            r.step ? " · step " + r.step : "",
            r.parent_id ? " · parent " : "",
            r.parent_id ? el("a", { href: "/ui/requests/" + encodeURIComponent(r.parent_id), text: r.parent_id.slice(0, 12) }) : null)));
      }
      var errorPanel = document.getElementById("error-panel");
      errorPanel.classList.toggle("hidden", !r.error_type && !r.error_message);
      document.getElementById("error").textContent = [r.error_type, r.error_message].filter(Boolean).join(": ");
      messages(r.request);
      response(r);
      retrievedContext(r.retrieved_context);
      scores(r);
      attempts(r);
      var params = {};
      Object.keys(r.request || {}).forEach(function (k) {
        if (["messages", "prompt", "input"].indexOf(k) < 0) params[k] = r.request[k];
      });
      if (r.metadata) params["(metadata)"] = r.metadata;
      document.getElementById("params").textContent = JSON.stringify(params, null, 2);
      LG.addToDataset(document.getElementById("dataset-add"), { request_id: r.id });
      document.getElementById("content").classList.remove("hidden");
    });
  }

  document.addEventListener("DOMContentLoaded", function () { LG.boot("requests", render); });
})();
