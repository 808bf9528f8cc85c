"""Choosing among trials: paired tests (``paired``), the winner on the front (``winner``), when
the search has converged (``convergence``) and which fine-tunes climb a fidelity rung
(``fidelity``). Pure functions of measured rows; no Optuna, no I/O.
"""
