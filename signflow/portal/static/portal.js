// signflow portal: a busy button while a file is sent (no build step, no framework).
document.addEventListener("submit", function (event) {
  var button = event.target.querySelector("button");
  if (button) { setTimeout(function () { button.disabled = true; }, 0); }
});
