"""The planner page: ``python run.py app`` serves a local what-if page on 127.0.0.1.

Built on the standard library only (``http.server.ThreadingHTTPServer``, a JSON API, one hand-written
HTML/CSS/JS page in ``static/``), so it needs no internet and adds no runtime dependency: every script and style
is served by the app itself, and the charts are the report's own PNGs (matplotlib, Agg).

* :mod:`sim.app.form` turns a scenario into the page's fields and the page's fields back into a validated
  scenario (every value checked by the scenario schema), and writes a scenario as TOML;
* :mod:`sim.app.jobs` runs a comparison in rounds on local worker processes (the project's executor), so the
  first numbers come after two replications per strategy and the intervals narrow as more finish; saved
  what-ifs are compared pairwise on their common seeds;
* :mod:`sim.app.server` is the HTTP server and its JSON API.
"""
