/*
 * The segment builder: edits a react-querybuilder style rule tree with nested groups,
 * field-aware operators and value inputs, shows a live count and sample through
 * POST /api/segments/preview, and saves through the segments API.
 *
 * Plain JavaScript, no dependencies, no inline code (the page's CSP forbids it).  The
 * CSRF token from the page's <meta name="csrf-token"> goes with every POST/PUT.
 */
(function () {
  "use strict";

  var root = document.getElementById("segment-builder");
  if (!root) {
    return;
  }

  var PREVIEW_DELAY_MS = 350;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var editable = root.dataset.editable === "true";

  var registry = null;
  var fieldsByName = {};
  var operatorsByName = {};
  var baseVersion = null;
  var previewSeq = 0;
  var previewTimer = null;

  var state = {
    name: "",
    description: "",
    rules: { combinator: "and", not: false, rules: [] },
    target: { level: "contacts", roles: [], channels: ["email"] }
  };

  var treeBox = document.getElementById("rule-tree");
  var errorBox = document.getElementById("builder-error");
  var countBox = document.getElementById("preview-count");
  var unitBox = document.getElementById("preview-unit");
  var statusBox = document.getElementById("preview-status");
  var sampleTable = document.getElementById("preview-sample");
  var nameInput = document.getElementById("segment-name");
  var descriptionInput = document.getElementById("segment-description");
  var levelSelect = document.getElementById("target-level");
  var rolesBox = document.getElementById("target-roles");
  var channelsBox = document.getElementById("target-channels");
  var noteInput = document.getElementById("segment-note");
  var saveButton = document.getElementById("save-segment");
  var saveStatus = document.getElementById("save-status");

  // -- helpers -------------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === undefined || value === null || value === false) {
        return;
      }
      if (key === "text") {
        node.textContent = value;
      } else if (key === "className") {
        node.className = value;
      } else if (key in node && typeof value !== "string") {
        node[key] = value;
      } else {
        node.setAttribute(key, value === true ? "" : value);
      }
    });
    (children || []).forEach(function (child) {
      if (child) {
        node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      }
    });
    return node;
  }

  function api(url, method, body) {
    var headers = { Accept: "application/json" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
    }
    if (method !== "GET") {
      headers["X-CSRFToken"] = csrfToken;
    }
    return fetch(url, {
      method: method,
      headers: headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(
        function (payload) { return { ok: response.ok, status: response.status, payload: payload }; },
        function () { return { ok: response.ok, status: response.status, payload: null }; }
      );
    });
  }

  function errorMessage(result) {
    if (result.payload && result.payload.error) {
      return result.payload.error.message;
    }
    return "The server answered " + result.status + "; try again.";
  }

  function childPath(parentPath, index) {
    return (parentPath ? parentPath + "." : "") + "rules[" + index + "]";
  }

  function todayIso() {
    var now = new Date();
    var month = String(now.getMonth() + 1).padStart(2, "0");
    var day = String(now.getDate()).padStart(2, "0");
    return now.getFullYear() + "-" + month + "-" + day;
  }

  // -- rule values ---------------------------------------------------------------------

  function arityOf(operatorName) {
    var operator = operatorsByName[operatorName];
    return operator ? operator.arity : "one";
  }

  function defaultValue(field, operatorName) {
    var arity = arityOf(operatorName);
    if (arity === "none") {
      return undefined;
    }
    if (arity === "days") {
      return 30;
    }
    var single;
    if (field.type === "enum") {
      single = field.values[0];
    } else if (field.type === "boolean") {
      single = true;
    } else if (field.type === "decimal") {
      single = "0";
    } else if (field.type === "date") {
      single = todayIso();
    } else {
      single = "";
    }
    if (arity === "list") {
      return field.type === "enum" ? [single] : [];
    }
    if (arity === "two") {
      return [single, single];
    }
    return single;
  }

  function setValue(rule, value) {
    if (value === undefined) {
      delete rule.value;
    } else {
      rule.value = value;
    }
  }

  function inputFor(field, value, onChange) {
    if (field.type === "enum") {
      var select = el("select", { disabled: !editable, "aria-label": field.label + " value" },
        field.values.map(function (v) {
          return el("option", { value: v, text: v, selected: v === value });
        }));
      select.addEventListener("change", function () { onChange(select.value); });
      return select;
    }
    if (field.type === "boolean") {
      var flag = el("select", { disabled: !editable, "aria-label": field.label + " value" }, [
        el("option", { value: "true", text: "yes", selected: value === true }),
        el("option", { value: "false", text: "no", selected: value === false })
      ]);
      flag.addEventListener("change", function () { onChange(flag.value === "true"); });
      return flag;
    }
    var type = field.type === "decimal" ? "number" : field.type === "date" ? "date" : "text";
    var input = el("input", {
      type: type,
      value: value === undefined || value === null ? "" : String(value),
      step: field.type === "decimal" ? "0.01" : null,
      disabled: !editable,
      "aria-label": field.label + " value"
    });
    input.addEventListener("input", function () { onChange(input.value); });
    return input;
  }

  function valueEditor(rule, field) {
    var arity = arityOf(rule.operator);
    var box = el("span", { className: "value-editor" });
    if (arity === "none") {
      return box;
    }
    if (arity === "days") {
      var days = el("input", {
        type: "number", min: "0", step: "1", value: String(rule.value === undefined ? "" : rule.value),
        disabled: !editable, "aria-label": "number of days"
      });
      days.addEventListener("input", function () {
        setValue(rule, /^[0-9]+$/.test(days.value) ? parseInt(days.value, 10) : days.value);
        schedulePreview();
      });
      box.appendChild(days);
      box.appendChild(el("span", { text: "days" }));
      return box;
    }
    if (arity === "two") {
      var pair = Array.isArray(rule.value) ? rule.value.slice(0, 2) : ["", ""];
      [0, 1].forEach(function (index) {
        if (index === 1) {
          box.appendChild(el("span", { text: "and" }));
        }
        box.appendChild(inputFor(field, pair[index], function (value) {
          pair[index] = value;
          setValue(rule, pair.slice());
          schedulePreview();
        }));
      });
      return box;
    }
    if (arity === "list") {
      var chosen = Array.isArray(rule.value) ? rule.value : [];
      if (field.type === "enum") {
        var multi = el("select", {
          multiple: true, size: String(Math.min(field.values.length, 6)), disabled: !editable,
          "aria-label": field.label + " values"
        }, field.values.map(function (v) {
          return el("option", { value: v, text: v, selected: chosen.indexOf(v) >= 0 });
        }));
        multi.addEventListener("change", function () {
          setValue(rule, Array.prototype.filter.call(multi.options, function (o) { return o.selected; })
            .map(function (o) { return o.value; }));
          schedulePreview();
        });
        box.appendChild(multi);
        return box;
      }
      var list = el("input", {
        type: "text", value: chosen.join(", "), placeholder: "comma-separated values",
        disabled: !editable, "aria-label": field.label + " values"
      });
      list.addEventListener("input", function () {
        setValue(rule, list.value.split(",").map(function (v) { return v.trim(); })
          .filter(function (v) { return v !== ""; }));
        schedulePreview();
      });
      box.appendChild(list);
      return box;
    }
    box.appendChild(inputFor(field, rule.value, function (value) {
      setValue(rule, value);
      schedulePreview();
    }));
    return box;
  }

  // -- the tree ------------------------------------------------------------------------

  function newRule() {
    var field = registry.fields[0];
    var rule = { field: field.name, operator: field.operators[0] };
    setValue(rule, defaultValue(field, rule.operator));
    return rule;
  }

  function fieldSelect(rule) {
    var groups = {};
    var order = [];
    registry.fields.forEach(function (field) {
      if (!groups[field.group]) {
        groups[field.group] = el("optgroup", { label: field.group });
        order.push(field.group);
      }
      groups[field.group].appendChild(
        el("option", { value: field.name, text: field.label, selected: field.name === rule.field })
      );
    });
    var select = el("select", { className: "rule-field", disabled: !editable, "aria-label": "field" },
      order.map(function (name) { return groups[name]; }));
    if (!fieldsByName[rule.field]) {
      select.insertBefore(el("option", { value: rule.field, text: rule.field, selected: true }), select.firstChild);
    }
    select.addEventListener("change", function () {
      var field = fieldsByName[select.value];
      rule.field = field.name;
      if (field.operators.indexOf(rule.operator) < 0) {
        rule.operator = field.operators[0];
      }
      setValue(rule, defaultValue(field, rule.operator));
      changed();
    });
    return select;
  }

  function operatorSelect(rule, field) {
    var select = el("select", { className: "rule-operator", disabled: !editable, "aria-label": "operator" },
      field.operators.map(function (name) {
        var operator = operatorsByName[name];
        return el("option", { value: name, text: operator ? operator.label : name, selected: name === rule.operator });
      }));
    select.addEventListener("change", function () {
      var before = arityOf(rule.operator);
      rule.operator = select.value;
      if (arityOf(rule.operator) !== before) {
        setValue(rule, defaultValue(field, rule.operator));
      }
      changed();
    });
    return select;
  }

  function renderRule(rule, path, parent, index) {
    var field = fieldsByName[rule.field];
    var row = el("div", { className: "rule-row", "data-path": path });
    row.appendChild(fieldSelect(rule));
    if (field) {
      row.appendChild(operatorSelect(rule, field));
      row.appendChild(valueEditor(rule, field));
    }
    if (editable) {
      var remove = el("button", { type: "button", className: "btn btn-danger", text: "Remove", "aria-label": "remove rule" });
      remove.addEventListener("click", function () {
        parent.rules.splice(index, 1);
        changed();
      });
      row.appendChild(remove);
    }
    return row;
  }

  function renderGroup(group, path, parent, index) {
    var box = el("div", {
      className: "rule-group" + (group.not ? " negated" : ""), "data-path": path, role: "group"
    });
    var head = el("div", { className: "group-head" });
    var combinator = el("select", { className: "group-combinator", disabled: !editable, "aria-label": "combinator" }, [
      el("option", { value: "and", text: "ALL of (and)", selected: group.combinator === "and" }),
      el("option", { value: "or", text: "ANY of (or)", selected: group.combinator === "or" })
    ]);
    combinator.addEventListener("change", function () {
      group.combinator = combinator.value;
      changed();
    });
    var notBox = el("input", { type: "checkbox", className: "group-not", checked: !!group.not, disabled: !editable });
    notBox.addEventListener("change", function () {
      group.not = notBox.checked;
      changed();
    });
    head.appendChild(el("label", {}, [notBox, "NOT"]));
    head.appendChild(combinator);
    if (editable) {
      var addRule = el("button", { type: "button", className: "btn btn-secondary add-rule", text: "+ Rule" });
      addRule.addEventListener("click", function () {
        group.rules.push(newRule());
        changed();
      });
      var addGroup = el("button", { type: "button", className: "btn btn-secondary add-group", text: "+ Group" });
      addGroup.addEventListener("click", function () {
        group.rules.push({ combinator: "and", not: false, rules: [newRule()] });
        changed();
      });
      head.appendChild(addRule);
      head.appendChild(addGroup);
      if (parent) {
        var remove = el("button", { type: "button", className: "btn btn-danger", text: "Remove group" });
        remove.addEventListener("click", function () {
          parent.rules.splice(index, 1);
          changed();
        });
        head.appendChild(remove);
      }
    }
    box.appendChild(head);
    var children = el("div", { className: "group-children" });
    if (!group.rules.length) {
      children.appendChild(el("p", {
        className: "empty-group",
        text: group.combinator === "and" ? "No rules: matches everyone." : "No rules: matches no one."
      }));
    }
    group.rules.forEach(function (child, childIndex) {
      var at = childPath(path, childIndex);
      children.appendChild(Array.isArray(child.rules)
        ? renderGroup(child, at, group, childIndex)
        : renderRule(child, at, group, childIndex));
    });
    box.appendChild(children);
    return box;
  }

  function renderTree() {
    treeBox.textContent = "";
    treeBox.appendChild(renderGroup(state.rules, "", null, 0));
  }

  // -- the target ----------------------------------------------------------------------

  function checkbox(name, checked, onChange) {
    var input = el("input", { type: "checkbox", value: name, checked: checked, disabled: !editable });
    input.addEventListener("change", function () { onChange(input.checked); });
    return el("label", {}, [input, name.replace(/_/g, " ")]);
  }

  function renderTarget() {
    levelSelect.value = state.target.level;
    rolesBox.textContent = "";
    registry.roles.forEach(function (role) {
      rolesBox.appendChild(checkbox(role, state.target.roles.indexOf(role) >= 0, function (on) {
        var at = state.target.roles.indexOf(role);
        if (on && at < 0) {
          state.target.roles.push(role);  // ticking order is the priority order
        } else if (!on && at >= 0) {
          state.target.roles.splice(at, 1);
        }
        schedulePreview();
      }));
    });
    channelsBox.textContent = "";
    registry.channels.forEach(function (channel) {
      channelsBox.appendChild(checkbox(channel, state.target.channels.indexOf(channel) >= 0, function (on) {
        state.target.channels = registry.channels.filter(function (c) {
          return c === channel ? on : state.target.channels.indexOf(c) >= 0;
        });
        schedulePreview();
      }));
    });
  }

  // -- preview -------------------------------------------------------------------------

  function clearNodeErrors() {
    Array.prototype.forEach.call(root.querySelectorAll(".invalid"), function (node) {
      node.classList.remove("invalid");
    });
    Array.prototype.forEach.call(root.querySelectorAll(".node-error"), function (node) {
      node.remove();
    });
    errorBox.hidden = true;
    errorBox.textContent = "";
  }

  function nodeFor(path) {
    var best = null;
    Array.prototype.forEach.call(treeBox.querySelectorAll("[data-path]"), function (node) {
      var nodePath = node.getAttribute("data-path");
      var fits = nodePath === "" || path === nodePath || path.indexOf(nodePath + ".") === 0;
      if (fits && (best === null || nodePath.length > best.getAttribute("data-path").length)) {
        best = node;
      }
    });
    return best;
  }

  function showProblems(payload) {
    clearNodeErrors();
    var error = payload && payload.error;
    if (!error) {
      return;
    }
    var problems = (error.details && error.details.errors) || [];
    var general = [];
    problems.forEach(function (problem) {
      var path = problem.path || "";
      var node = path.indexOf("target") === 0 ? null : nodeFor(path);
      if (node && path !== "") {
        node.classList.add("invalid");
        var text = problem.message;
        if (problem.allowed && problem.allowed.length && problem.allowed.length <= 12) {
          text += " (allowed: " + problem.allowed.join(", ") + ")";
        }
        var holder = node.classList.contains("rule-group") ? node.querySelector(".group-head") : node;
        holder.appendChild(el("p", { className: "node-error", text: text }));
      } else {
        general.push((path ? path + ": " : "") + problem.message);
      }
    });
    if (!problems.length) {
      general.push(error.message);
    }
    if (general.length) {
      errorBox.textContent = general.join(" · ");
      errorBox.hidden = false;
    }
  }

  function renderSample(rows) {
    var head = sampleTable.tHead;
    var body = sampleTable.tBodies[0];
    head.textContent = "";
    body.textContent = "";
    if (!rows.length) {
      body.appendChild(el("tr", {}, [el("td", { className: "empty", text: "No matching rows." })]));
      return;
    }
    var columns = Object.keys(rows[0]);
    head.appendChild(el("tr", {}, columns.map(function (c) {
      return el("th", { text: c.replace(/_/g, " ") });
    })));
    rows.forEach(function (row) {
      body.appendChild(el("tr", {}, columns.map(function (c) {
        var value = row[c];
        return el("td", { text: value === null || value === undefined ? "" : String(value) });
      })));
    });
  }

  function schedulePreview() {
    if (previewTimer) {
      clearTimeout(previewTimer);
    }
    countBox.setAttribute("data-state", "loading");
    statusBox.textContent = "Counting…";
    previewTimer = setTimeout(runPreview, PREVIEW_DELAY_MS);
  }

  function runPreview() {
    previewTimer = null;
    var seq = ++previewSeq;
    var started = performance.now();
    api(root.dataset.previewUrl, "POST", { rules: state.rules, target: state.target }).then(function (result) {
      if (seq !== previewSeq) {
        return;  // a newer edit has been sent since
      }
      if (!result.ok) {
        countBox.textContent = "–";
        countBox.setAttribute("data-state", "error");
        unitBox.textContent = "";
        statusBox.textContent = "Fix the highlighted rules to see the count.";
        showProblems(result.payload);
        if (!(result.payload && result.payload.error && result.payload.error.details)) {
          statusBox.textContent = errorMessage(result);
        }
        renderSample([]);
        return;
      }
      clearNodeErrors();
      var data = result.payload;
      countBox.textContent = String(data.count);
      countBox.setAttribute("data-state", "ready");
      var unit = data.target.level === "organisations" ? "organisations" : "contacts";
      var extra = "";
      if (data.by_channel) {
        extra = " (" + Object.keys(data.by_channel).map(function (c) {
          return c + " " + data.by_channel[c];
        }).join(" · ") + ")";
      }
      unitBox.textContent = unit + extra;
      statusBox.textContent = "Evaluated on " + data.evaluated_on + " (UTC) in " +
        Math.round(performance.now() - started) + " ms.";
      renderSample(data.sample);
    }, function () {
      if (seq === previewSeq) {
        countBox.setAttribute("data-state", "error");
        statusBox.textContent = "The preview could not reach the server; check your connection.";
      }
    });
  }

  function changed() {
    renderTree();
    schedulePreview();
  }

  // -- saving --------------------------------------------------------------------------

  function save() {
    var method = root.dataset.saveMethod;
    var body = {
      name: state.name,
      description: state.description,
      rules: state.rules,
      target: state.target,
      note: noteInput ? noteInput.value : ""
    };
    if (method === "PUT" && baseVersion !== null) {
      body.base_version = baseVersion;
    }
    saveButton.disabled = true;
    saveStatus.textContent = "Saving…";
    api(root.dataset.saveUrl, method, body).then(function (result) {
      saveButton.disabled = false;
      if (!result.ok) {
        saveStatus.textContent = errorMessage(result);
        showProblems(result.payload);
        return;
      }
      var data = result.payload;
      if (method === "POST") {
        window.location.assign(root.dataset.listUrl + "/" + data.id);
        return;
      }
      baseVersion = data.latest_version.number;
      if (noteInput) {
        noteInput.value = "";
      }
      saveStatus.textContent = data.version_created
        ? "Saved as version " + data.version.number + "."
        : "Nothing to version: the rules and target equal version " + data.version.number + ".";
    }, function () {
      saveButton.disabled = false;
      saveStatus.textContent = "The server could not be reached; your edits are still here.";
    });
  }

  // -- start ---------------------------------------------------------------------------

  function bindMeta() {
    nameInput.value = state.name;
    descriptionInput.value = state.description;
    nameInput.addEventListener("input", function () { state.name = nameInput.value; });
    descriptionInput.addEventListener("input", function () { state.description = descriptionInput.value; });
    levelSelect.addEventListener("change", function () {
      state.target.level = levelSelect.value;
      schedulePreview();
    });
    if (saveButton) {
      saveButton.addEventListener("click", save);
    }
  }

  function start(segment) {
    if (segment) {
      var version = segment.latest_version;
      state.name = segment.name;
      state.description = segment.description || "";
      state.rules = version.rules;
      state.target = {
        level: version.target.level,
        roles: version.target.roles.slice(),
        channels: version.target.channels.slice()
      };
      baseVersion = version.number;
    }
    bindMeta();
    renderTarget();
    renderTree();
    schedulePreview();
    root.setAttribute("data-ready", "true");
  }

  api(root.dataset.fieldsUrl, "GET").then(function (result) {
    if (!result.ok) {
      errorBox.textContent = errorMessage(result);
      errorBox.hidden = false;
      return null;
    }
    registry = result.payload;
    registry.fields.forEach(function (field) { fieldsByName[field.name] = field; });
    registry.operators.forEach(function (op) { operatorsByName[op.name] = op; });
    if (!root.dataset.segmentUrl) {
      start(null);
      return null;
    }
    return api(root.dataset.segmentUrl, "GET").then(function (loaded) {
      if (!loaded.ok) {
        errorBox.textContent = errorMessage(loaded);
        errorBox.hidden = false;
        return;
      }
      start(loaded.payload);
    });
  });
})();
