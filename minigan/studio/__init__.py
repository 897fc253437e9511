"""Idol Studio: the generator in a web page, where a person produces an idol by hand.

* :mod:`minigan.studio.web`: the generator for the browser (batch norm folded, weights laid out
  for the page's loops), checked against the NumPy generator;
* :mod:`minigan.studio.link`: the link that describes an idol (noise, sliders, model), shared
  by the page and ``python -m minigan sample --link``;
* :mod:`minigan.studio.site`: the static site and the local server (``python -m minigan studio``);
* ``static/``: the page. ``generator.js`` is the second implementation of the forward pass, in
  plain JavaScript (it runs in a Web Worker, and in Node for the tests); chapter 13 of the
  tutorial walks through it.
"""

from .link import IdolLink, edited_noise, parse_link
from .site import build_site, serve
from .web import export_web_model, fold_generator, folded_generator, model_id

__all__ = ["IdolLink", "parse_link", "edited_noise", "build_site", "serve", "export_web_model", "fold_generator",
           "folded_generator", "model_id"]
