/* Campaign editor: live SMS counter, channel sections, variable insertion, recipient
 * picker and preview.  The SMS count here mirrors app/campaigns/sms.py; the server's
 * count (shown beside it, and in every preview) is the authoritative one. */
(function () {
  "use strict";

  var GSM7_BASIC =
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM7_EXTENSION = "\f^{}\\[~]|€";

  function chars(text) { return Array.from(text); }

  function encodingOf(text) {
    return chars(text).every(function (c) {
      return GSM7_BASIC.indexOf(c) >= 0 || GSM7_EXTENSION.indexOf(c) >= 0;
    }) ? "GSM-7" : "UCS-2";
  }

  function width(c, encoding) {
    if (encoding === "GSM-7") { return GSM7_EXTENSION.indexOf(c) >= 0 ? 2 : 1; }
    return c.codePointAt(0) > 0xffff ? 2 : 1;
  }

  /* The same algorithm as sms.count_sms: parts never split an escape or surrogate pair. */
  function countSms(text) {
    var encoding = encodingOf(text);
    var single = encoding === "GSM-7" ? 160 : 70;
    var part = encoding === "GSM-7" ? 153 : 67;
    var list = chars(text);
    var units = list.reduce(function (sum, c) { return sum + width(c, encoding); }, 0);
    var parts = 1;
    var last = units;
    if (units > single) {
      parts = 1;
      last = 0;
      list.forEach(function (c) {
        var w = width(c, encoding);
        if (last + w > part) { parts += 1; last = 0; }
        last += w;
      });
    }
    var perPart = parts === 1 ? single : part;
    return { encoding: encoding, characters: list.length, units: units, parts: parts,
             per_part: perPart, remaining: perPart - last };
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body)
    }).then(readJson);
  }

  function readJson(response) {
    return response.json().then(function (data) {
      if (!response.ok) {
        var error = (data && data.error) || {};
        var details = Array.isArray(error.details) ? error.details : [];
        var lines = details.map(function (d) {
          return d.field ? d.field + (d.line ? " line " + d.line : "") + ": " + d.message : "";
        }).filter(Boolean);
        throw new Error(lines.length ? lines.join("\n") : (error.message || response.statusText));
      }
      return data;
    });
  }

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  /* -- SMS counter ------------------------------------------------------------------ */

  function setupSmsCounter(form) {
    var textarea = document.getElementById("sms_text");
    var counter = document.getElementById("sms-counter");
    if (!textarea || !counter) { return; }
    var show = function (count) {
      ["characters", "encoding", "parts", "remaining"].forEach(function (key) {
        var el = counter.querySelector('[data-count="' + key + '"]');
        if (el) { el.textContent = String(count[key]); }
      });
      counter.classList.toggle("is-ucs2", count.encoding === "UCS-2");
    };
    var server = counter.querySelector('[data-count="server"]');
    var askServer = debounce(function (text) {
      postJson(form.getAttribute("data-sms-url"), { text: text }).then(function (count) {
        server.textContent = "(server: " + count.units + " units, " + count.encoding + ", " +
          count.parts + " part" + (count.parts === 1 ? "" : "s") + ")";
      }).catch(function () { server.textContent = ""; });
    }, 400);
    var update = function () {
      var text = textarea.value.replace(/\r\n?/g, "\n");
      show(countSms(text));
      askServer(text);
    };
    textarea.addEventListener("input", update);
    update();
  }

  /* -- channel sections --------------------------------------------------------------- */

  function chosenChannels(form) {
    return Array.from(form.querySelectorAll('input[name="channels"]:checked')).map(function (i) {
      return i.value;
    });
  }

  function setupChannels(form) {
    var boxes = form.querySelectorAll('input[name="channels"]');
    var sync = function () {
      var chosen = chosenChannels(form);
      form.querySelectorAll(".channel-templates").forEach(function (section) {
        section.classList.toggle("is-hidden", chosen.indexOf(section.getAttribute("data-channel")) < 0);
      });
    };
    boxes.forEach(function (box) { box.addEventListener("change", sync); });
    sync();
  }

  /* -- variable insertion --------------------------------------------------------------- */

  function setupInsertion() {
    var last = null;
    document.querySelectorAll("textarea.code, input#email_subject").forEach(function (el) {
      el.addEventListener("focus", function () { last = el; });
    });
    document.querySelectorAll("code.insert").forEach(function (code) {
      code.addEventListener("click", function () {
        if (!last) { return; }
        var text = code.getAttribute("data-insert");
        var start = last.selectionStart || 0;
        var end = last.selectionEnd || 0;
        last.value = last.value.slice(0, start) + text + last.value.slice(end);
        last.focus();
        last.selectionStart = last.selectionEnd = start + text.length;
        last.dispatchEvent(new Event("input"));
      });
    });
  }

  /* -- recipients and preview ------------------------------------------------------------ */

  function fillRecipients(form, select) {
    var segment = form.querySelector("#segment_version_id");
    if (!segment) { return; }
    var load = function () {
      var id = segment.value;
      while (select.options.length > 1) { select.remove(1); }
      if (!id || id === "0") { return; }
      var url = form.getAttribute("data-recipients-url").replace(/\/0\/recipients$/, "/" + id + "/recipients");
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(readJson)
        .then(function (data) {
          data.recipients.forEach(function (r) {
            var option = document.createElement("option");
            option.value = String(r.id);
            option.textContent = r.name + " — " + r.organisation + " (" + r.role.replace("_", " ") + ")";
            select.appendChild(option);
          });
        })
        .catch(function () { /* the sample recipient stays available */ });
    };
    segment.addEventListener("change", load);
    load();
  }

  function showPreview(root, data) {
    var output = root.querySelector("#preview-output");
    var error = root.querySelector("#preview-error");
    error.hidden = true;
    output.hidden = false;
    output.querySelector('[data-out="subject"]').textContent = data.subject ? "Subject: " + data.subject : "";
    var frame = output.querySelector('[data-out="html"]');
    frame.hidden = !data.html;
    frame.srcdoc = data.html || "";
    output.querySelector('[data-out="text"]').textContent = data.text || "";
    output.querySelector('[data-out="sms_text"]').textContent = data.sms_text || "";
    output.querySelector('[data-out="sms"]').textContent = data.sms
      ? data.sms.characters + " characters, " + data.sms.encoding + ", " + data.sms.parts + " part(s)"
      : "";
    var payload = data.payload_json ? JSON.stringify(JSON.parse(data.payload_json), null, 2) : "";
    output.querySelector('[data-out="payload_json"]').textContent = payload;
  }

  function showError(root, message) {
    var error = root.querySelector("#preview-error");
    root.querySelector("#preview-output").hidden = true;
    error.hidden = false;
    error.textContent = message;
  }

  function draftOf(form) {
    var value = function (id) { var el = form.querySelector("#" + id); return el ? el.value : ""; };
    return {
      name: value("name"),
      objective: value("objective"),
      segment_version_id: value("segment_version_id"),
      channels: chosenChannels(form),
      templates: {
        email: { subject: value("email_subject"), html: value("email_html"), text: value("email_text") },
        sms: { text: value("sms_text") },
        webhook: { text: value("webhook_text"), payload: value("webhook_payload") }
      }
    };
  }

  function setupEditorPreview(form) {
    var root = document.getElementById("preview");
    if (!root) { return; }
    var contact = root.querySelector("#preview-contact");
    fillRecipients(form, contact);
    root.querySelector("#preview-button").addEventListener("click", function () {
      postJson(form.getAttribute("data-preview-url"), {
        draft: draftOf(form),
        channel: root.querySelector("#preview-channel").value,
        contact_id: contact.value || null,
        campaign_id: Number(form.getAttribute("data-campaign-id") || 0)
      }).then(function (data) { showPreview(root, data); })
        .catch(function (err) { showError(root, err.message); });
    });
  }

  function setupVersionPreview() {
    var root = document.getElementById("version-preview");
    if (!root) { return; }
    root.querySelector("#preview-button").addEventListener("click", function () {
      var channel = root.querySelector("#preview-channel").value;
      var contact = root.querySelector("#preview-contact").value;
      var url = root.getAttribute("data-render-url").replace("CHANNEL", encodeURIComponent(channel)) +
        (contact ? "?contact_id=" + encodeURIComponent(contact) : "");
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(readJson)
        .then(function (data) { showPreview(root, data); })
        .catch(function (err) { showError(root, err.message); });
    });
  }

  if (typeof module !== "undefined" && module.exports) {  // node: the counter's tests
    module.exports = { countSms: countSms, encodingOf: encodingOf };
    return;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("campaign-editor");
    if (form) {
      setupChannels(form);
      setupSmsCounter(form);
      setupInsertion();
      setupEditorPreview(form);
    }
    setupVersionPreview();
  });

  window.LedgerlineSms = { countSms: countSms, encodingOf: encodingOf };
})();
