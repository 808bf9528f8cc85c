"""The report of a study, built from its frozen trials only: ``build`` (rows, front, winner;
report.json, trials.csv, the console table) and ``html`` (report.html, self-contained).
"""
