/* Every box that scrolls sideways can be reached with the keyboard, as Material does for its code
   blocks (tabindex="0" on a scrollable pre > code): display maths, the tables that Material wraps,
   the notebook's cells, and the plots and attention maps that scroll inside their paragraph on a
   phone. A box that holds a link or another control is left alone: the keyboard already gets in.
   Run after each page is rendered (Material's document$, its recipe for additional JavaScript),
   after Material's own script has wrapped the tables; all widths are read before any is changed. */
document$.subscribe(function () {
  var boxes = document.querySelectorAll([
    ".md-typeset div.arithmatex",
    ".md-typeset__scrollwrap",
    ".md-typeset p:has(> img)",
    ".jupyter-wrapper .jp-InputArea-editor",
    ".jupyter-wrapper .highlight-ipynb",
    ".jupyter-wrapper .jp-OutputArea-output pre"
  ].join(", "))
  var focusable = "a[href], button, input, select, textarea, [tabindex]"
  var scrolling = Array.prototype.filter.call(boxes, function (box) {
    return box.scrollWidth > box.clientWidth && !box.querySelector(focusable)
  })
  scrolling.forEach(function (box) {
    box.setAttribute("tabindex", "0")
  })
})
