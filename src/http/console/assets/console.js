// Progressive enhancement only: every form works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Loading state: a submitted form's button says so and cannot be pressed twice.
  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (button && !form.hasAttribute("data-upload")) {
        button.setAttribute("disabled", "");
        button.textContent = "Working…";
      }
    });
  });
  // CSV upload with a progress bar; the server answers with the report page.
  document.querySelectorAll("form[data-upload]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.XMLHttpRequest || !window.FormData) { return; }
      event.preventDefault();
      var bar = document.getElementById("upload-progress");
      var status = document.getElementById("upload-status");
      var button = form.querySelector("button[type=submit]");
      if (button) { button.setAttribute("disabled", ""); }
      if (bar) { bar.hidden = false; bar.value = 0; }
      var request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable && bar) { bar.value = Math.round((e.loaded / e.total) * 100); }
        if (status) { status.textContent = "Uploading…"; }
      });
      request.addEventListener("load", function () {
        if (status) { status.textContent = "Processing finished."; }
        document.open();
        document.write(request.responseText);
        document.close();
      });
      request.addEventListener("error", function () {
        if (status) { status.textContent = "The upload failed: check the connection and try again."; }
        if (button) { button.removeAttribute("disabled"); }
      });
      request.send(new FormData(form));
    });
  });
});
