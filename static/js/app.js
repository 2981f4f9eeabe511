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

  function filterToggles(root) {
    // On a phone the dashboard's selects fold behind a "Filters" button (CSS hides them until opened).
    root.querySelectorAll("[data-filters-toggle]").forEach(function (button) {
      button.addEventListener("click", function () {
        var target = document.getElementById(button.getAttribute("aria-controls"));
        var open = button.getAttribute("aria-expanded") !== "true";
        button.setAttribute("aria-expanded", open ? "true" : "false");
        if (target) { target.classList.toggle("open", open); }
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

  function focusFirstInvalid(root) {
    // After a failed submit, keyboard and screen-reader users land on the first field to fix
    // (its aria-describedby reads the error out).
    var field = root.querySelector('[aria-invalid="true"]');
    if (field && typeof field.focus === "function") {
      field.focus();
      return true;
    }
    return false;
  }

  function syncInvalid(root) {
    // A live check swaps in only the feedback under a field ([data-invalid-for]): keep the field's
    // aria-invalid in step with what that feedback now says.
    var boxes = Array.prototype.slice.call(root.querySelectorAll("[data-invalid-for]"));
    if (root.matches && root.matches("[data-invalid-for]")) { boxes.push(root); }
    boxes.forEach(function (box) {
      var field = document.getElementById(box.dataset.invalidFor);
      if (!field) { return; }
      if (box.dataset.invalid === "true") {
        field.setAttribute("aria-invalid", "true");
      } else {
        field.removeAttribute("aria-invalid");
      }
    });
  }

  function focusPageStart(root) {
    // "Ver más" replaces its own link with the next cards: keyboard and screen-reader users carry on
    // from the first of them instead of being sent back to the top of the page.
    var start = root.matches && root.matches("[data-page-start]") ? root : root.querySelector("[data-page-start]");
    if (!start) { return; }
    start.removeAttribute("data-page-start");
    var link = start.querySelector("a");
    if (link) { link.focus(); }
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    // Fired on each element htmx swapped in: a form that came back with errors gets the focus.
    var root = event.target;
    if (!(root instanceof Element)) { return; }
    syncInvalid(root);
    focusFirstInvalid(root);
    focusPageStart(root);
  });

  document.addEventListener("htmx:responseError", function () {
    showError(document.body.dataset.errorMessage);
  });
  document.addEventListener("htmx:sendError", function () {
    showError(document.body.dataset.offlineMessage);
  });

  document.addEventListener("DOMContentLoaded", function () {
    autosubmit(document);
    confirmForms(document);
    filterToggles(document);
    focusFirstInvalid(document);
  });
})();
