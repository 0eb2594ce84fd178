/* Copy buttons for secrets shown once (new keys, invitation links). The field itself is
 * read-only and selectable, so the page works without this file. No inline scripts: a
 * strict CSP applies. htmx swaps panels in, so buttons are set up on every swap too. */
(function () {
  "use strict";

  function setUp(root) {
    var buttons = root.querySelectorAll("[data-copy]");
    for (var i = 0; i < buttons.length; i++) {
      var button = buttons[i];
      if (button.dataset.copyReady || !navigator.clipboard) continue;
      button.dataset.copyReady = "1";
      button.hidden = false;
      button.addEventListener("click", copy);
    }
    var fields = root.querySelectorAll("[data-select-on-focus]");
    for (var j = 0; j < fields.length; j++) {
      if (fields[j].dataset.selectReady) continue;
      fields[j].dataset.selectReady = "1";
      fields[j].addEventListener("focus", function (event) { event.target.select(); });
    }
    var box = root.querySelector(".secret-box:not([data-shown])");
    if (box) {  // bring the one-time secret into view and announce it, once
      box.setAttribute("data-shown", "1");
      box.focus();
    }
  }

  function copy(event) {
    var id = event.currentTarget.getAttribute("data-copy");
    var field = document.getElementById(id);
    var status = document.querySelector('[data-copy-status="' + id + '"]');
    if (!field) return;
    navigator.clipboard.writeText(field.value).then(
      function () { if (status) status.textContent = "Copied to the clipboard."; },
      function () {
        field.focus();
        field.select();
        if (status) status.textContent = "Could not copy: the text is selected, press Ctrl+C (or Cmd+C).";
      }
    );
  }

  document.addEventListener("DOMContentLoaded", function () { setUp(document); });
  document.addEventListener("htmx:afterSettle", function () { setUp(document); });
})();
