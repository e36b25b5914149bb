/* Planner, progressive enhancement only: every link and form works without this file.
 * - quick booking (planner.quick): a free cell opens the booking form in a <dialog> instead of a page;
 * - arrow keys move between cells of the day grid; Esc closes the dialog (native);
 * - the print button on the arrivals list. */
(function () {
  "use strict";
  var grid = document.querySelector("[data-planner-grid]");
  var dialog = document.getElementById("planner-quick");

  function openQuick(link) {
    var url = new URL(link.href, window.location.href);
    url.searchParams.set("fragment", "1");
    fetch(url.toString(), { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (html) {
        var body = dialog.querySelector("[data-quick-body]");
        body.innerHTML = html;
        dialog.showModal();
        var first = body.querySelector("#bk-client_name");
        if (first) { first.focus(); }
      })
      .catch(function () { window.location.href = link.href; });
  }

  if (grid && dialog && typeof dialog.showModal === "function" && grid.dataset.quickUrl) {
    grid.addEventListener("click", function (ev) {
      var link = ev.target.closest(".planner-free a");
      if (!link || ev.ctrlKey || ev.metaKey || ev.shiftKey) { return; }
      ev.preventDefault();
      openQuick(link);
    });
    dialog.addEventListener("click", function (ev) {
      if (ev.target.closest("[data-dialog-close]")) { dialog.close(); }
    });
  }

  if (grid) {
    // Arrow keys: move focus to the nearest link in the neighbouring cell (row/column of the grid).
    grid.addEventListener("keydown", function (ev) {
      var keys = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
      var move = keys[ev.key];
      var cell = ev.target.closest("td");
      if (!move || !cell) { return; }
      var rows = Array.prototype.slice.call(grid.tBodies[0].rows);
      var r = rows.indexOf(cell.parentElement);
      var x = cell.getBoundingClientRect().left + 4;
      var target = null;
      if (move[0] !== 0) {
        for (var i = r + move[0]; i >= 0 && i < rows.length && !target; i += move[0]) {
          target = Array.prototype.find.call(rows[i].cells, function (c) {
            var b = c.getBoundingClientRect();
            return c.tagName === "TD" && b.left <= x && x <= b.right && c !== cell;
          }) || null;
        }
      } else {
        var sib = cell;
        do { sib = move[1] > 0 ? sib.nextElementSibling : sib.previousElementSibling; } while (sib && sib.tagName !== "TD");
        target = sib;
      }
      var link = target && target.querySelector("a");
      if (link) { ev.preventDefault(); link.focus(); }
    });
  }

  // Drag a booking to another time or bay (pointer events: mouse, pen and touch alike): PATCH its bay
  // and start through the API (the same conflict and working-hours checks as every other change; a
  // refusal is shown and nothing moves). The target is worked out from the rows' and columns'
  // positions, so a booking can move by one slot over its own time (the server ignores the booking
  // itself when looking for overlaps). Mouse: a drag starts after a few pixels (a click still opens
  // the booking); touch: after holding the booking still for a moment (a swipe still scrolls).
  var moving = null;
  var suppressClick = false;
  if (grid && grid.dataset.moveUrl) {
    var rowsOf = function () { return Array.prototype.slice.call(grid.tBodies[0].rows); };
    var indexAt = function (items, coord, vertical) {
      for (var i = 0; i < items.length; i++) {
        var box = items[i].getBoundingClientRect();
        if (!box.width && !box.height) { continue; }  // a bay column hidden on a phone
        if (vertical ? (coord >= box.top && coord < box.bottom) : (coord >= box.left && coord < box.right)) { return i; }
      }
      return -1;
    };
    var columns = function () { return Array.prototype.slice.call(grid.tHead.querySelectorAll("th[data-col]")); };
    var beginMove = function () {
      var m = moving;
      m.active = true;
      m.ghost = document.createElement("div");
      m.ghost.className = "planner-move-ghost";
      m.ghost.setAttribute("aria-hidden", "true");
      document.body.appendChild(m.ghost);
      m.cell.classList.add("planner-moving");
    };
    var place = function (ev) {
      var m = moving;
      var rows = rowsOf();
      var row = indexAt(rows, ev.clientY, true);
      var col = indexAt(m.columns, ev.clientX, false);
      if (row < 0 || col < 0) { m.target = null; m.ghost.hidden = true; return; }
      var first = Math.max(0, Math.min(rows.length - 1, m.startRow + row - m.grabRow));
      var top = rows[first].getBoundingClientRect().top;
      var colBox = m.columns[col].getBoundingClientRect();
      m.target = { bay: m.columns[col].dataset.col, start: rows[first].dataset.at };
      m.ghost.hidden = false;
      m.ghost.style.left = (colBox.left + window.scrollX) + "px";
      m.ghost.style.top = (top + window.scrollY) + "px";
      m.ghost.style.width = colBox.width + "px";
      m.ghost.style.height = m.cell.getBoundingClientRect().height + "px";
      m.ghost.textContent = m.target.start.slice(11, 16);
    };
    var endMove = function (commit) {
      var m = moving;
      moving = null;
      if (!m) { return; }
      clearTimeout(m.timer);
      if (!m.active) { return; }
      suppressClick = true;  // the click that ends a drag must not open the booking
      setTimeout(function () { suppressClick = false; }, 0);
      if (m.ghost.parentNode) { m.ghost.parentNode.removeChild(m.ghost); }
      m.cell.classList.remove("planner-moving");
      var t = m.target;
      if (!commit || !t || (t.bay === m.cell.dataset.col && t.start === m.cell.parentElement.dataset.at)) { return; }
      fetch(grid.dataset.moveUrl + m.cell.dataset.booking, {
        method: "PATCH", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": grid.dataset.csrf },
        body: JSON.stringify({ bay_id: Number(t.bay), start: t.start, version: Number(m.cell.dataset.version) })
      }).then(function (r) {
        if (r.ok) { window.location.reload(); return null; }
        return r.json().then(function (data) { showError(data && data.message); });
      }).catch(function () { showError(); });
    };
    grid.addEventListener("dragstart", function (ev) {
      if (ev.target.closest && ev.target.closest("[data-booking]")) { ev.preventDefault(); }  // links drag natively
    });
    grid.addEventListener("pointerdown", function (ev) {
      var cell = ev.target.closest("[data-booking]");
      if (!cell || ev.target.closest("[data-resize]") || ev.button !== 0 || resizing) { return; }
      var rows = rowsOf();
      moving = { cell: cell, x: ev.clientX, y: ev.clientY, id: ev.pointerId, touch: ev.pointerType === "touch",
                 startRow: rows.indexOf(cell.parentElement), grabRow: indexAt(rows, ev.clientY, true),
                 columns: columns(), active: false, target: null, timer: null };
      if (moving.touch) {
        moving.timer = setTimeout(function () {
          if (moving && !moving.active) { beginMove(); place({ clientX: moving.x, clientY: moving.y }); }
        }, 400);
      }
    });
    grid.addEventListener("pointermove", function (ev) {
      if (!moving || ev.pointerId !== moving.id) { return; }
      var far = Math.abs(ev.clientX - moving.x) + Math.abs(ev.clientY - moving.y) > 6;
      if (!moving.active) {
        if (moving.touch) { if (far) { clearTimeout(moving.timer); moving = null; } return; }  // a swipe: scroll
        if (!far) { return; }
        beginMove();
        if (moving.cell.setPointerCapture) { moving.cell.setPointerCapture(ev.pointerId); }
      }
      ev.preventDefault();
      place(ev);
    });
    // While a touch drag is on, the finger must not scroll the page (touchmove is cancelable until then).
    grid.addEventListener("touchmove", function (ev) { if (moving && moving.active) { ev.preventDefault(); } },
                          { passive: false });
    grid.addEventListener("pointerup", function (ev) { if (moving && ev.pointerId === moving.id) { endMove(true); } });
    grid.addEventListener("pointercancel", function () { endMove(false); });
    grid.addEventListener("click", function (ev) {
      if (suppressClick) { ev.preventDefault(); ev.stopPropagation(); }
    }, true);
    document.addEventListener("keydown", function (ev) { if (ev.key === "Escape" && moving) { endMove(false); } });
  }

  // Drag a booking's lower edge to change its length: whole slots, at least one; the server checks
  // overlaps and working hours (409/422: the message is shown and the booking keeps its length).
  var resizing = null;
  function showError(text) {
    var box = document.querySelector("[data-move-error]");
    box.textContent = text || grid.dataset.moveFailed;
    box.hidden = false;
    if (box.focus) { box.focus(); }
  }
  if (grid && grid.dataset.moveUrl) {
    var step = parseInt(grid.dataset.step, 10) || 30;
    grid.addEventListener("mousedown", function (ev) { if (ev.target.closest("[data-resize]")) { ev.preventDefault(); } });
    grid.addEventListener("pointerdown", function (ev) {
      var handle = ev.target.closest("[data-resize]");
      if (!handle) { return; }
      ev.preventDefault();
      var cell = handle.closest("[data-booking]");
      var row = grid.tBodies[0].rows[0];
      var ghost = document.createElement("div");
      ghost.className = "planner-resize-ghost";
      ghost.style.height = cell.offsetHeight + "px";
      cell.appendChild(ghost);
      resizing = { cell: cell, ghost: ghost, y: ev.clientY, height: cell.offsetHeight,
                   rowHeight: row ? row.offsetHeight : 36, duration: parseInt(cell.dataset.duration, 10), minutes: null };
      handle.setPointerCapture && handle.setPointerCapture(ev.pointerId);
    });
    grid.addEventListener("pointermove", function (ev) {
      if (!resizing) { return; }
      var rows = Math.round((ev.clientY - resizing.y) / resizing.rowHeight);
      var minutes = Math.max(step, Math.ceil(resizing.duration / step) * step + rows * step);
      resizing.minutes = minutes;
      resizing.ghost.style.height = Math.max(resizing.rowHeight, resizing.height + rows * resizing.rowHeight) + "px";
      resizing.ghost.textContent = minutes + "′";
    });
    var endResize = function () {
      if (!resizing) { return; }
      var r = resizing;
      resizing = null;
      var snapBack = function () { if (r.ghost.parentNode) { r.ghost.parentNode.removeChild(r.ghost); } };
      if (!r.minutes || r.minutes === r.duration) { snapBack(); return; }
      fetch(grid.dataset.moveUrl + r.cell.dataset.booking, {
        method: "PATCH", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": grid.dataset.csrf },
        body: JSON.stringify({ duration_minutes: r.minutes, version: Number(r.cell.dataset.version) })
      }).then(function (resp) {
        if (resp.ok) { window.location.reload(); return null; }
        snapBack();
        return resp.json().then(function (data) { showError(data && data.message); });
      }).catch(function () { snapBack(); showError(); });
    };
    grid.addEventListener("pointerup", endResize);
    grid.addEventListener("pointercancel", function () {
      if (resizing) { resizing.minutes = null; }
      endResize();
    });
  }

  // Phones: one bay column at a time, chosen with the bay switcher above the grid.
  var switcher = document.querySelector("[data-bay-switch]");
  if (grid && switcher) {
    var select = switcher.querySelector("select");
    var style = document.createElement("style");
    document.head.appendChild(style);
    var key = "planner-bay";
    var show = function (id) {
      style.textContent = "@media (max-width: 600px) { .planner-grid [data-col]:not([data-col=\"" + id +
        "\"]) { display: none; } }";
      try { window.sessionStorage.setItem(key, id); } catch (e) { /* private mode */ }
    };
    var saved = null;
    try { saved = window.sessionStorage.getItem(key); } catch (e) { saved = null; }
    if (saved && select.querySelector("option[value=\"" + saved + "\"]")) { select.value = saved; }
    switcher.hidden = false;
    show(select.value);
    select.addEventListener("change", function () { show(select.value); });
  }

  // The client directory (crm.clients): search as you type, a chosen result fills client and car.
  var searchTimer = null;
  function fillFromResult(box, item, vehicle) {
    var form = box.closest("form");
    var client = item.client || {};
    var set = function (sel, value) { var el = form.querySelector(sel); if (el && value != null) { el.value = value; } };
    set("#bk-client_id", client.id || "");
    set("#bk-client_name", client.name || "");
    if (client.phones && client.phones.length) { set("#bk-client_phone", client.phones[0]); }
    set("#bk-vehicle_id", vehicle ? vehicle.id : "");
    if (vehicle) { set("#bk-vehicle", [vehicle.make, vehicle.model, vehicle.plate].filter(Boolean).join(" ")); }
  }
  function showResults(box, items) {
    var list = box.querySelector(".planner-found");
    list.innerHTML = "";
    items.slice(0, 8).forEach(function (item) {
      var cars = item.vehicle ? [item.vehicle] : (item.vehicles && item.vehicles.length ? item.vehicles : [null]);
      cars.forEach(function (car) {
        var li = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        button.className = "link-button";
        var client = item.client || {};
        button.textContent = [client.name, (client.phones || [])[0],
          car ? [car.make, car.model, car.plate].filter(Boolean).join(" ") : ""].filter(Boolean).join(" · ");
        button.addEventListener("click", function () { fillFromResult(box, item, car); list.hidden = true; });
        li.appendChild(button);
        list.appendChild(li);
      });
    });
    list.hidden = list.children.length === 0;
  }
  document.addEventListener("input", function (ev) {
    var box = ev.target.closest && ev.target.closest("[data-crm-search-url]");
    if (!box || ev.target.type !== "search") { return; }
    var q = ev.target.value.trim();
    clearTimeout(searchTimer);
    if (q.length < 2) { showResults(box, []); return; }
    searchTimer = setTimeout(function () {
      fetch(box.dataset.crmSearchUrl + "?q=" + encodeURIComponent(q), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : { results: [] }; })
        .then(function (data) { showResults(box, data.results || []); })
        .catch(function () { showResults(box, []); });
    }, 250);
  });

  // Planned jobs from the job catalog (planner_job_catalog): "Add" appends the job to the list and
  // sets the duration to the listed jobs' standard hours rounded up to the slot, unless typed in.
  var jobsBox = document.querySelector("[data-job-catalog]");
  if (jobsBox) {
    var catalog = document.getElementById(jobsBox.dataset.jobCatalog);
    var duration = document.getElementById("bk-duration");
    var addInput = document.getElementById("bk-job-add");
    if (duration) { duration.addEventListener("input", function () { duration.dataset.typed = "1"; }); }
    var recompute = function () {
      if (!duration || duration.dataset.typed) { return; }
      var hours = {};
      Array.prototype.forEach.call(catalog.options, function (o) { hours[o.value.toLowerCase()] = parseFloat(o.dataset.hours) || 0; });
      var total = 0;
      jobsBox.value.split("\n").forEach(function (line) { total += hours[line.trim().toLowerCase()] || 0; });
      var slot = parseInt(catalog.dataset.slot, 10) || 30;
      if (total > 0) { duration.value = Math.max(1, Math.ceil(Math.round(total * 6000) / 100 / slot)) * slot; }
    };
    var addJob = function () {
      var name = addInput.value.trim();
      if (!name) { return; }
      jobsBox.value = jobsBox.value.replace(/\s+$/, "") + (jobsBox.value.trim() ? "\n" : "") + name;
      addInput.value = "";
      recompute();
      addInput.focus();
    };
    // Catalogs longer than the first page: ask the server as the advisor types (the car's norms too).
    var jobTimer = null;
    addInput.addEventListener("input", function () {
      var q = addInput.value.trim();
      clearTimeout(jobTimer);
      if (q.length < 2 || !catalog.dataset.searchUrl) { return; }
      jobTimer = setTimeout(function () {
        var car = document.getElementById("bk-vehicle_id");
        var url = catalog.dataset.searchUrl + "?q=" + encodeURIComponent(q) + (car && car.value ? "&vehicle_id=" + encodeURIComponent(car.value) : "");
        fetch(url, { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : { items: [] }; })
          .then(function (data) {
            var known = {};
            Array.prototype.forEach.call(catalog.options, function (o) { known[o.value.toLowerCase()] = o; });
            (data.items || []).forEach(function (item) {
              var option = known[item.name.toLowerCase()];
              if (!option) { option = document.createElement("option"); option.value = item.name; catalog.appendChild(option); }
              option.dataset.hours = item.standard_hours;
              option.dataset.minutes = item.minutes;
              if (item.code) { option.label = item.code + " · " + item.standard_hours; }
            });
          }).catch(function () { /* the typed name is kept as it is */ });
      }, 250);
    });
    document.querySelector("[data-job-add]").addEventListener("click", addJob);
    addInput.addEventListener("keydown", function (ev) { if (ev.key === "Enter") { ev.preventDefault(); addJob(); } });
    jobsBox.addEventListener("change", recompute);
  }

  // A booking linked to a directory client: "Unlink" empties the ids (the typed name and car stay).
  document.addEventListener("click", function (ev) {
    var unlink = ev.target.closest && ev.target.closest("[data-crm-unlink]");
    if (!unlink) { return; }
    var form = unlink.closest("form");
    ["#bk-client_id", "#bk-vehicle_id"].forEach(function (sel) { var el = form.querySelector(sel); if (el) { el.value = ""; } });
    unlink.closest("[data-crm-linked]").hidden = true;
  });

  // "Save and open a service order" is for a car already here: walk-in, unless a source was chosen.
  // (Delegated: the quick-booking dialog's form arrives later.)
  document.addEventListener("change", function (ev) {
    if (ev.target.id === "bk-source") { ev.target.dataset.chosen = "1"; }
  });
  document.addEventListener("click", function (ev) {
    var convert = ev.target.closest && ev.target.closest("button[name=then][value=convert]");
    var select = convert && convert.form && convert.form.querySelector("#bk-source");
    if (select && !select.dataset.chosen) { select.value = "walk_in"; }
  });

  // Working hours: "Remove" clears a span's times (an empty pair is not saved) and hides it.
  document.addEventListener("click", function (ev) {
    var remove = ev.target.closest && ev.target.closest("[data-span-remove]");
    if (!remove) { return; }
    var span = remove.closest("[data-span]");
    Array.prototype.forEach.call(span.querySelectorAll("input"), function (input) { input.value = ""; });
    span.hidden = true;
  });

  var printButton = document.querySelector("[data-print]");
  if (printButton) { printButton.addEventListener("click", function () { window.print(); }); }
})();
