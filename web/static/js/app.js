/* Switchyard UI enhancements. Loaded with `defer` after htmx; the UI works
 * without it. No inline scripts anywhere: a strict CSP applies. */
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");
  if (window.htmx) {
    root.classList.add("has-htmx");
  }

  // Offline support: register the service worker for the /ui/ scope.
  if ("serviceWorker" in navigator && window.isSecureContext) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register("/ui/sw.js", { scope: "/ui/" }).catch(function (err) {
        console.warn("Switchyard: service worker not registered:", err);
      });
    });
  }

  // Theme switcher: show the choice at once. The form itself saves it
  // (htmx posts on change; without JS the Apply button posts the form).
  var themeSelect = document.getElementById("theme-select");
  if (themeSelect) {
    themeSelect.addEventListener("change", function () {
      root.setAttribute("data-theme", themeSelect.value);
    });
  }

  // Show this server's real address where a page prints the client base URL.
  var nodes = document.querySelectorAll("[data-fill-origin]");
  for (var i = 0; i < nodes.length; i++) {
    nodes[i].textContent = window.location.origin;
  }
})();
