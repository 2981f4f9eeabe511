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

  document.addEventListener("DOMContentLoaded", function () {
    autosubmit(document);
    confirmForms(document);
  });
})();
