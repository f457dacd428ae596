// signflow signing agent: dropping a file on the home page, a busy button while
// signing, the ceremony's page following the room. The pages work without it.
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
  // the ceremony's page asks the agent every second whether anything changed (a token
  // plugged in or pulled out, a signature) and shows the page again when it did; never
  // while someone is typing a PIN
  var room = document.querySelector("[data-poll]");
  if (room) {
    var shown = room.dataset.version;
    var pin = document.getElementById("pin");
    var typing = function () {
      return pin && pin.value !== "";
    };
    var ask = function () {
      fetch(room.dataset.poll, {headers: {"X-Signflow-Poll": "1"}, cache: "no-store"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (state) {
          if (state && String(state.version) !== shown && !state.busy && !typing()) {
            window.location.replace(window.location.pathname);
            return;
          }
          if (!state || !state.finished) { setTimeout(ask, 1000); }
        })
        .catch(function () { setTimeout(ask, 2000); });
    };
    setTimeout(ask, 1000);
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
