/*
 * "Add to dataset", on a request's page and a session's: LG.addToDataset(container, target)
 * puts a dataset-name input (suggesting the existing datasets, from GET /ui/api/datasets) and a
 * button in container; the button posts target ({request_id} or {session_id}) as JSON to
 * POST /ui/api/datasets/NAME/items (the dataset is made when it does not exist, a request already
 * in it is not added twice) and says what happened next to it. Names are 1 to 128 letters,
 * digits, ".", "_" or "-", as `llmgate dataset` takes them. Loaded after common.js.
 */
(function () {
  "use strict";
  var LG = window.LG;
  var el = LG.el;
  var NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

  function say(status, text, kind) {
    status.textContent = text;
    status.className = kind ? "badge " + kind : "muted";
  }

  function outcome(data, target) {
    var what = target.session_id ? "the session's calls" : "this request";
    var items = data.items + (data.items === 1 ? " item" : " items");
    if (data.added === 0) return "Already in " + data.name + " (" + items + ").";
    var made = data.created ? "Created " + data.name + " with " : "Added to " + data.name + ": ";
    var added = target.session_id ? data.added + (data.added === 1 ? " call" : " calls") : what;
    return made + added + (data.present ? " (" + data.present + " already in it)" : "") + "; " + items + ".";
  }

  function post(name, target) {
    return LG.postJSON("/ui/api/datasets/" + encodeURIComponent(name) + "/items", target);
  }

  function fillNames(list) {
    return LG.getJSON("/ui/api/datasets").then(function (data) {
      LG.clear(list);
      data.datasets.forEach(function (d) {
        list.appendChild(el("option", { value: d.name, label: d.name + " (" + d.items + ")" }));
      });
    }, function () {});
  }

  function addToDataset(container, target) {
    var list = el("datalist", { id: "dataset-names" });
    var input = el("input", { type: "text", id: "dataset-name", list: "dataset-names", maxlength: 128, size: 24,
      placeholder: "dataset name", autocomplete: "off", "aria-label": "Dataset name" });
    var button = el("button", { type: "submit", id: "dataset-add-button", text: "Add to dataset" });
    var status = el("span", { id: "dataset-status", class: "muted", role: "status" });
    var form = el("form", { class: "controls", id: "dataset-form" }, input, list, button, status);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var name = input.value.trim();
      if (!NAME.test(name)) {
        say(status, "A dataset name is letters, digits, '.', '_' or '-' (at most 128).", "error");
        return;
      }
      button.disabled = true;
      say(status, "Adding…");
      post(name, target).then(function (data) {
        say(status, outcome(data, target), "ok");
        fillNames(list);
      }, function (error) {
        say(status, error.message, "error");
      }).then(function () { button.disabled = false; });
    });
    LG.clear(container).appendChild(form);
    fillNames(list);
  }

  LG.addToDataset = addToDataset;
})();
