// FairQueue dashboard: the only script besides htmx (no inline scripts: CSP).
// Live panels poll with hx-trigger="every Ns"; pause them while the tab is hidden.
document.addEventListener("htmx:beforeRequest", function (event) {
  if (document.hidden && event.detail.elt.hasAttribute("data-poll")) {
    event.preventDefault();
  }
});
// "select all" checkboxes (data-select-all="name") for the dead-letter list
document.addEventListener("change", function (event) {
  var target = event.target;
  var name = target.getAttribute && target.getAttribute("data-select-all");
  if (!name) return;
  document.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (box) {
    box.checked = target.checked;
  });
});
