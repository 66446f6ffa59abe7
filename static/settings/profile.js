// Progressive enhancement of the profile's time zone page (templates/settings/macros.html
// `profile_field`, kind `zone`); the page works without it. The search box, shown by this script,
// filters the select's options (city, region, zone ID or UTC offset; accents and case ignored) and
// hides the regions left empty; Enter or the down arrow moves to the first match.
(function () {
  "use strict";

  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/[\u2066-\u2069]/g, "")
      .replace(/\u2212/g, "-").toLowerCase();
  }

  function visible(select) {
    return Array.prototype.filter.call(select.options, function (option) {
      return !option.hidden && option.value !== "";
    });
  }

  function filter(select, query) {
    var words = fold(query).split(/\s+/).filter(Boolean);
    Array.prototype.forEach.call(select.options, function (option) {
      if (option.value === "") return;
      var text = fold(option.textContent + " " + (option.getAttribute("data-search") || ""));
      option.hidden = !words.every(function (word) { return text.indexOf(word) !== -1; });
    });
    select.querySelectorAll("optgroup").forEach(function (group) {
      group.hidden = !group.querySelector("option:not([hidden])");
    });
  }

  function start() {
    document.querySelectorAll("[data-zone-search]").forEach(function (box) {
      var select = document.getElementById(box.getAttribute("data-zone-search"));
      var input = box.querySelector("input");
      if (!select || !input) return;
      box.hidden = false;
      select.size = 8;  // a list that shows what the search leaves
      if (select.selectedOptions[0]) select.selectedOptions[0].scrollIntoView({ block: "nearest" });
      input.addEventListener("input", function () { filter(select, input.value); });
      input.addEventListener("keydown", function (event) {
        if (event.key !== "Enter" && event.key !== "ArrowDown") return;
        var first = visible(select)[0];
        if (!first) return;
        event.preventDefault();  // Enter picks the first match instead of sending the form
        select.value = first.value;
        select.focus();
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
