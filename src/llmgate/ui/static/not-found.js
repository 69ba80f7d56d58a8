/* A page that does not exist (yet): the top bar, so the other pages are a click away. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    window.LG.boot(null, null);
  });
})();
