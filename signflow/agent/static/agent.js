// signflow signing agent: dropping a file on the home page, and a busy button while
// signing. The pages work without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var zone = document.querySelector("[data-dropzone]");
  if (zone) {
    var input = zone.querySelector("input[type=file]");
    var form = zone.closest("form");
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("over");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.remove("over");
      });
    });
    zone.addEventListener("drop", function (event) {
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        form.requestSubmit();
      }
    });
    input.addEventListener("change", function () {
      if (input.files.length) { form.requestSubmit(); }
    });
  }
  document.querySelectorAll("form[data-busy]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (button) {
        // after this submission is on its way: a second click would sign twice
        setTimeout(function () { button.disabled = true; button.textContent = form.dataset.busy; }, 0);
      }
    });
  });
});
