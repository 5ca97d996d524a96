"""``corpus report``: a finished run's outputs as one offline HTML file and a Markdown summary.

facts.py gathers (bounded memory, nothing rerun), plots.py draws SVG, html.py and markdown.py
render, compare.py sets two runs side by side, build.py writes the files.
"""
