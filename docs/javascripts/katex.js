// Render the maths on every page load with the site's own copy of KaTeX:
// - Markdown pages: pymdownx.arithmatex leaves \( ... \) and \[ ... \] in .arithmatex elements;
// - notebooks: Markdown cells keep Jupyter's $ ... $ and $$ ... $$.
const inline = { left: "\\(", right: "\\)", display: false };
const display = { left: "\\[", right: "\\]", display: true };
const dollars = [
  { left: "$$", right: "$$", display: true },
  { left: "$", right: "$", display: false },
];

document$.subscribe(({ body }) => {
  for (const element of body.querySelectorAll(".arithmatex")) {
    renderMathInElement(element, { delimiters: [inline, display], throwOnError: false });
  }
  for (const element of body.querySelectorAll(".jp-RenderedMarkdown")) {
    renderMathInElement(element, { delimiters: [...dollars, inline, display], throwOnError: false });
  }
});
