/* Every box that scrolls sideways can be reached with the keyboard, as Material does for its code
   blocks (tabindex="0" on a scrollable pre > code): display maths, the tables Material wraps, the
   notebook's cells, and the plots and attention maps that scroll inside their paragraph on a phone.
   A box that holds a link or another control is left alone: the keyboard already gets in.
   Run after the page is rendered (Material's document$, its recipe for additional JavaScript), so
   after Material has wrapped the tables; every width is read before anything is changed. */
document$.subscribe(() => {
  const candidates = document.querySelectorAll([
    ".md-typeset div.arithmatex",
    ".md-typeset__scrollwrap",
    ".md-typeset p > img",  // its paragraph
    ".jupyter-wrapper .jp-InputArea-editor",
    ".jupyter-wrapper .highlight-ipynb",
    ".jupyter-wrapper .jp-OutputArea-output pre"
  ].join(", "))
  const boxes = new Set(Array.from(candidates, element => element.tagName === "IMG" ? element.parentElement : element))
  const scrolling = Array.from(boxes).filter(box =>
    box.scrollWidth > box.clientWidth
    && ["auto", "scroll"].includes(getComputedStyle(box).overflowX)
    && !box.querySelector("a[href], button, input, select, textarea, [tabindex]"))
  for (const box of scrolling)
    box.setAttribute("tabindex", "0")
})
