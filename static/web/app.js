// Progressive enhancement for the hosted pages; every page works without it.
// Copy buttons: `data-copy` names the element whose text is copied; `data-copied` is the
// (translated) confirmation shown on the button for a moment.
(function () {
  "use strict";
  function copyText(id) {
    var el = document.getElementById(id);
    if (!el) return Promise.reject(new Error("missing"));
    var items = el.querySelectorAll("li");
    var text = items.length
      ? Array.prototype.map.call(items, function (li) { return li.textContent.trim(); }).join("\n")
      : el.textContent.replace(/\s+/g, "");
    return navigator.clipboard.writeText(text);
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (!navigator.clipboard) return;
    document.querySelectorAll(".js-copy").forEach(function (button) {
      var label = button.textContent;
      button.hidden = false;
      button.addEventListener("click", function () {
        copyText(button.getAttribute("data-copy")).then(function () {
          button.textContent = button.getAttribute("data-copied") || label;
          setTimeout(function () { button.textContent = label; }, 2000);
        }, function () {});
      });
    });
  });
})();
