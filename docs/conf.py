"""Sphinx configuration: the user guide (Markdown, MyST) and the API reference from docstrings."""

project = "trustkit"
author = "the trustkit developers"
copyright = "2026, the trustkit developers"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
master_doc = "index"
exclude_patterns = ["_build"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True  # dataclass fields are documented once, by autodoc
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {
    "members": True,
    "undoc-members": False,
    "show-inheritance": False,
    # scikit-learn's generated metadata-routing and parameter methods
    "exclude-members": "set_score_request, set_fit_request, set_transform_request, set_output, "
    "get_metadata_routing, get_params, set_params, fit_transform",
}
myst_heading_anchors = 3
suppress_warnings = ["myst.xref_missing"]
html_theme = "alabaster"
