"""The site's build: everything MkDocs runs besides the theme and the plugins.

mkdocs.yml names one hook file, ``mkdocs_hooks.py`` at the repository's root, which takes its
events from `sitebuild.events`; each module here does one part of the build:

- `sitebuild.figures`, `sitebuild.attention_maps`, `sitebuild.attention_variants`,
  `sitebuild.benchmark_plots`: the figures, drawn at build time from the package's code
  (`sitebuild.diagrams` draws the data-flow figures, `sitebuild.svg` writes SVG files,
  `sitebuild.generated` adds them to the site, `sitebuild.seeds` holds the pages' examples);
- `sitebuild.alt_texts`: the figures' alt texts, written by each drawing module from the tensors or
  results it draws, in both languages; a page whose alt text differs fails the build;
- `sitebuild.strings`: every Chinese word the drawings use; `sitebuild.chinese`: the Chinese
  edition's address and fonts;
- `sitebuild.maths`: the maths, rendered by KaTeX at build time;
- `sitebuild.notebooks`: the notebooks' outputs, the same on every build;
- `sitebuild.page_assets`, `sitebuild.repository`, `sitebuild.llms_txt`: what each page loads,
  its links to the repository, and ``llms.txt``;
- `sitebuild.serve`: the built site served as GitHub Pages serves it (``make serve``, the tests).
"""
