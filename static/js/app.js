// Small behaviours that need no inline script (the CSP forbids inline code).
(function () {
  "use strict";

  function autosubmit(root) {
    // Pages reached from an email link post their confirmation at once; GET never changes state.
    root.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
      if (!form.dataset.submitted) {
        form.dataset.submitted = "1";
        form.requestSubmit ? form.requestSubmit() : form.submit();
      }
    });
  }

  function confirmForms(root) {
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) {
          event.preventDefault();
        }
      });
    });
  }

  function showError(text) {
    // A failed htmx request swaps nothing; say so instead of leaving the user waiting.
    var box = document.getElementById("live-errors");
    if (!box || !text) { return; }
    box.textContent = "";
    var alert = document.createElement("div");
    alert.className = "alert alert-danger";
    alert.setAttribute("role", "alert");
    alert.textContent = text;
    box.appendChild(alert);
  }

  document.addEventListener("htmx:responseError", function () {
    showError(document.body.dataset.errorMessage);
  });
  document.addEventListener("htmx:sendError", function () {
    showError(document.body.dataset.offlineMessage);
  });

  document.addEventListener("DOMContentLoaded", function () {
    autosubmit(document);
    confirmForms(document);
  });
})();
