// The code from the mail's link travels in the fragment (#...), which the browser never
// sends to the server. Copy it into the form, then drop it from the address bar and the
// history. Without this script the person pastes the code from the mail.
(function () {
  "use strict";
  var code = window.location.hash.slice(1);
  if (!code) {
    return;
  }
  var field = document.getElementById("token");
  if (field && !field.value) {
    try {
      field.value = decodeURIComponent(code);
    } catch (error) {
      field.value = code;
    }
  }
  if (window.history && window.history.replaceState) {
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }
})();
