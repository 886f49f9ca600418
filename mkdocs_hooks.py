"""The site's MkDocs hooks: the one file that mkdocs.yml's ``hooks:`` names (mkdocs.zh.yml inherits it).

Every event is handled by the ``sitebuild`` package (sitebuild/events.py). MkDocs puts this file's
folder, the repository's root, on ``sys.path`` while it loads it, so the package imports from here,
and all of it is imported now.
"""

from sitebuild.events import (
    on_config,
    on_files,
    on_nav,
    on_page_context,
    on_page_markdown,
    on_post_build,
    on_post_page,
    on_post_template,
    on_pre_build,
    on_shutdown,
)

__all__ = [
    "on_config",
    "on_files",
    "on_nav",
    "on_page_context",
    "on_page_markdown",
    "on_post_build",
    "on_post_page",
    "on_post_template",
    "on_pre_build",
    "on_shutdown",
]
