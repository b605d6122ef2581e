// keel.admin: select-all, autocomplete for foreign keys, prepopulated fields. No framework.
"use strict";
(function () {
  function each(selector, fn, root) { Array.prototype.forEach.call((root || document).querySelectorAll(selector), fn); }

  // change list: select all, count the selection
  each(".results-form", function (form) {
    var all = form.querySelector(".select-all");
    var boxes = form.querySelectorAll("input[name=_selected]");
    var counter = form.querySelector(".selected-count");
    function update() {
      var n = 0; Array.prototype.forEach.call(boxes, function (b) { if (b.checked) n++; });
      if (counter) counter.textContent = n ? n + " of " + boxes.length + " selected" : "";
      if (all) all.checked = n > 0 && n === boxes.length;
    }
    if (all) all.addEventListener("change", function () {
      Array.prototype.forEach.call(boxes, function (b) { b.checked = all.checked; }); update();
    });
    Array.prototype.forEach.call(boxes, function (b) { b.addEventListener("change", update); });
  });

  // foreign keys with many rows: type to search, pick with the mouse or the keyboard
  var counter = 0;
  each("input[data-autocomplete]", function (idInput) {
    var url = idInput.getAttribute("data-autocomplete");
    if (!url) return;
    counter++;
    var box = document.createElement("div");
    box.className = "autocomplete-box";
    var search = document.createElement("input");
    search.type = "search";
    search.setAttribute("role", "combobox");
    search.setAttribute("aria-autocomplete", "list");
    search.setAttribute("aria-expanded", "false");
    search.setAttribute("aria-label", "Search to choose " + (idInput.labels && idInput.labels[0] ? idInput.labels[0].textContent.replace("*", "").trim() : "an item"));
    search.placeholder = "Type to search…";
    search.value = idInput.getAttribute("data-label") || "";
    var list = document.createElement("ul");
    list.className = "suggestions"; list.id = "suggestions-" + counter; list.hidden = true;
    list.setAttribute("role", "listbox");
    search.setAttribute("aria-controls", list.id);
    box.appendChild(search); box.appendChild(list);
    var label = idInput.labels && idInput.labels[0];
    search.id = idInput.id + "_search";
    if (label) label.htmlFor = search.id;
    if (idInput.getAttribute("aria-describedby")) search.setAttribute("aria-describedby", idInput.getAttribute("aria-describedby"));
    idInput.type = "hidden";
    idInput.parentNode.insertBefore(box, idInput.nextSibling);
    var active = -1, timer = null, items = [];
    function close() { list.hidden = true; search.setAttribute("aria-expanded", "false"); active = -1; }
    function choose(item) {
      idInput.value = item.id; search.value = item.text; close();
      if (idInput.form && idInput.form.classList.contains("fk-filter")) idInput.form.submit();
    }
    function show(results) {
      items = results; list.textContent = ""; active = -1;
      results.forEach(function (item, i) {
        var li = document.createElement("li");
        li.id = list.id + "-" + i; li.setAttribute("role", "option"); li.textContent = item.text;
        li.addEventListener("mousedown", function (e) { e.preventDefault(); choose(item); });
        list.appendChild(li);
      });
      list.hidden = results.length === 0;
      search.setAttribute("aria-expanded", String(!list.hidden));
    }
    function highlight(i) {
      var options = list.querySelectorAll("li");
      if (!options.length) return;
      active = (i + options.length) % options.length;
      Array.prototype.forEach.call(options, function (o, j) { o.setAttribute("aria-selected", String(j === active)); });
      search.setAttribute("aria-activedescendant", options[active].id);
    }
    search.addEventListener("input", function () {
      if (search.value === "") idInput.value = "";
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch(url + "?term=" + encodeURIComponent(search.value), { headers: { Accept: "application/json" }, credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : { results: [] }; })
          .then(function (data) { show(data.results || []); })
          .catch(function () { show([]); });
      }, 150);
    });
    search.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown") { e.preventDefault(); highlight(active + 1); }
      else if (e.key === "ArrowUp") { e.preventDefault(); highlight(active - 1); }
      else if (e.key === "Enter" && !list.hidden && active >= 0) { e.preventDefault(); choose(items[active]); }
      else if (e.key === "Escape") { close(); }
    });
    search.addEventListener("blur", function () { setTimeout(close, 100); });
  });

  // prepopulated fields: a slug follows the title until it is edited by hand
  each("form[data-prepopulate]", function (form) {
    var map;
    try { map = JSON.parse(form.getAttribute("data-prepopulate") || "{}"); } catch (e) { return; }
    Object.keys(map).forEach(function (target) {
      var field = form.elements[target];
      if (!field) return;
      var touched = field.value !== "";
      field.addEventListener("input", function () { touched = true; });
      map[target].forEach(function (source) {
        var from = form.elements[source];
        if (!from) return;
        from.addEventListener("input", function () {
          if (touched) return;
          var text = map[target].map(function (s) { return form.elements[s] ? form.elements[s].value : ""; }).join(" ");
          field.value = text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
            .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, Number(field.maxLength) > 0 ? Number(field.maxLength) : 50);
        });
      });
    });
  });
})();
