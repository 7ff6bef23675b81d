"""The study's final report, one module per responsibility.

- :mod:`.parts`: the parts of the study and what was run (read while the Snakefile
  is parsed; plain Python, no results);
- :mod:`.results`: every number, read from the metrics files, per replicate and
  aggregated; the step comparisons; the best experiment (on validation);
- :mod:`.stats`: intervals, paired differences and verdicts;
- :mod:`.method`: the method text, written from the resolved settings;
- :mod:`.render`: the CSV tables, report.md and report.tex;
- :mod:`.pdf`: report.pdf with latexmk.

The figures are drawn by :mod:`convstudy.figures`.
"""
